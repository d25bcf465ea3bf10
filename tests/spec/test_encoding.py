"""Tests of ``hglm.spec.encoding``: the design re-applied to new data (``new_design``,
``new_offset``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from hglm.spec.encoding import new_design, new_offset
from hglm.spec.formula import design_from_lme4


def dense(term) -> np.ndarray:
    """The Z block of a random term as a dense array."""
    return term.Z.toarray()


def test_new_design_aligns_levels_and_handles_unseen(df):
    d = design_from_lme4("y ~ x + f + (1|g) + (0 + x|h)", df)
    new = pd.DataFrame(
        {"x": [1.0, 2.0, 3.0, 4.0], "f": ["w", "u", "v", "u"], "g": [10, 99, 1, np.nan]}
        | {"h": ["a", "b", "c", "a"]}
    )
    X, (Zg, Zh) = new_design(d, new)
    assert X.shape == (4, 4)
    np.testing.assert_array_equal(X[:, 1], new["x"])
    np.testing.assert_array_equal(X[:, 3], [1.0, 0.0, 0.0, 0.0])  # f[T.w]
    assert isinstance(Zg, sp.csc_matrix) and Zg.shape == (4, 3)
    np.testing.assert_array_equal(Zg.toarray(), [[0, 0, 1], [0, 0, 0], [1, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(Zh.toarray(), [[1, 0], [0, 2], [0, 0], [4, 0]])


def test_new_design_unseen_raise(df):
    d = design_from_lme4("y ~ x + (1|g)", df)
    with pytest.raises(ValueError, match=r"level '99' of g.*\(1\|g\).*not seen"):
        new_design(d, pd.DataFrame({"x": [1.0], "g": [99]}), unseen="raise")
    with pytest.raises(ValueError, match=r"missing value of g"):
        new_design(d, pd.DataFrame({"x": [1.0], "g": [np.nan]}), unseen="raise")
    with pytest.raises(ValueError, match="unseen must be"):
        new_design(d, pd.DataFrame({"x": [1.0], "g": [1]}), unseen="zero")


def test_new_design_missing_covariate_and_unknown_level(df):
    d = design_from_lme4("y ~ x + f + (1|g)", df)
    X, _ = new_design(d, {"x": [np.nan, 1.0], "f": ["u", "v"], "g": [1, 2]})
    assert np.isnan(X[0]).all()
    np.testing.assert_array_equal(X[1], [1.0, 1.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="not seen in training"):
        new_design(d, pd.DataFrame({"x": [1.0], "f": ["zz"], "g": [1]}))
    with pytest.raises(ValueError, match="unknown column.*'f'"):
        new_design(d, pd.DataFrame({"x": [1.0], "g": [1]}))


def test_new_design_reproduces_training(df):
    d = design_from_lme4("y ~ x*f + (x|g:h)", df)
    X, blocks = new_design(d, df)
    np.testing.assert_array_equal(X, d.X.to_numpy())
    for term, block in zip(d.random, blocks, strict=True):
        np.testing.assert_array_equal(block.toarray(), dense(term))


def test_new_offset(df):
    d = design_from_lme4("y ~ x + offset(np.log(t)) + (1|g)", df, offset="x")
    np.testing.assert_allclose(new_offset(d, {"t": [1.0, np.e], "x": [1.0, 2.0]}), [1.0, 3.0])
    assert new_offset(design_from_lme4("y ~ x + (1|g)", df, offset=df["x"]), df) is None


def test_new_data_gets_r_functions_with_the_training_state(df):
    d = design_from_lme4("y ~ sqrt(t) + log(t) + scale(x) + I(x^2) + (0 + scale(x)|g)", df)
    new = pd.DataFrame({"t": [4.0, 9.0], "x": [10.0, 0.5], "g": [2, 10]})
    X, (Zg,) = new_design(d, new)
    centre, spread = df["x"].mean(), df["x"].std(ddof=1)  # the training data's
    scaled = (new["x"] - centre) / spread
    np.testing.assert_allclose(X[:, 1], [2.0, 3.0])
    np.testing.assert_allclose(X[:, 2], np.log(new["t"]))
    np.testing.assert_allclose(X[:, 3], scaled)
    np.testing.assert_allclose(X[:, 4], new["x"] ** 2)
    np.testing.assert_allclose(Zg.toarray(), [[0, scaled[0], 0], [0, 0, scaled[1]]])


def test_new_data_gets_the_factors_of_training(df):
    df["b"] = df["x"] > 2
    d = design_from_lme4("y ~ factor(g) + as.factor(f):x + b + (1|as.factor(h))", df)
    assert list(d.X.columns) == ["(Intercept)", "factor(g)2", "factor(g)10", "bTRUE",
                                 "as.factor(f)u:x", "as.factor(f)v:x", "as.factor(f)w:x"]
    new = pd.DataFrame({"g": [10, 1], "f": ["w", "u"], "x": [2.0, 3.0], "b": [True, False],
                        "h": ["b", "z"]})
    X, (Zh,) = new_design(d, new)
    np.testing.assert_array_equal(X, [[1, 0, 1, 1, 0, 0, 2], [1, 0, 0, 0, 3, 0, 0]])
    np.testing.assert_array_equal(Zh.toarray(), [[0, 1], [0, 0]])  # level "z" unseen
    with pytest.raises(ValueError, match="not seen in training"):
        new_design(d, new.assign(g=[3, 1]))


def test_new_design_of_a_vector_term(df):
    design = design_from_lme4("y ~ x + (1 + x|g) + (f|h)", df)
    _, blocks = new_design(design, df)
    for block, term in zip(blocks, design.random, strict=True):
        np.testing.assert_array_equal(block.toarray(), term.Z.toarray())
    new = pd.DataFrame({"x": [2.0, 3.0], "g": [2, 99], "f": ["w", "u"], "h": ["a", "a"]})
    _, (slope, factor) = new_design(design, new)
    # level 2 is the second level: columns 2 and 3; level 99 was not seen: no entries
    np.testing.assert_array_equal(slope.toarray(), [[0, 0, 1, 2, 0, 0], [0] * 6])
    np.testing.assert_array_equal(factor.toarray()[:, :3], [[1, 0, 1], [1, 0, 0]])
