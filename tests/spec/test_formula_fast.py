"""The fast paths of the formula layer give exactly the designs of the general path.

The general path is formulaic for the fixed part and the random-term covariates, and
``np.unique`` over each row's level label for the grouping factors.  The fast paths are
plain sums of numeric columns assembled without formulaic, and grouping codes made by
counting or hashing (sorting the distinct values only).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from hglm.spec import encoding, levels, model_matrix, random_terms
from hglm.spec.dispersion import disp_design
from hglm.spec.encoding import new_design
from hglm.spec.formula import design_from_formulas, design_from_lme4


def reference_levels(frame: pd.DataFrame, group: tuple[str, ...]) -> tuple[list[str], np.ndarray]:
    """Levels and codes by sorting every row (the general path)."""
    if len(group) == 1 and levels.is_numeric(frame[group[0]]):
        unique, codes = np.unique(frame[group[0]].to_numpy(), return_inverse=True)
        return [levels.number_label(value) for value in unique], codes.reshape(-1)
    unique, codes = np.unique(levels.row_labels(frame, group), return_inverse=True)
    return [str(label) for label in unique], codes.reshape(-1)


@pytest.fixture
def general(monkeypatch):
    """Run a callable with the fast paths switched off (Z from (row, column) pairs)."""

    def run(function, *args, **kwargs):
        with monkeypatch.context() as m:
            for module in (model_matrix, random_terms):  # the fixed part, the covariates
                m.setattr(module, "plain_columns", lambda frame, rhs: None)
            m.setattr(random_terms, "levels_and_codes", reference_levels)
            m.setattr(encoding, "codes_block", encoding.indicator_block)
            result = function(*args, **kwargs)
            terms = result[1] if isinstance(result, tuple) else result.random
            for term in terms:
                assert term.Z is not None  # built now, by indicator_block
            return result

    return run


def make_frame(n: int, seed: int = 0, missing: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x": rng.normal(size=n),
            "k": rng.integers(-3, 4, n),
            "flag": rng.random(n) < 0.4,
            "x32": rng.normal(size=n).astype("float32"),
            "u8": rng.integers(0, 5, n).astype("uint8"),
            "gi": rng.integers(0, 12, n) * 7 - 20,
            "gwide": rng.choice([10**12, -5, 3, 10**15], n),
            "gf": rng.choice([0.1, 2.5, 10.0, 1.0, 1e-20], n),
            "gs": rng.choice(["a", "B", "b", "a:b", "10", "2", "é", "a b"], n),
            "go": pd.Series(rng.choice(["a", "B", "b", "a:b"], n), dtype=object),
            "gm": pd.Series([[1, 1.0, "1", True, "x", 2.5][i] for i in rng.integers(0, 6, n)],
                            dtype=object),
            "gc": pd.Categorical(rng.choice(["p", "q", "r"], n),
                                 categories=["r", "unused", "q", "p"]),
            "gcn": pd.Categorical(rng.choice([3, 10, 1], n), categories=[10, 3, 1, 7]),
            "gcf": pd.Categorical(rng.choice([1.0, 2.5], n)),
            "gb": rng.random(n) < 0.5,
            "gI": pd.array(rng.integers(0, 4, n), dtype="Int64"),
            "gu64": rng.integers(0, 3, n).astype("uint64") * np.uint64(2**63),
        }
    )
    if missing:
        for column in ["x", "gs", "gc", "gf", "go", "k"]:
            rows = rng.random(n) < 0.05
            frame[column] = frame[column].where(~rows)
    return frame


def assert_same_design(fast, slow) -> None:
    assert list(fast.X.columns) == list(slow.X.columns)
    assert list(fast.X.dtypes) == list(slow.X.dtypes)
    np.testing.assert_array_equal(fast.X.to_numpy(), slow.X.to_numpy())
    assert np.asarray(fast.X).flags.f_contiguous == np.asarray(slow.X).flags.f_contiguous
    np.testing.assert_array_equal(fast.y, slow.y)
    np.testing.assert_array_equal(fast.rows, slow.rows)
    assert fast.n_dropped == slow.n_dropped
    assert fast.fixed_spec == slow.fixed_spec
    assert len(fast.random) == len(slow.random)
    for s, t in zip(fast.random, slow.random, strict=True):
        assert_same_term(s, t)


def assert_same_term(s, t) -> None:
    assert type(s) is type(t)
    assert (s.label, s.group) == (t.label, t.group)
    assert getattr(s, "covariate", None) == getattr(t, "covariate", None)
    assert getattr(s, "effects", None) == getattr(t, "effects", None)
    assert s.levels == t.levels
    assert s.names == t.names
    assert type(s.Z) is type(t.Z) and s.Z.shape == t.Z.shape and s.Z.nnz == t.Z.nnz
    np.testing.assert_array_equal(s.Z.toarray(), t.Z.toarray())
    np.testing.assert_array_equal(s.Z.indptr, t.Z.indptr)
    np.testing.assert_array_equal(s.Z.indices, t.Z.indices)
    assert s.covariate_spec == t.covariate_spec


FIXED = ["1", "x", "x + k", "0 + x + flag", "x + x32 + u8 - 1", "k + x", "-1 + x + 1",
         "x*k", "x:k", "gs + x", "np.log(x32**2) + x"]
GROUPS = ["gi", "gwide", "gf", "gs", "go", "gm", "gc", "gcn", "gcf", "gb", "gI", "gu64",
          "gi:gs", "gc:gi", "gs/gc", "gm:gcf", "gi:gb:gs", "u8:k", "gs/gi/gc"]
COVARIATES = ["1", "0 + x", "x", "0 + k", "flag", "0 + x + k", "x32 - 1", "0 + I(x**2)",
              "0 + x:k"]


def cases() -> list[str]:
    rng = np.random.default_rng(7)
    formulas = [f"y ~ {f} + ({c}|{g})" for f in FIXED for g in GROUPS for c in COVARIATES]
    return list(rng.choice(formulas, size=150, replace=False))


@pytest.mark.parametrize("missing", [False, True])
@pytest.mark.parametrize("formula", cases())
def test_fast_design_is_the_general_design(general, formula, missing):
    frame = make_frame(200, seed=len(formula), missing=missing)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = design_from_lme4(formula, frame)
        slow = general(design_from_lme4, formula, frame)
    assert_same_design(fast, slow)
    newdata = make_frame(30, seed=99)
    (X_fast, Z_fast), (X_slow, Z_slow) = new_design(fast, newdata), new_design(slow, newdata)
    np.testing.assert_array_equal(X_fast, X_slow)
    for a, b in zip(Z_fast, Z_slow, strict=True):
        np.testing.assert_array_equal(a.toarray(), b.toarray())


def test_fast_design_of_hglm_formulas_and_disp(general):
    frame = make_frame(100, missing=True)
    args = ("y ~ x + k", "~ (1|gs) + (0 + x|gc) + (1|gi/gcn)", frame)
    kwargs = {"weights": "u8 + 1", "offset": "x32", "extra_columns": ["gf", "go"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = design_from_formulas(*args, **kwargs)
        slow = general(design_from_formulas, *args, **kwargs)
    assert_same_design(fast, slow)
    np.testing.assert_array_equal(fast.weights, slow.weights)
    np.testing.assert_array_equal(fast.offset, slow.offset)
    X_fast, terms_fast = disp_design("~ x + k + (1|go:gb)", frame, fast.rows)
    X_slow, terms_slow = general(disp_design, "~ x + k + (1|go:gb)", frame, fast.rows)
    pd.testing.assert_frame_equal(X_fast, X_slow)
    for s, t in zip(terms_fast, terms_slow, strict=True):
        assert_same_term(s, t)


def test_plain_fixed_part_skips_formulaic_until_the_spec_is_needed():
    frame = make_frame(50)
    d = design_from_lme4("y ~ x + k + (0 + x|gi)", frame)
    assert isinstance(d._fixed_spec, model_matrix.PlainSpec)
    assert isinstance(d.random[0]._covariate_spec, model_matrix.PlainSpec)
    assert d.random[0]._Z is None
    spec = model_matrix.formulaic_matrix("x + k", frame, "test").model_spec
    assert d.fixed_spec == spec
    covariate_spec = model_matrix.formulaic_matrix("0 + x", frame, "test").model_spec
    assert d.random[0].covariate_spec == covariate_spec
    assert not isinstance(d._fixed_spec, model_matrix.PlainSpec)
    # not plain: a column named like a transform, an extension dtype, strings, booleans
    # (factors, as in R)
    for formula in ["y ~ x + gs + (1|gi)", "y ~ gI + (1|gi)", "y ~ x + x + (1|gi)",
                    "y ~ x - k + (1|gi)", "y ~ x + flag + (1|gi)"]:
        assert not isinstance(design_from_lme4(formula, frame)._fixed_spec, model_matrix.PlainSpec)
