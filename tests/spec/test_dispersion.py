"""Tests of ``hglm.spec.dispersion``: the designs of the dispersion models."""

from __future__ import annotations

import numpy as np
import pytest

import hglm
from hglm.spec.dispersion import disp_design, dispersion_columns, rand_disp_designs
from hglm.spec.formula import design_from_lme4
from hglm.spec.variables import formula_columns


def test_disp_design_on_the_same_rows(df):
    df.loc[2, "y"] = np.nan
    with pytest.warns(UserWarning):
        d = design_from_lme4("y ~ x + (1|g)", df, extra_columns=formula_columns("~ t + h"))
    X_disp, terms = disp_design("~ t + h", df, d.rows)
    assert list(X_disp.columns) == ["(Intercept)", "t", "hb"]
    np.testing.assert_array_equal(X_disp["t"], df["t"].iloc[d.rows])
    assert terms == []


def test_disp_design_with_random_terms(df):
    X_disp, terms = disp_design("~ 1 + (1|h)", df, np.arange(8))
    assert list(X_disp.columns) == ["(Intercept)"]
    assert [t.label for t in terms] == ["(1|h)"]
    assert terms[0].Z.shape == (8, 2)
    X_disp, _ = disp_design("x", df, np.array([0, 1]))
    assert list(X_disp.columns) == ["(Intercept)", "x"]


def test_disp_design_errors(df):
    with pytest.raises(ValueError, match="one-sided"):
        disp_design("y ~ x", df, np.arange(8))
    with pytest.raises(ValueError, match="unknown column.*'nope'.*disp"):
        disp_design("~ nope", df, np.arange(8))
    with pytest.raises(ValueError, match="offset"):
        disp_design("~ x + offset(t)", df, np.arange(8))
    df.loc[0, "t"] = np.nan
    with pytest.raises(ValueError, match="t have missing values.*extra_columns"):
        disp_design("~ t", df, np.arange(8))


def test_dispersion_columns():
    assert dispersion_columns("~ x2 + x3", {"g": "~ region", "h": "~ np.log(size)"}) == [
        "x2", "x3", "region", "size",
    ]
    assert dispersion_columns(None, "~ a") == ["a"]
    assert dispersion_columns(None, None) == []


def test_x_rand_disp_rows_are_counted_against_the_term_not_y():
    with pytest.raises(ValueError, match=r"x_rand_disp\[0\]: has 5 rows but random term 1 has "
                                         r"8 effects"):
        rand_disp_designs([np.ones((5, 1))], [8])


def test_an_unknown_column_of_disp_names_disp():
    rng = np.random.default_rng(0)
    data = {"y": rng.normal(size=20), "g": np.arange(20) % 4}
    with pytest.raises(ValueError, match=r"unknown column.*'foo'.*\(disp, rand_disp\)"):
        hglm.hglm2("y ~ 1 + (1|g)", data=data, disp="~ foo")
