"""Tests of ``hglm.spec.random_terms``: the random-effect terms of a formula on a frame
(levels, names, blocks of Z, slopes, combined and nested grouping factors)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from hglm.spec import RandomTerm, VectorTerm
from hglm.spec.formula import design_from_formulas, design_from_lme4


def dense(term) -> np.ndarray:
    """The Z block of a random term as a dense array."""
    return term.Z.toarray()


def test_random_intercept_numeric_levels_sort_numerically(df):
    (term,) = design_from_formulas("y ~ x", "~ 1|g", df).random
    assert term.label == "(1|g)"
    assert term.group == "g"
    assert term.levels == ["1", "2", "10"]
    assert term.names == ["(Intercept)|g:1", "(Intercept)|g:2", "(Intercept)|g:10"]
    assert isinstance(term.Z, sp.csc_matrix)
    assert term.Z.shape == (8, 3)
    assert term.Z.nnz == 8
    expected = np.zeros((8, 3))
    expected[np.arange(8), df["g"].map({1: 0, 2: 1, 10: 2})] = 1.0
    np.testing.assert_array_equal(dense(term), expected)
    assert term.covariate is None


def test_string_levels_sort_as_strings():
    data = pd.DataFrame({"y": [1.0, 2, 3, 4], "g": ["b", "a", "B", "a"]})
    (term,) = design_from_lme4("y ~ (1|g)", data).random
    assert term.levels == ["B", "a", "b"]
    np.testing.assert_array_equal(dense(term).argmax(axis=1), [2, 1, 0, 1])


def test_categorical_levels_sort_as_strings():
    g = pd.Categorical(["1", "10", "2", "10"], categories=["2", "10", "1"], ordered=True)
    data = pd.DataFrame({"y": [1.0, 2, 3, 4], "g": g, "k": pd.Categorical([3, 10, 3, 10])})
    assert design_from_lme4("y ~ (1|g)", data).random[0].levels == ["1", "10", "2"]
    assert design_from_lme4("y ~ (1|k)", data).random[0].levels == ["10", "3"]


def test_bool_and_float_levels():
    data = pd.DataFrame(
        {"y": [1.0, 2, 3, 4], "b": [True, False, True, True], "r": [2.5, 1.0, 10.0, 1.0]}
    )
    assert design_from_lme4("y ~ (1|b)", data).random[0].levels == ["FALSE", "TRUE"]
    term = design_from_lme4("y ~ (1|r)", data).random[0]
    assert term.levels == ["1", "2.5", "10"]
    assert term.names[1] == "(Intercept)|r:2.5"


def test_unused_categories_get_no_column():
    g = pd.Categorical(["a", "c", "a"], categories=["a", "b", "c"])
    data = pd.DataFrame({"y": [1.0, 2, 3], "g": g})
    assert design_from_lme4("y ~ (1|g)", data).random[0].levels == ["a", "c"]


def test_random_slope_without_intercept(df):
    (term,) = design_from_lme4("y ~ x + (0 + x|g)", df).random
    assert term.label == "(0 + x|g)"
    assert term.names == ["x|g:1", "x|g:2", "x|g:10"]
    assert term.covariate == "x"
    expected = np.zeros((8, 3))
    expected[np.arange(8), df["g"].map({1: 0, 2: 1, 10: 2})] = df["x"]
    np.testing.assert_array_equal(dense(term), expected)


@pytest.mark.parametrize("bar", ["(x|g)", "(1 + x|g)", "(1 + x | g)"])
def test_intercept_and_slope_are_one_vector_term(df, bar):
    (term,) = design_from_lme4(f"y ~ x + {bar}", df).random
    assert isinstance(term, VectorTerm)
    assert term.label == "(1 + x|g)" and term.effects == ("(Intercept)", "x")
    assert term.levels == ["1", "2", "10"]
    # level-major, as lme4: level 1's intercept and slope, then level 2's, ...
    assert term.names[:4] == ["(Intercept)|g:1", "x|g:1", "(Intercept)|g:2", "x|g:2"]
    level = df["g"].map({1: 0, 2: 1, 10: 2}).to_numpy()
    expected = np.zeros((8, 6))
    expected[np.arange(8), 2 * level] = 1.0
    expected[np.arange(8), 2 * level + 1] = df["x"]
    np.testing.assert_array_equal(dense(term), expected)
    np.testing.assert_array_equal(term.values, np.column_stack([np.ones(8), df["x"]]))


@pytest.mark.parametrize("bar", ["(x||g)", "(1 + x||g)", "(1 + x || g)"])
def test_double_bar_gives_independent_scalar_terms(df, bar):
    terms = design_from_lme4(f"y ~ x + {bar}", df).random
    assert [type(t) for t in terms] == [RandomTerm, RandomTerm]
    assert [t.label for t in terms] == ["(1|g)", "(0 + x|g)"]
    np.testing.assert_array_equal(dense(terms[1]), dense(terms[0]) * df["x"].to_numpy()[:, None])


@pytest.mark.parametrize(
    ("bar", "labels"),
    [("(1|g)", ["(1|g)"]), ("(0 + x|g)", ["(0 + x|g)"]), ("(1 + x - 1|g)", ["(0 + x|g)"]),
     ("(x - 1|g)", ["(0 + x|g)"])],
)
def test_a_single_column_is_a_scalar_term(df, bar, labels):
    terms = design_from_lme4(f"y ~ {bar}", df).random
    assert [type(t) for t in terms] == [RandomTerm] and [t.label for t in terms] == labels


def test_vector_term_without_intercept(df):
    (term,) = design_from_lme4("y ~ (0 + x + t|g)", df).random
    assert term.label == "(0 + x + t|g)" and term.effects == ("x", "t")
    np.testing.assert_array_equal(term.values, df[["x", "t"]].to_numpy())
    assert term.names[:2] == ["x|g:1", "t|g:1"]


def test_factor_covariate_expands_as_lme4(df):
    (with_intercept,) = design_from_lme4("y ~ (f|g)", df).random
    assert with_intercept.effects == ("(Intercept)", "fv", "fw")
    np.testing.assert_array_equal(with_intercept.values[:3],
                                  [[1, 0, 0], [1, 1, 0], [1, 0, 1]])
    (without,) = design_from_lme4("y ~ (0 + f|g)", df).random
    assert without.effects == ("fu", "fv", "fw")
    np.testing.assert_array_equal(without.values[:3], np.eye(3))


def test_nested_vector_term(df):
    terms = design_from_lme4("y ~ (1 + x|g/h)", df).random
    assert [t.label for t in terms] == ["(1 + x|g)", "(1 + x|g:h)"]
    assert [t.Z.shape[1] for t in terms] == [6, 12]
    assert terms[1].names[:2] == ["(Intercept)|g:h:10:a", "x|g:h:10:a"]


def test_crossed_vector_and_scalar_terms(df):
    terms = design_from_lme4("y ~ x + (1 + x|g) + (t|h) + (1|f)", df).random
    assert [t.label for t in terms] == ["(1 + x|g)", "(1 + t|h)", "(1|f)"]
    assert [type(t) for t in terms] == [VectorTerm, VectorTerm, RandomTerm]


def test_random_formula_of_hglm_has_lme4s_meaning(df):
    (vector,) = design_from_formulas("y ~ x", "~ 1 + x|g", df).random
    assert isinstance(vector, VectorTerm) and vector.label == "(1 + x|g)"
    split = design_from_formulas("y ~ x", "~ (x||g)", df).random
    assert [t.label for t in split] == ["(1|g)", "(0 + x|g)"]


def test_missing_slope_drops_the_row(df):
    df.loc[3, "x"] = np.nan
    with pytest.warns(UserWarning, match="1 of 8 rows dropped"):
        (term,) = design_from_lme4("y ~ (1 + x|g)", df).random
    assert term.values.shape == (7, 2) and np.isfinite(term.values).all()


def test_combined_grouping_factor(df):
    (term,) = design_from_lme4("y ~ (1|g:h)", df).random
    assert term.group == "g:h"
    assert term.label == "(1|g:h)"
    # combinations sort as strings ("10:a" < "1:a"), as hglm2's factor(as.vector(g)) does
    assert term.levels == ["10:a", "10:b", "1:a", "1:b", "2:a", "2:b"]
    assert term.names[0] == "(Intercept)|g:h:10:a"
    labels = [f"{g}:{h}" for g, h in zip(df["g"], df["h"], strict=True)]
    np.testing.assert_array_equal(
        dense(term).argmax(axis=1), [term.levels.index(lab) for lab in labels]
    )


def test_nesting_expands(df):
    terms = design_from_lme4("y ~ (1|g/h)", df).random
    assert [t.label for t in terms] == ["(1|g)", "(1|g:h)"]
    assert [len(t.levels) for t in terms] == [3, 6]


def test_several_random_terms_in_order(df):
    d = design_from_lme4("y ~ x + (1|h) + (1|g) + (0 + x|h)", df)
    assert [t.label for t in d.random] == ["(1|h)", "(1|g)", "(0 + x|h)"]
    assert d.random[0].levels == ["a", "b"]


def test_random_formula_of_hglm(df):
    one = design_from_formulas("y ~ x", "~1|h", df).random
    two = design_from_formulas("y ~ x", "~ (1|h) + (1|g)", df).random
    slope = design_from_formulas("y ~ x", "~ 0 + x | g", df).random
    assert [t.label for t in one] == ["(1|h)"]
    assert [t.label for t in two] == ["(1|h)", "(1|g)"]
    assert [t.label for t in slope] == ["(0 + x|g)"]
    assert design_from_formulas("y ~ x", None, df).random == []


def test_integer_group_codes_survive_missing_rows():
    data = pd.DataFrame({"y": [1.0, np.nan, 3, 4], "g": [3, 2, 1, 3]})
    with pytest.warns(UserWarning):
        (term,) = design_from_lme4("y ~ (1|g)", data).random
    assert term.levels == ["1", "3"]
    np.testing.assert_array_equal(dense(term), [[0, 1], [1, 0], [0, 1]])
