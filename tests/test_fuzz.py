"""A generated catalogue of bad and edge inputs run through the three entry points: the
matrix interface ``hglm.hglm(y, X, Z)``, the formula interfaces (``hglm.hglm2`` and
``hglm.hglm(fixed=, random=, data=)``) and the command line ``hglm.cli.main`` (issue 18).

Each input must end as a fit, a ``ValueError`` raised by hglm itself (not one passed up
from numpy, scipy, pandas or formulaic), or a warning of ours; no other exception, no
warning from a library underneath, and no degenerate input returned as a converged fit
without a warning.  The catalogue is deterministic (fixed seeds).
"""

from __future__ import annotations

import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import hglm
from hglm.cli import main

PACKAGE = str(Path(hglm.__file__).resolve().parent)
LIBRARIES = ("numpy", "scipy", "pandas", "formulaic")


@dataclass(frozen=True)
class Case:
    """One input: how to run it, and whether it is degenerate."""

    name: str
    run: Callable[[Path], object]
    degenerate: bool = False


def _grouped(seed: int = 0, k: int = 6, m: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(k), m)
    n = k * m
    x = rng.normal(size=n)
    eta = 0.3 * x + 0.8 * rng.normal(size=k)[g]
    return pd.DataFrame({
        "y": 1.0 + eta + 0.5 * rng.normal(size=n),
        "cnt": rng.poisson(np.exp(1.0 + eta)).astype(float),
        "pos": np.exp(0.2 * eta + 0.3 * rng.normal(size=n)),
        "b": (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float),
        "r": rng.binomial(8, 1 / (1 + np.exp(-eta))).astype(float),
        "n": 8.0, "x": x, "x2": rng.normal(size=n), "w": rng.uniform(0.5, 2.0, n),
        "o": 0.1 * rng.normal(size=n), "g": g, "h": np.arange(n) % 3,
        "s": np.array(list("abcdef"))[g],
    })


DATA = _grouped()
N = len(DATA)
Z0 = np.eye(6)[DATA["g"]]
X0 = np.column_stack([np.ones(N), DATA["x"]])
RESPONSES = {"gaussian": "y", "poisson": "cnt", "binomial": "b", "Gamma": "pos"}


# --- the matrix interface ----------------------------------------------------------------


def _matrix(family: str = "gaussian", y: object = None, X: object = None, Z: object = None,
            **kwargs: object) -> Callable[[Path], object]:
    def run(_: Path) -> object:
        return hglm.hglm(
            y=DATA[RESPONSES.get(family, "y")].to_numpy() if y is None else y,
            X=X0 if X is None else X, Z=Z0 if Z is None else Z, family=family, **kwargs,
        )
    return run


