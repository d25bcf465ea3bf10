"""Tests of the formula materializer, ``hglm.spec.formula``: the design of a formula
and a data frame (fixed part, response, weights, offsets, missing values, errors)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from hglm.spec.dispersion import disp_design
from hglm.spec.formula import design_from_formulas, design_from_lme4
from tests.shared import load_data

# --------------------------------------------------------------------------------------
# Fixed part
# --------------------------------------------------------------------------------------


def test_fixed_part_names_and_values(df):
    d = design_from_lme4("y ~ x + f + (1|g)", df)
    assert list(d.X.columns) == ["(Intercept)", "x", "fv", "fw"]
    assert d.X.shape == (8, 4)
    np.testing.assert_array_equal(d.X["x"], df["x"])
    np.testing.assert_array_equal(d.X["fv"], (df["f"] == "v").astype(float))
    np.testing.assert_array_equal(d.y, df["y"])
    assert d.response_name == "y"
    assert d.fixed_formula == "x + f"
    assert d.X.dtypes.eq(float).all()


def test_fixed_part_interactions_and_transforms(df):
    d = design_from_formulas("y ~ x*f + I(x**2) + np.log(t) + C(h)", "~ 1|g", df)
    cols = list(d.X.columns)
    assert cols[0] == "(Intercept)"
    assert {"x", "fv", "x:fv", "x:fw", "I(x^2)", "np.log(t)", "C(h)b"} <= set(cols)
    np.testing.assert_allclose(d.X["I(x^2)"], df["x"] ** 2)
    np.testing.assert_allclose(d.X["np.log(t)"], np.log(df["t"]))
    np.testing.assert_allclose(d.X["x:fv"], df["x"] * (df["f"] == "v"))


def test_fixed_part_without_intercept(df):
    assert list(design_from_lme4("y ~ 0 + x + (1|g)", df).X.columns) == ["x"]
    assert list(design_from_lme4("y ~ x - 1 + (1|g)", df).X.columns) == ["x"]
    assert list(design_from_lme4("y ~ 0 + f + (1|g)", df).X.columns) == ["fu", "fv", "fw"]


def test_only_random_terms_gives_intercept(df):
    d = design_from_lme4("y ~ (1|g)", df)
    assert list(d.X.columns) == ["(Intercept)"]
    assert d.fixed_formula == "1"
    assert design_from_lme4("y ~ (1|g) - 1", df).X.shape == (8, 0)


def test_factor_alias_of_r(df):
    d = design_from_lme4("y ~ factor(g) + (1|h)", df)
    assert list(d.X.columns) == ["(Intercept)", "factor(g)2", "factor(g)10"]


@pytest.mark.parametrize(
    ("term", "column", "values"),
    [
        ("sqrt(t)", "sqrt(t)", lambda d: np.sqrt(d["t"])),
        ("log(t)", "log(t)", lambda d: np.log(d["t"])),
        ("exp(x)", "exp(x)", lambda d: np.exp(d["x"])),
        ("abs(x - 2)", "abs(x - 2)", lambda d: np.abs(d["x"] - 2)),
        ("I(x^2)", "I(x^2)", lambda d: d["x"] ** 2),
        ("scale(x)", "scale(x)", lambda d: (d["x"] - d["x"].mean()) / d["x"].std(ddof=1)),
        ("as.factor(g)", "as.factor(g)2", lambda d: (d["g"] == 2).astype(float)),
    ],
)
def test_r_functions_on_the_fixed_side(df, term, column, values):
    d = design_from_lme4(f"y ~ {term} + (1|h)", df)
    assert list(d.X.columns)[1] == column
    np.testing.assert_allclose(d.X[column], values(df))


def test_interaction_with_a_function_as_r_names_it():
    data = pd.DataFrame({"y": [1.0, 2, 3, 4, 5, 6], "trt": [0, 1, 0, 1, 0, 1],
                         "wk": [0.0, 1, 4, 9, 1, 4], "id": [1, 1, 2, 2, 3, 3]})
    d = design_from_lme4("y ~ trt*sqrt(wk) + (1 | id)", data)
    assert list(d.X.columns) == ["(Intercept)", "trt", "sqrt(wk)", "trt:sqrt(wk)"]
    np.testing.assert_allclose(d.X["trt:sqrt(wk)"], data["trt"] * np.sqrt(data["wk"]))


def test_grouping_factor_through_factor_or_as_factor(df):
    plain = design_from_lme4("y ~ x + (1|g)", df).random[0]
    for group in ["factor(g)", "as.factor(g)"]:
        (term,) = design_from_lme4(f"y ~ x + (1 | {group})", df).random
        assert term.label == f"(1|{group})" and term.group == group and term.columns == ("g",)
        assert term.levels == plain.levels == ["1", "2", "10"]
        assert term.names[0] == f"(Intercept)|{group}:1"
        np.testing.assert_array_equal(term.Z.toarray(), plain.Z.toarray())
    (a, ab) = design_from_formulas("y ~ x", "~ 1|f/factor(g)", df).random
    assert (a.group, ab.group, ab.columns) == ("f", "f:factor(g)", ("f", "g"))
    assert ab.levels[:2] == ["u:10", "v:2"]  # combinations sort as strings


def test_dotted_names_as_r_writes_them():
    data = pd.DataFrame({"Sepal.Length": [5.1, 4.9, 4.7, 4.6, 5.0, 5.4],
                         "Petal.Width": [0.2, 0.2, 0.3, 0.2, 0.4, 0.4],
                         "plant.id": ["a", "a", "b", "b", "c", "c"]})
    d = design_from_lme4("Sepal.Length ~ log(Petal.Width) + (1 | plant.id)", data)
    assert d.response_name == "Sepal.Length"
    assert list(d.X.columns) == ["(Intercept)", "log(Petal.Width)"]
    np.testing.assert_allclose(d.X["log(Petal.Width)"], np.log(data["Petal.Width"]))
    np.testing.assert_array_equal(d.y, data["Sepal.Length"])
    assert d.random[0].levels == ["a", "b", "c"]


# --------------------------------------------------------------------------------------
# Response, weights, offset
# --------------------------------------------------------------------------------------


def test_bool_response_is_zero_one():
    data = pd.DataFrame({"y": [True, False, True], "g": ["a", "b", "a"]})
    np.testing.assert_array_equal(design_from_lme4("y ~ (1|g)", data).y, [1.0, 0.0, 1.0])


def test_binomial_string_response_last_sorted_level_is_success():
    data = pd.DataFrame({"y": ["y", "n", "y", "n"], "g": ["a", "b", "a", "b"]})
    d = design_from_lme4("y ~ (1|g)", data, binomial=True)
    np.testing.assert_array_equal(d.y, [1.0, 0.0, 1.0, 0.0])
    assert d.y.dtype == float


def test_binomial_categorical_response_uses_category_order():
    y = pd.Categorical(["lo", "hi", "lo"], categories=["lo", "hi"])
    data = pd.DataFrame({"y": y, "g": ["a", "b", "a"]})
    np.testing.assert_array_equal(
        design_from_lme4("y ~ (1|g)", data, binomial=True).y, [0.0, 1.0, 0.0]
    )


def test_response_expression():
    data = pd.DataFrame({"s": ["y", "n", "y"], "g": ["a", "b", "a"]})
    d = design_from_lme4('I(s == "y") ~ (1|g)', data, binomial=True)
    np.testing.assert_array_equal(d.y, [1.0, 0.0, 1.0])


@pytest.mark.parametrize("lhs", ["r/n", "I(r/n)", "r / n"])
def test_proportion_response(lhs):
    data = pd.DataFrame({"r": [1, 2, 3], "n": [4, 4, 5], "g": ["a", "b", "a"]})
    d = design_from_formulas(f"{lhs} ~ 1", "~ 1|g", data, weights="n", binomial=True)
    np.testing.assert_allclose(d.y, [0.25, 0.5, 0.6])
    np.testing.assert_array_equal(d.weights, [4.0, 4.0, 5.0])
    assert d.response_name == lhs


@pytest.fixture
def counts() -> pd.DataFrame:
    return pd.DataFrame({"s": [1, 2, 0, 3], "n": [4, 4, 5, 3], "w": [1.0, 2.0, 1.0, 0.5],
                         "g": ["a", "b", "a", "b"]})


def test_cbind_response_is_a_proportion_with_trials_as_weights(counts):
    d = design_from_lme4("cbind(s, n - s) ~ 1 + (1|g)", counts, binomial=True)
    np.testing.assert_allclose(d.y, counts["s"] / counts["n"])
    np.testing.assert_array_equal(d.weights, counts["n"])
    assert d.response_name == "cbind(s, n - s)"
    same = design_from_formulas("s/n ~ 1", "~ 1|g", counts, weights="n", binomial=True)
    np.testing.assert_array_equal(d.y, same.y)
    np.testing.assert_array_equal(d.weights, same.weights)


def test_cbind_weights_multiply_the_trials_as_in_r(counts):
    d = design_from_lme4("cbind(s, n - s) ~ 1 + (1|g)", counts, weights="w", binomial=True)
    np.testing.assert_array_equal(d.weights, counts["w"] * counts["n"])
    np.testing.assert_allclose(d.y, counts["s"] / counts["n"])


def test_cbind_rows_without_trials_are_dropped(counts):
    counts.loc[1, ["s", "n"]] = 0
    with pytest.warns(UserWarning, match=r"1 of 4 rows dropped.*cbind\(s, n - s\) \(no trials\)"):
        d = design_from_lme4("cbind(s, n - s) ~ 1 + (1|g)", counts, binomial=True)
    np.testing.assert_array_equal(d.rows, [0, 2, 3])
    np.testing.assert_array_equal(d.weights, [4.0, 5.0, 3.0])


def test_cbind_errors(counts):
    with pytest.raises(ValueError, match=r"formula='cbind.*binomial family"):
        design_from_lme4("cbind(s, n - s) ~ 1 + (1|g)", counts)
    with pytest.raises(ValueError, match=r"fixed='cbind.*binomial family"):
        design_from_formulas("cbind(s, n - s) ~ 1", "~ 1|g", counts)
    negative = r"formula='cbind\(s, 3 - s\).*'3 - s'.*negative \(found -1\)"
    with pytest.raises(ValueError, match=negative):
        design_from_lme4("cbind(s, 3 - s) ~ 1 + (1|g)", counts.assign(s=[1, 2, 4, 3]),
                         binomial=True)
    with pytest.raises(ValueError, match="unknown column.*'nope'.*response"):
        design_from_lme4("cbind(s, nope) ~ 1 + (1|g)", counts, binomial=True)


def test_weights_array_and_offset_combinations(df):
    d = design_from_lme4("y ~ x + (1|g)", df, weights=df["w"].to_numpy(), offset="np.log(t)")
    np.testing.assert_array_equal(d.weights, df["w"])
    np.testing.assert_allclose(d.offset, np.log(df["t"]))
    assert d.offset_terms == ["np.log(t)"]
    both = design_from_lme4("y ~ x + offset(log(t)) + (1|g)", df, offset=list(df["x"]))
    np.testing.assert_allclose(both.offset, np.log(df["t"]) + df["x"])
    assert both.offset_terms == ["log(t)"]
    assert list(both.X.columns) == ["(Intercept)", "x"]
    plain = design_from_lme4("y ~ x + (1|g)", df)
    assert plain.weights is None and plain.offset is None and plain.offset_terms == []


# --------------------------------------------------------------------------------------
# Missing values
# --------------------------------------------------------------------------------------


def test_missing_values_are_dropped_with_warning(df):
    df.loc[1, "x"] = np.nan
    df.loc[3, "g"] = np.nan
    df.loc[5, "f"] = None
    df.loc[6, "t"] = np.nan  # not used by the model: kept
    with pytest.warns(UserWarning, match=r"3 of 8 rows dropped.*f, g, x"):
        d = design_from_lme4("y ~ x + f + (1|g)", df)
    np.testing.assert_array_equal(d.rows, [0, 2, 4, 6, 7])
    assert d.n_dropped == 3
    assert d.X.shape == (5, 4)
    assert d.random[0].Z.shape == (5, 3)
    np.testing.assert_array_equal(d.y, df["y"].iloc[[0, 2, 4, 6, 7]])


def test_missing_in_weights_offset_and_extra_columns(df):
    weights = df["w"].to_numpy().copy()
    weights[0] = np.nan
    df.loc[2, "t"] = np.nan
    df.loc[4, "h"] = None
    with pytest.warns(UserWarning, match=r"3 of 8 rows.*h, t, weights"):
        d = design_from_lme4(
            "y ~ x + (1|g)", df, weights=weights, offset="log(t)", extra_columns=["h"]
        )
    np.testing.assert_array_equal(d.rows, [1, 3, 5, 6, 7])
    np.testing.assert_array_equal(d.weights, weights[[1, 3, 5, 6, 7]])


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_missing_from_expression_is_dropped(df):
    df.loc[0, "t"] = -1.0
    with pytest.warns(UserWarning, match=r"1 of 8 rows.*fixed part"):
        d = design_from_lme4("y ~ np.sqrt(t) + (1|g)", df)
    np.testing.assert_array_equal(d.rows, np.arange(1, 8))
    assert np.isfinite(d.X.to_numpy()).all()


def test_missing_in_a_stateful_transform_is_dropped_before_it_is_fitted(df):
    df.loc[0, "x"] = np.nan
    with pytest.warns(UserWarning, match=r"1 of 8 rows dropped.*: x"):
        d = design_from_lme4("y ~ scale(x) + (1|g)", df)
    x = df["x"].iloc[1:]
    np.testing.assert_allclose(d.X["scale(x)"], (x - x.mean()) / x.std(ddof=1))


def test_column_named_like_a_builtin_is_a_column():
    data = pd.DataFrame({"y": [1.0, 2, 3, 4], "sum": [1.0, np.nan, 3, 4], "g": [1, 1, 2, 2]})
    with pytest.warns(UserWarning, match="1 of 4 rows.*: sum"):
        d = design_from_lme4("y ~ sum + (1|g)", data)
    np.testing.assert_array_equal(d.X["sum"], [1.0, 3.0, 4.0])


def test_no_warning_without_missing_values(df):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = design_from_lme4("y ~ x + (1|g)", df)
    assert d.n_dropped == 0
    np.testing.assert_array_equal(d.rows, np.arange(8))


def test_rows_are_positions_not_index_labels(df):
    df.index = [10, 20, 30, 40, 50, 60, 70, 80]
    df.loc[30, "y"] = np.nan
    with pytest.warns(UserWarning):
        d = design_from_lme4("y ~ x + (1|g)", df)
    np.testing.assert_array_equal(d.rows, [0, 1, 3, 4, 5, 6, 7])


def test_all_rows_missing_is_an_error(df):
    df["x"] = np.nan
    with pytest.raises(ValueError, match="no rows left"):
        design_from_lme4("y ~ x + (1|g)", df)


def test_dropped_rows_keep_the_columns_the_model_reads():
    frame = pd.DataFrame(
        {"y": [1.0, 2, 3, 4, 5], "log(y)": [9.0, 8, 7, 6, 5], "x": [1.0, np.nan, 3, 4, 5],
         "w": [1.0, 2, 1, 2, 1], "g": ["a", "b", "a", "b", "a"], "unused": list("vwxyz")}
    )
    with pytest.warns(UserWarning, match="1 of 5 rows"):
        d = design_from_lme4("log(y) ~ x + (1|g)", frame, weights="w")
    np.testing.assert_array_equal(d.y, [9.0, 7, 6, 5])
    np.testing.assert_array_equal(d.weights, [1.0, 1, 2, 1])
    np.testing.assert_array_equal(d.X["x"], [1.0, 3, 4, 5])


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("y ~ nope + (1|g)", "unknown column.*'nope'.*fixed part"),
        ("y ~ x + (1|nope)", "unknown column.*'nope'.*random term"),
        ("y ~ x + (0 + nope|g)", "unknown column.*'nope'.*random term"),
        ("nope ~ x + (1|g)", "unknown column.*'nope'.*response"),
        ("y ~ x + offset(nope) + (1|g)", "unknown column.*'nope'.*offset"),
        ("y ~ x + (1|)", "no grouping factor"),
        ("y ~ x + (1|g:)", "empty grouping factor"),
        ("y ~ x + (|g)", "nothing before"),
        ("y ~ x + (1|g|h)", "exactly one"),
        ("y ~ x - (1|g)", "cannot subtract"),
        ("", "empty"),
        ("   ", "empty"),
        ("y ~ ", "right-hand side.*empty"),
        ("~ x + (1|g)", "no response"),
        ("y ~ x ~ z", "more than one"),
    ],
)
def test_formula_errors(df, formula, message):
    with pytest.raises(ValueError, match=message):
        design_from_lme4(formula, df)


@pytest.mark.parametrize(
    ("random", "message"),
    [
        ("~ 1|", "no grouping factor"),
        ("~ 1|nope", "unknown column.*'nope'"),
        ("~ 1|g + 1|h", "parentheses"),
        ("~ x", "not a random term"),
        ("y ~ 1|g", "one-sided"),
        ("", "empty"),
    ],
)
def test_random_formula_errors(df, random, message):
    with pytest.raises(ValueError, match=message):
        design_from_formulas("y ~ x", random, df)


def test_argument_errors(df):
    with pytest.raises(ValueError, match="unknown column.*'nope'.*weights"):
        design_from_lme4("y ~ x + (1|g)", df, weights="nope")
    with pytest.raises(ValueError, match="unknown column.*'nope'.*offset"):
        design_from_lme4("y ~ x + (1|g)", df, offset="np.log(nope)")
    with pytest.raises(ValueError, match="unknown column.*'nope'.*dispersion formulas.*disp"):
        design_from_lme4("y ~ x + (1|g)", df, extra_columns=["nope"])
    with pytest.raises(ValueError, match="weights has length 3 but data has 8"):
        design_from_lme4("y ~ x + (1|g)", df, weights=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="offset must be numeric"):
        design_from_lme4("y ~ x + (1|g)", df, offset=["a"] * 8)
    with pytest.raises(ValueError, match="weights 'f' must be numeric"):
        design_from_lme4("y ~ x + (1|g)", df, weights="f")


def test_response_type_errors(df):
    with pytest.raises(ValueError, match="response 'f'.*binomial"):
        design_from_lme4("f ~ x + (1|g)", df)
    with pytest.raises(ValueError, match="response 'f'.*exactly two levels, found 3"):
        design_from_lme4("f ~ x + (1|g)", df, binomial=True)


def test_data_must_be_a_frame_or_dict(df):
    with pytest.raises(ValueError, match="data must be a pandas DataFrame or a dict.*list"):
        design_from_lme4("y ~ x + (1|g)", [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="data must be"):
        design_from_formulas("y ~ x", "~ 1|g", np.ones((3, 2)))
    from_dict = design_from_lme4("y ~ x + (1|g)", df.to_dict(orient="list"))
    np.testing.assert_array_equal(from_dict.X, design_from_lme4("y ~ x + (1|g)", df).X)


def test_fixed_formula_syntax_error_is_value_error(df):
    with pytest.raises(ValueError):
        design_from_lme4("y ~ x + + * (1|g)", df)


# --------------------------------------------------------------------------------------
# Shared data sets
# --------------------------------------------------------------------------------------


def test_bacteria():
    bacteria = load_data("bacteria.csv")
    d = design_from_formulas("y ~ week", "~ 1|ID", bacteria, binomial=True)
    assert list(d.X.columns) == ["(Intercept)", "week"]
    assert d.X.shape == (220, 2)
    np.testing.assert_array_equal(d.y, (bacteria["y"] == "y").astype(float))
    (term,) = d.random
    assert len(term.levels) == 50
    assert term.levels == sorted(bacteria["ID"].unique())
    assert term.levels[:2] == ["X01", "X02"] and term.levels[-1] == "Z26"
    assert term.names[0] == "(Intercept)|ID:X01"
    assert term.Z.shape == (220, 50) and term.Z.nnz == 220
    np.testing.assert_array_equal(term.Z.sum(axis=0).A1, bacteria["ID"].value_counts().sort_index())
    lme4 = design_from_lme4("y ~ week + (1|ID)", bacteria, binomial=True)
    assert lme4.random[0].levels == term.levels


def test_seeds():
    seeds = load_data("seeds.csv")
    d = design_from_formulas(
        'r/n ~ extract*I(seed == "O73")', "~ 1|plate", seeds, weights="n", binomial=True
    )
    assert d.X.shape == (21, 4)
    assert d.X.columns[0] == "(Intercept)"
    np.testing.assert_allclose(d.y, seeds["r"] / seeds["n"])
    np.testing.assert_array_equal(d.weights, seeds["n"])
    np.testing.assert_array_equal(d.X.iloc[:, 1], (seeds["extract"] == "Cucumber").astype(float))
    np.testing.assert_array_equal(d.X.iloc[:, 2], (seeds["seed"] == "O73").astype(float))
    np.testing.assert_array_equal(d.X.iloc[:, 3], d.X.iloc[:, 1] * d.X.iloc[:, 2])
    assert d.random[0].levels == [str(i) for i in range(1, 22)]


def test_semiconductor_hglm2_levels_and_disp():
    semi = load_data("semiconductor.csv")
    d = design_from_lme4("y ~ x1 + x3 + x5 + x6 + (1|Device)", semi)
    assert list(d.X.columns) == ["(Intercept)", "x1", "x3", "x5", "x6"]
    assert d.random[0].levels == [str(i) for i in range(1, 17)]
    X_disp, terms = disp_design("~ x2 + x3", semi, d.rows)
    assert list(X_disp.columns) == ["(Intercept)", "x2", "x3"] and terms == []


def test_an_empty_frame_is_named(df):
    with pytest.raises(ValueError, match=r"data: is empty \(0 rows\)"):
        design_from_lme4("y ~ x + (1|g)", df.iloc[:0])
