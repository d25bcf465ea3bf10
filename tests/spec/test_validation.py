"""Tests of ``hglm.spec.validation``: argument values refused by name, and the warning of
non-integer counts shared by the interfaces (issue 18)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import hglm
from hglm.spec import response_family
from hglm.spec.validation import (
    check_calc_like,
    check_column_types,
    check_full_rank,
    check_parentheses,
    check_prior_weights,
    check_unique_columns,
    plain_text,
    real_array,
    term_sizes,
    warn_non_integer_counts,
)


def _counts_data(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(8), 5)
    x = rng.normal(size=40)
    return pd.DataFrame({"x": x, "g": g, "n": 10, "r": rng.binomial(10, 0.4, 40),
                         "cnt": rng.poisson(3.0, 40)})


def test_more_columns_than_rows_are_named() -> None:
    X = np.random.default_rng(0).normal(size=(5, 8))
    with pytest.raises(ValueError, match="X: has 8 columns but only 5 rows"):
        check_full_rank(X, [f"c{j}" for j in range(8)], "X")


def test_a_column_scaled_by_1e200_is_named_not_the_intercept() -> None:
    x = np.random.default_rng(0).normal(size=20)
    X = np.column_stack([np.ones(20), x * 1e200])
    with pytest.raises(ValueError, match=r"X: column 'xs' has values of the order of .*e\+200"):
        check_full_rank(X, ["(Intercept)", "xs"], "X")


def test_column_units_do_not_decide_the_rank() -> None:
    x = np.random.default_rng(0).normal(size=20)
    check_full_rank(np.column_stack([np.ones(20), x * 1e60, x**2 * 1e-60]), ["a", "b", "c"], "X")


def test_near_collinear_columns_are_named() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=20)
    X = np.column_stack([np.ones(20), x, x + 1e-12 * rng.normal(size=20)])
    with pytest.raises(ValueError, match=r"X: is rank deficient: column\(s\) \['x2'\]"):
        check_full_rank(X, ["(Intercept)", "x", "x2"], "X")


def test_an_all_zero_column_is_named() -> None:
    with pytest.raises(ValueError, match=r"X: column\(s\) \['z'\] are all zero"):
        check_full_rank(np.column_stack([np.ones(4), np.zeros(4)]), ["(Intercept)", "z"], "X")


def test_near_collinear_formula_columns_are_named() -> None:
    rng = np.random.default_rng(1)
    data = _counts_data().assign(y=rng.normal(size=40))
    data["x2"] = data["x"] + 1e-12 * rng.normal(size=40)
    with pytest.raises(ValueError, match=r"X: is rank deficient: column\(s\) \['x2'\]"):
        hglm.hglm2("y ~ x + x2 + (1|g)", data=data)


def test_complex_numbers_are_refused() -> None:
    with pytest.raises(ValueError, match="y: has complex numbers"):
        real_array(np.array([1 + 0j, 2 + 1j]), "y")
    with pytest.raises(ValueError, match="y: has complex numbers"), warnings.catch_warnings():
        warnings.simplefilter("error")  # not numpy's ComplexWarning
        hglm.hglm(y=np.arange(10) + 0j, X=np.ones((10, 1)), Z=np.eye(5)[np.arange(10) % 5])


def test_prior_weights_must_be_positive() -> None:
    with pytest.raises(ValueError, match="weights: prior weights must be positive; 1 are not "
                                         "\\(the first 0, in row 1\\)"):
        check_prior_weights(np.array([1.0, 0.0, 2.0]))


def test_a_zero_in_a_weights_column_names_weights_not_y() -> None:
    data = _counts_data()
    data.loc[0, "n"] = 0
    data.loc[0, "r"] = 0
    with pytest.raises(ValueError, match="weights: prior weights must be positive"):
        hglm.hglm2("I(r/n) ~ x + (1|g)", data=data, weights="n", family="binomial")


def test_non_integer_successes_warn_and_refuse_the_likelihood() -> None:
    data = _counts_data().assign(r=lambda d: d["r"] + 0.5)
    with pytest.warns(UserWarning, match="y: non-integer #successes in a binomial glm!"):
        fit = hglm.hglm2("I(r/n) ~ x + (1|g)", data=data, weights="n", family="binomial")
    assert np.isfinite(fit.fixef).all()
    with pytest.warns(UserWarning, match="non-integer"), pytest.raises(
        ValueError, match="calc_like: the likelihood of non-integer counts in a binomial"
    ):
        hglm.hglm2("I(r/n) ~ x + (1|g)", data=data, weights="n", family="binomial",
                   fix_disp=1, calc_like=True)


def test_non_integer_poisson_counts_warn_and_refuse_the_likelihood() -> None:
    data = _counts_data().assign(cnt=lambda d: d["cnt"] + 0.5)
    with pytest.warns(UserWarning, match="y: non-integer counts in a poisson model"):
        hglm.hglm2("cnt ~ x + (1|g)", data=data, family="poisson")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="calc_like: .*poisson"):
        hglm.hglm2("cnt ~ x + (1|g)", data=data, family="poisson", fix_disp=1, calc_like=True)


def test_whole_counts_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not warn_non_integer_counts(np.array([0.0, 3.0, 7.0000001]), "poisson")
    check_calc_like(True, response_family("poisson"), 1.0, np.array([0.0, 3.0]))


def test_unique_column_names() -> None:
    frame = pd.concat([pd.DataFrame({"y": [1.0], "x": [2.0]}), pd.DataFrame({"x": [3.0]})],
                      axis=1)
    with pytest.raises(ValueError, match=r"data: has duplicate column names \['x'\]"):
        check_unique_columns(frame, "data")
    with pytest.raises(ValueError, match=r"data: has duplicate column names \['x'\]"):
        hglm.hglm2("y ~ x + (1|g)", data=frame)
    with pytest.raises(ValueError, match=r"X: has duplicate column names \['a'\]"):
        hglm.hglm(y=np.arange(6.0), X=pd.DataFrame(np.ones((6, 2)), columns=["a", "a"]),
                  Z=np.eye(3)[np.arange(6) % 3])


def test_dates_are_named() -> None:
    frame = pd.DataFrame({"d": pd.date_range("2020-01-01", periods=3), "x": [1.0, 2, 3]})
    check_column_types(frame, ["x"])
    with pytest.raises(ValueError, match="data: column 'd' holds dates or times"):
        check_column_types(frame, ["x", "d"])
    data = _counts_data().assign(d=pd.date_range("2020-01-01", periods=40), y=1.0)
    with pytest.raises(ValueError, match="data: column 'd' holds dates or times"):
        hglm.hglm2("y ~ d + (1|g)", data=data)


@pytest.mark.parametrize(("formula", "message"), [
    ("y ~ x + (1|g", r"formula: the '\(' at position 8 of 'y ~ x \+ \(1\|g' is not closed"),
    ("y ~ x + 1|g)", r"formula: the '\)' at position 11 .* closes no '\('"),
])
def test_unbalanced_parentheses_are_named(formula: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        hglm.hglm2(formula, data=_counts_data())
    assert "\x1b" not in str(info.value)


def test_parentheses_in_quoted_text_are_not_counted() -> None:
    check_parentheses('y ~ I(seed == "a(") + (1|g)', "formula")


def test_plain_text_removes_colour_codes() -> None:
    assert plain_text("x + (1\x1b[1;31m|\x1b[0mg") == "x + (1|g"


@pytest.mark.parametrize("rand_c", [[2.7, 4.2], ["3", 4], [True, 6], [[3, 4]]])
def test_rand_c_must_be_whole_numbers(rand_c: object) -> None:
    with pytest.raises(ValueError, match="rand_c: must be whole numbers"):
        term_sizes(rand_c, 7)


def test_rand_c_as_r_gives_it() -> None:
    assert term_sizes([3.0, 4], 7) == [3, 4]
    assert term_sizes(np.array([3, 4]), 7) == [3, 4]
    assert term_sizes(7, 7) == [7]  # R's RandC of one term is a number
    with pytest.raises(ValueError, match=r"rand_c: .*\[6\] must be positive and sum to the 8"):
        term_sizes(6, 8)


def test_non_integer_successes_warn_with_rs_words() -> None:
    with pytest.warns(UserWarning, match=r"non-integer #successes in a binomial glm!"):
        assert warn_non_integer_counts(np.array([0.3, 1.0, 0.5]), "binomial")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not warn_non_integer_counts(np.array([1, 2, 3]) / 7 * 7.0, "binomial")