def _bad_y(n: int) -> dict[str, object]:
    y = DATA["y"].to_numpy()[:n]
    return {
        "nan": np.where(np.arange(n) == 3, np.nan, y), "inf": np.where(np.arange(n) == 3,
                                                                        np.inf, y),
        "complex": y + 1j, "text": np.array(["a"] * n), "matrix": np.column_stack([y, y]),
        "cube": np.ones((n, 2, 2)), "empty": np.zeros(0), "short": y[:-1], "none_list": [None] * n,
        "dates": pd.date_range("2020-01-01", periods=n).to_numpy(), "object": np.array(
            [1.0, "x"] * (n // 2), dtype=object),
        "huge": y * 1e200, "negative": -np.abs(y) - 1.0, "above_one": np.abs(y) + 1.5,
        "fractions": np.abs(y) + 0.5, "dict": {"y": y},
    }


def _bad_x() -> dict[str, object]:
    x = DATA["x"].to_numpy()
    rng = np.random.default_rng(5)
    return {
        "nan": np.column_stack([np.ones(N), np.where(np.arange(N) == 2, np.nan, x)]),
        "wide": rng.normal(size=(N, N + 3)), "square": np.column_stack([np.ones(N), rng.normal(
            size=(N, N - 1))]),
        "zero_column": np.column_stack([np.ones(N), np.zeros(N)]),
        "duplicate": np.column_stack([np.ones(N), x, x]),
        "collinear": np.column_stack([np.ones(N), x, x + 1e-12 * rng.normal(size=N)]),
        "huge": np.column_stack([np.ones(N), x * 1e200]),
        "tiny": np.column_stack([np.ones(N), x * 1e-200]),
        "no_columns": np.ones((N, 0)), "wrong_rows": X0[:-2], "text": np.array([["a"]] * N),
        "complex": X0 + 1j, "cube": np.ones((N, 2, 2)),
        "duplicate_names": pd.DataFrame(X0, columns=["a", "a"]),
        "shuffled_frame": pd.DataFrame(X0, index=np.arange(N)[::-1]),
    }


def _bad_z() -> dict[str, object]:
    return {
        "nan": np.where(np.arange(N)[:, None] == 1, np.nan, Z0), "zero": np.zeros((N, 6)),
        "zero_sparse": sparse.csc_matrix((N, 6)), "wrong_rows": Z0[:-1], "no_columns": np.ones(
            (N, 0)),
        "complex": Z0 + 1j, "complex_sparse": sparse.csc_matrix(Z0 + 1j), "text": np.array(
            [["a"] * 6] * N),
        "identity": np.eye(N), "identity_sparse": sparse.identity(N, format="csr"),
        "huge": Z0 * 1e200, "cube": np.ones((N, 2, 2)),
    }


_Z_DEGENERATE = {"zero", "zero_sparse", "identity", "identity_sparse"}


def _matrix_cases() -> list[Case]:
    cases = []
    for family in RESPONSES:
        for name, y in _bad_y(N).items():
            cases.append(Case(f"matrix/{family}/y={name}", _matrix(family, y=y)))
        for name, X in _bad_x().items():
            cases.append(Case(f"matrix/{family}/X={name}", _matrix(family, X=X)))
        for name, Z in _bad_z().items():
            degenerate = name in _Z_DEGENERATE and family == "gaussian"
            cases.append(Case(f"matrix/{family}/Z={name}", _matrix(family, Z=Z),
                              degenerate=degenerate or name.startswith("zero")))
    shuffled = DATA.sample(frac=1, random_state=2)
    more = {
        "rand_c=6": dict(rand_c=6), "rand_c=[2.7,3.3]": dict(rand_c=[2.7, 3.3]),
        "rand_c=[3,3]": dict(rand_c=[3, 3]), "rand_c=[0,6]": dict(rand_c=[0, 6]),
        "rand_c=text": dict(rand_c="6"), "rand_c=[[6]]": dict(rand_c=[[6]]),
        "weights=0": dict(weights=np.r_[0.0, np.ones(N - 1)]),
        "weights=-1": dict(weights=-np.ones(N)), "weights=nan": dict(weights=np.full(N, np.nan)),
        "weights=short": dict(weights=np.ones(N - 1)), "weights=text": dict(weights=["a"] * N),
        "weights=complex": dict(weights=np.ones(N) + 1j),
        "weights=shuffled_series": dict(weights=shuffled["w"]),
        "weights=other_labels": dict(y=DATA["y"], weights=DATA["w"].reset_index(drop=True)
                                     .set_axis(np.arange(N) + 100)),
        "offset=inf": dict(offset=np.full(N, np.inf)), "offset=short": dict(offset=np.ones(3)),
        "fix_disp=0": dict(fix_disp=0), "fix_disp=-1": dict(fix_disp=-1.0),
        "fix_disp=text": dict(fix_disp="one"), "fix_disp=nan": dict(fix_disp=np.nan),
        "fix_disp+x_disp": dict(fix_disp=1.0, x_disp=np.column_stack([np.ones(N), DATA["x"]])),
        "x_disp=wrong_rows": dict(x_disp=np.ones((3, 1))),
        "x_disp=collinear": dict(x_disp=np.column_stack([np.ones(N), np.ones(N)])),
        "x_rand_disp=wrong_rows": dict(x_rand_disp=np.ones((5, 1))),
        "x_rand_disp=too_many": dict(x_rand_disp=[None, None]),
        "family=unknown": dict(family="nope"), "rand_family=unknown": dict(rand_family="nope"),
        "rand_family=too_many": dict(rand_family=["gaussian", "gaussian"]),
        "link_disp=unknown": dict(link_disp="nope"), "method=unknown": dict(method="REML"),
        "conv=0": dict(conv=0.0), "conv=text": dict(conv="small"), "maxit=0": dict(maxit=0),
        "maxit=float": dict(maxit=2.5), "dev_floor=unknown": dict(dev_floor="nope"),
        "startval=short": dict(startval=[0.0, 1.0]), "startval=text": dict(startval=["a"] * 10),
        "rand_cov=not_pd": dict(rand_cov=[-np.eye(6)]), "rand_cov=wrong": dict(
            rand_cov=[np.eye(5)]),
        "disp=formula": dict(disp="~ x"),
    }
    for name, kwargs in more.items():
        family = kwargs.pop("family", "gaussian")
        cases.append(Case(f"matrix/{name}", _matrix(family, **kwargs),
                          degenerate=name == "weights=other_labels"))
    cases += [
        Case("matrix/y=one_row", _matrix(y=[1.0], X=np.ones((1, 1)), Z=np.ones((1, 1))),
             degenerate=True),
        Case("matrix/Z=twice", _matrix(Z=np.hstack([Z0, Z0]), rand_c=[6, 6]), degenerate=True),
        Case("matrix/Z=zero_term", _matrix(Z=np.hstack([Z0, np.zeros((N, 2))]), rand_c=[6, 2]),
             degenerate=True),
    ]
    return cases


# --- the formula interfaces --------------------------------------------------------------


def _hglm2(formula: str, data: object = None, **kwargs: object) -> Callable[[Path], object]:
    def run(_: Path) -> object:
        return hglm.hglm2(formula, DATA if data is None else data, **kwargs)
    return run


def _hglm_formula(fixed: str, random: str | None, data: object = None,
                  **kwargs: object) -> Callable[[Path], object]:
    def run(_: Path) -> object:
        return hglm.hglm(fixed=fixed, random=random, data=DATA if data is None else data,
                         **kwargs)
    return run


FORMULAS = {
    "missing_paren": "y ~ x + (1|g", "extra_paren": "y ~ x + 1|g)", "no_lhs": "~ x + (1|g)",
    "empty_rhs": "y ~", "no_random": "y ~ x", "unknown_column": "y ~ nope + (1|g)",
    "unknown_group": "y ~ x + (1|nope)", "empty_bar": "y ~ x + (1|)", "bar_no_lhs": "y ~ (|g)",
    "double_bar": "y ~ x + (x||g)", "slope": "y ~ x + (x|g)", "nested": "y ~ x + (1|g/h)",
    "twice": "y ~ x + (1|g) + (1|g)", "per_row": "y ~ x + (1|row)", "text_y": "s ~ x + (1|g)",
    "transform": "np.log(pos) ~ x + (1|g)", "bad_python": "y ~ x + (1|g) + )(",
    "unicode": "y ~ x + (1|gé)", "number": "3 ~ x + (1|g)", "interaction": "y ~ x*x2 + (1|g:h)",
    "string_group": "y ~ x + (1|s)", "offset_term": "y ~ x + offset(o) + (1|g)",
    "constant_covariate": "y ~ x + one + (1|g)",
}


def _formula_cases() -> list[Case]:
    data = DATA.assign(row=np.arange(N), one=1.0)
    cases = [
        Case(f"hglm2/formula={name}", _hglm2(f, data),
             degenerate=name in ("twice", "per_row"))
        for name, f in FORMULAS.items()
    ]
    rng = np.random.default_rng(3)
    frames = {
        "empty": DATA.iloc[:0], "one_row": DATA.iloc[:1], "two_rows": DATA.iloc[:2],
        "duplicate_columns": pd.concat([DATA, DATA[["x"]]], axis=1),
        "date_column": DATA.assign(x=pd.date_range("2020-01-01", periods=N)),
        "timedelta_column": DATA.assign(x=pd.to_timedelta(np.arange(N), unit="D")),
        "complex_column": DATA.assign(x=DATA["x"] + 1j),
        "complex_y": DATA.assign(y=DATA["y"] + 1j),
        "text_x": DATA.assign(x=DATA["s"]), "all_nan_y": DATA.assign(y=np.nan),
        "nan_group": DATA.assign(g=np.where(np.arange(N) < 3, np.nan, DATA["g"])),
        "float_groups": DATA.assign(g=np.where(DATA["g"] < 3, 0.1 + 0.2, 0.3)),
        "huge_x": DATA.assign(x=DATA["x"] * 1e200), "inf_x": DATA.assign(x=np.inf),
        "collinear": DATA.assign(x2=DATA["x"] + 1e-12 * rng.normal(size=N)),
        "shuffled_index": DATA.sample(frac=1, random_state=1),
        "string_index": DATA.set_axis([f"r{i}" for i in range(N)]),
        "dict": {k: DATA[k].to_numpy() for k in DATA}, "list": [1, 2, 3], "none": None,
        "ragged_dict": {"y": [1.0, 2.0], "x": [1.0], "g": [1, 2]},
        "nullable": DATA.astype({"x": "Float64", "g": "Int64"}),
        "categorical_group": DATA.assign(g=DATA["g"].astype("category")),
        "bool_group": DATA.assign(g=DATA["g"] % 2 == 0),
        "constant_y": DATA.assign(y=1.0), "one_group": DATA.assign(g=0),
    }
    for name, frame in frames.items():
        degenerate = name in ("one_row", "two_rows", "constant_y", "one_group")
        cases.append(Case(f"hglm2/data={name}", _hglm2("y ~ x + x2 + (1|g)", frame),
                          degenerate=degenerate))
        cases.append(Case(f"hglm/data={name}", _hglm_formula("y ~ x + x2", "~ 1|g", frame),
                          degenerate=degenerate))
    shuffled = DATA.sample(frac=1, random_state=2)
    arguments = {
        "weights=zero_column": dict(weights="zero"), "weights=missing": dict(weights="nope"),
        "weights=text_column": dict(weights="s"), "weights=shuffled": dict(weights=shuffled["w"]),
        "weights=other_labels": dict(weights=DATA["w"].set_axis(np.arange(N) + 100)),
        "weights=short": dict(weights=np.ones(3)), "weights=expression": dict(weights="w * 2"),
        "offset=shuffled": dict(offset=shuffled["o"]), "offset=nan": dict(offset=np.nan * DATA[
            "o"]),
        "disp=unknown": dict(disp="~ foo"), "disp=missing_paren": dict(disp="~ x + (1|g"),
        "disp=fix_disp": dict(disp="~ x", fix_disp=1.0), "disp=double": dict(disp="~ 1 + (1|g)"),
        "rand_disp=unknown": dict(rand_disp={"nope": "~ x"}), "rand_disp=varying": dict(
            rand_disp="~ x"),
        "family=unknown": dict(family="nope"), "y=X": dict(y=np.ones(N)),
        "rand_c": dict(rand_c=[6]), "x_disp": dict(x_disp=np.ones((N, 1))),
        "calc_like=quasi": dict(family="poisson", calc_like=True),
        "maxit=negative": dict(maxit=-1), "unknown_argument": dict(nope=1),
        "cov=not_pd": dict(cov={"g": -np.eye(6)}), "cov=unknown_group": dict(
            cov={"nope": np.eye(6)}),
    }
    data_w = DATA.assign(zero=np.r_[0.0, np.ones(N - 1)])
    for name, kwargs in arguments.items():
        formula = "cnt ~ x + (1|g)" if kwargs.get("family") == "poisson" else "y ~ x + (1|g)"
        cases.append(Case(f"hglm2/{name}", _hglm2(formula, data_w, **kwargs)))
    counts = DATA.assign(r=DATA["r"] + 0.5, cnt=DATA["cnt"] + 0.5)
    cases += [
        Case("hglm2/binomial/non_integer_successes",
             _hglm2("I(r/n) ~ x + (1|g)", counts, weights="n", family="binomial"),
             degenerate=True),
        Case("hglm2/binomial/non_integer_likelihood",
             _hglm2("I(r/n) ~ x + (1|g)", counts, weights="n", family="binomial", fix_disp=1,
                    calc_like=True)),
        Case("hglm2/poisson/non_integer_counts", _hglm2("cnt ~ x + (1|g)", counts,
                                                        family="poisson"), degenerate=True),
        Case("hglm2/poisson/non_integer_likelihood",
             _hglm2("cnt ~ x + (1|g)", counts, family="poisson", fix_disp=1, calc_like=True)),
        Case("hglm2/binomial/zero_trials",
             _hglm2("I(r/n) ~ x + (1|g)", DATA.assign(n=np.r_[0.0, np.full(N - 1, 8.0)],
                                                      r=np.r_[0.0, DATA["r"][1:]]),
                    weights="n", family="binomial")),
        Case("hglm2/binomial/two_level_text", _hglm2("s ~ x + (1|g)", DATA.assign(
            s=np.where(DATA["b"] > 0, "yes", "no")), family="binomial")),
        Case("hglm2/binomial/three_level_text", _hglm2("s ~ x + (1|h)", family="binomial")),
        Case("hglm2/poisson/all_zero", _hglm2("cnt ~ x + (1|g)", DATA.assign(cnt=0.0),
                                              family="poisson", fix_disp=1), degenerate=True),
        Case("hglm2/binomial/all_one", _hglm2("b ~ x + (1|g)", DATA.assign(b=1.0),
                                              family="binomial", fix_disp=1), degenerate=True),
        Case("hglm2/binomial/separation", _hglm2("b ~ x + (1|g)", DATA.assign(
            b=(DATA["x"] > 0).astype(float)), family="binomial", fix_disp=1), degenerate=True),
    ]
    return cases


# --- the command line --------------------------------------------------------------------


def _cli(frame: pd.DataFrame | str, formula: str, *options: str) -> Callable[[Path], object]:
    def run(tmp: Path) -> object:
        path = tmp / "data.csv"
        if isinstance(frame, str):
            path.write_text(frame)
        else:
            frame.to_csv(path, index=False)
        return main(["fit", str(path), formula, *options])
    return run


def _cli_cases() -> list[Case]:
    rng = np.random.default_rng(4)
    frames = {
        "ok": DATA, "one_row": DATA.iloc[:1], "header_only": DATA.iloc[:0],
        "per_row": DATA.assign(row=np.arange(N)), "dates": DATA.assign(
            x=pd.date_range("2020-01-01", periods=N).astype(str)),
        "collinear": DATA.assign(x2=DATA["x"] + 1e-12 * rng.normal(size=N)),
        "huge": DATA.assign(x=DATA["x"] * 1e200), "constant_y": DATA.assign(y=1.0),
    }
    cases = [
        Case(f"cli/data={name}", _cli(frame, "y ~ x + x2 + (1|g)"),
             degenerate=name in ("one_row", "constant_y"))
        for name, frame in frames.items()
    ]
    cases.append(Case("cli/per_row", _cli(frames["per_row"], "y ~ x + (1|row)"),
                      degenerate=True))
    for name, text in {"empty_file": "", "garbage": "\x00\x01,\n\x02", "ragged": "y,g\n1,2,3\n",
                       "no_rows": "y,x,g\n"}.items():
        cases.append(Case(f"cli/file={name}", _cli(text, "y ~ x + (1|g)")))
    for name, formula in list(FORMULAS.items())[:12]:
        cases.append(Case(f"cli/formula={name}", _cli(DATA, formula)))
    options = {
        "family": ["--family", "nope"], "link": ["--link", "nope"], "rand_family": [
            "--rand-family", ","],
        "weights": ["--weights", "nope"], "offset": ["--offset", "nope"], "disp": [
            "--disp", "~ foo"],
        "fix_disp": ["--fix-disp", "-1"], "conv": ["--conv", "0"], "maxit": ["--maxit", "0"],
        "fix_disp_with_disp": ["--fix-disp", "1", "--disp", "~ x"],
        "poisson_non_integer_like": ["--family", "poisson", "--fix-disp", "1", "--calc-like"],
    }
    for name, opts in options.items():
        frame = DATA.assign(cnt=DATA["cnt"] + 0.5) if "poisson" in name else DATA
        formula = "cnt ~ x + (1|g)" if "poisson" in name else "y ~ x + (1|g)"
        cases.append(Case(f"cli/option={name}", _cli(frame, formula, *opts)))
    return cases


CATALOGUE = _matrix_cases() + _formula_cases() + _cli_cases()


def _params() -> list:
    return [pytest.param(case, id=case.name) for case in CATALOGUE]


def test_the_catalogue_is_large_enough() -> None:
    assert len(CATALOGUE) >= 200
    assert len({c.name for c in CATALOGUE}) == len(CATALOGUE)


def _ours(frame: traceback.FrameSummary) -> bool:
    return str(Path(frame.filename).resolve()).startswith(PACKAGE)


def _foreign_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    """Warnings not of ours: any class but UserWarning and hglm's, or issued from inside a
    library (our warnings point at the caller's line)."""
    foreign = []
    for w in caught:
        library = any(f"/{lib}/" in w.filename for lib in LIBRARIES)
        if not issubclass(w.category, UserWarning) or library:
            foreign.append(f"{w.category.__name__}: {w.message} ({w.filename})")
    return foreign


@pytest.mark.parametrize("case", _params())
def test_input_is_fitted_refused_by_name_or_warned(case: Case, tmp_path: Path, capsys) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = case.run(tmp_path)
        except ValueError as exc:
            frames = traceback.extract_tb(exc.__traceback__)
            assert frames and _ours(frames[-1]), (
                f"a ValueError from {frames[-1].filename if frames else '?'}: {exc}"
            )
            assert "\x1b" not in str(exc)
            result = exc
        except Exception as exc:  # noqa: BLE001 - the point of the test
            pytest.fail(f"{type(exc).__name__} escaped: {exc}\n{traceback.format_exc()}")
    assert not _foreign_warnings(caught), _foreign_warnings(caught)
    if case.name.startswith("cli/"):
        err = capsys.readouterr().err
        assert "HGLM_DEBUG" not in err, err  # an exception that is not an input error
        assert result in (0, 2)
        if case.degenerate:
            assert result == 2 or "hglm: warning:" in err, err
        return
    if case.degenerate and isinstance(result, hglm.HGLMResult) and result.converged:
        ours = [w for w in caught if issubclass(w.category, UserWarning)]
        assert ours, "a degenerate input returned as a converged fit without a warning"
