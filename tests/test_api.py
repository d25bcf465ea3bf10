"""Tests of the matrix interface ``hglm.hglm(y=, X=, Z=, ...)``: bad input (API.md,
"Errors") and the handling of names and sparse designs."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import hglm


def _data(seed: int = 0, k: int = 8, m: int = 5):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(k), m)
    n = k * m
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    Z = np.eye(k)[g]
    y = 1.0 + 0.5 * x + rng.normal(size=k)[g] + rng.normal(size=n)
    return y, X, Z, g


def raises_naming(argument: str, **kwargs):
    """Fit with ``kwargs`` and require a ValueError whose message names ``argument``."""
    with pytest.raises(ValueError) as info:
        hglm.hglm(**kwargs)
    message = str(info.value)
    pattern = rf"(?<![\w.]){re.escape(argument)}(?![\w])"
    assert re.search(pattern, message), f"{argument!r} not named in: {message}"
    return message


@pytest.fixture
def base() -> dict:
    y, X, Z, _ = _data()
    return {"y": y, "X": X, "Z": Z}


# --- lengths ------------------------------------------------------------------------


def test_x_rows_mismatch(base) -> None:
    raises_naming("X", **{**base, "X": base["X"][:-1]})


def test_z_rows_mismatch(base) -> None:
    raises_naming("Z", **{**base, "Z": base["Z"][:-2]})


def test_sparse_z_rows_mismatch(base) -> None:
    raises_naming("Z", **{**base, "Z": sparse.csr_matrix(base["Z"][1:])})


def test_y_shorter_than_designs(base) -> None:
    # y defines n; the designs are then the ones that disagree
    msg = raises_naming("X", **{**base, "y": base["y"][:-1]})
    assert "y" in msg


def test_weights_length(base) -> None:
    raises_naming("weights", **base, weights=np.ones(3))


def test_offset_length(base) -> None:
    raises_naming("offset", **base, offset=np.zeros(len(base["y"]) + 1))


# --- missing and infinite values -----------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_y(base, bad: float) -> None:
    y = base["y"].copy()
    y[3] = bad
    raises_naming("y", **{**base, "y": y})


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_x(base, bad: float) -> None:
    X = base["X"].copy()
    X[2, 1] = bad
    raises_naming("X", **{**base, "X": X})


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_z_dense(base, bad: float) -> None:
    Z = base["Z"].copy()
    Z[0, 0] = bad
    raises_naming("Z", **{**base, "Z": Z})


def test_nonfinite_z_sparse(base) -> None:
    Z = sparse.csr_matrix(base["Z"])
    Z.data[4] = np.nan
    raises_naming("Z", **{**base, "Z": Z})


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_weights(base, bad: float) -> None:
    w = np.ones(len(base["y"]))
    w[1] = bad
    raises_naming("weights", **base, weights=w)


@pytest.mark.parametrize("bad", [np.nan, -np.inf])
def test_nonfinite_offset(base, bad: float) -> None:
    off = np.zeros(len(base["y"]))
    off[5] = bad
    raises_naming("offset", **base, offset=off)


def test_nan_in_dataframe_x(base) -> None:
    X = pd.DataFrame(base["X"], columns=["a", "b"])
    X.iloc[4, 1] = np.nan
    raises_naming("X", **{**base, "X": X})


# --- values outside their range ----------------------------------------------------------


@pytest.mark.parametrize("value", [0.0, -1.0])
def test_nonpositive_weights(base, value: float) -> None:
    w = np.ones(len(base["y"]))
    w[7] = value
    raises_naming("weights", **base, weights=w)


def test_binomial_y_outside_support(base) -> None:
    y = (base["y"] > 1).astype(float)
    y[0] = 2.0
    raises_naming("y", **{**base, "y": y}, family="binomial")


def test_poisson_negative_y(base) -> None:
    y = np.round(np.abs(base["y"]))
    y[0] = -1.0
    raises_naming("y", **{**base, "y": y}, family="poisson")


@pytest.mark.parametrize("family", ["gamma", hglm.Gamma(link="log"), "inverse_gaussian"])
def test_positive_families_reject_zero(base, family) -> None:
    y = np.abs(base["y"]) + 0.1
    y[2] = 0.0
    raises_naming("y", **{**base, "y": y}, family=family)


@pytest.mark.parametrize("rand_c", [[3, 4], [8, 1], [0, 8], [-1, 9]])
def test_rand_c_not_summing_to_columns(base, rand_c) -> None:
    raises_naming("rand_c", **base, rand_c=rand_c)


def test_rand_family_count_mismatch(base) -> None:
    raises_naming("rand_family", **base, rand_c=[4, 4], rand_family=["gaussian"] * 3)


# --- unknown names ------------------------------------------------------------------------


def test_unknown_family(base) -> None:
    raises_naming("family", **base, family="gausian")


def test_unknown_rand_family(base) -> None:
    raises_naming("rand_family", **base, rand_family="normalish")


def test_response_only_family_as_rand_family(base) -> None:
    raises_naming("rand_family", **base, rand_family="poisson")


def test_unknown_link(base) -> None:
    msg = raises_naming("family", **base, family=hglm.Gaussian(link="logit"))
    assert "link" in msg


def test_unknown_link_disp(base) -> None:
    raises_naming("link_disp", **base, link_disp="nolink")


def test_unknown_link_rand_disp(base) -> None:
    raises_naming("link_rand_disp", **base, link_rand_disp="nolink")


def test_unknown_method(base) -> None:
    raises_naming("method", **base, method="PQL")  # "ML" and "REML" are methods (issue 14)


# --- rank, dispersion designs and controls ------------------------------------------------


def test_rank_deficient_x_names_a_column(base) -> None:
    X = pd.DataFrame(
        {"one": 1.0, "a": base["X"][:, 1], "a_twice": 2.0 * base["X"][:, 1]}
    )
    msg = raises_naming("X", **{**base, "X": X})
    assert "a_twice" in msg


def test_rank_deficient_x_array(base) -> None:
    X = np.column_stack([base["X"], base["X"][:, 0] + base["X"][:, 1]])
    msg = raises_naming("X", **{**base, "X": X})
    assert "X.3" in msg


def test_x_disp_wrong_rows(base) -> None:
    raises_naming("x_disp", **base, x_disp=np.ones((len(base["y"]) - 1, 1)))


def test_x_disp_rank_deficient(base) -> None:
    n = len(base["y"])
    raises_naming("x_disp", **base, x_disp=np.column_stack([np.ones(n), np.ones(n)]))


def test_x_rand_disp_wrong_rows(base) -> None:
    raises_naming("x_rand_disp[0]", **base, x_rand_disp=[np.ones((3, 1))])


@pytest.mark.parametrize("value", [0.0, -1.0, np.nan, np.inf])
def test_fix_disp_not_positive(base, value: float) -> None:
    raises_naming("fix_disp", **base, fix_disp=value)


@pytest.mark.parametrize("value", [0.0, -1e-6, np.nan])
def test_conv_not_positive(base, value: float) -> None:
    raises_naming("conv", **base, conv=value)


def test_maxit_below_one(base) -> None:
    raises_naming("maxit", **base, maxit=0)


def test_missing_matrix(base) -> None:
    with pytest.raises(ValueError, match=r"\bZ\b"):
        hglm.hglm(y=base["y"], X=base["X"])


def test_z_without_columns(base) -> None:
    raises_naming("Z", **{**base, "Z": np.zeros((len(base["y"]), 0))})


# --- names and sparse input ------------------------------------------------------------------


def test_dataframe_x_keeps_column_names() -> None:
    y, X, Z, g = _data(2)
    Xdf = pd.DataFrame(X, columns=["(Intercept)", "dose"])
    Zdf = pd.DataFrame(Z, columns=[f"clinic{j}" for j in range(Z.shape[1])])
    fit = hglm.hglm(y=pd.Series(y, name="resp"), X=Xdf, Z=Zdf)
    assert list(fit.fixef.index) == ["(Intercept)", "dose"]
    assert list(fit.se_fixef.index) == ["(Intercept)", "dose"]
    assert list(fit.ranef.index) == list(Zdf.columns)
    assert "dose" in str(fit.summary())
    # the same numbers as the plain arrays
    plain = hglm.hglm(y=y, X=X, Z=Z)
    np.testing.assert_allclose(fit.fixef.to_numpy(), plain.fixef.to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_z_gives_the_dense_fit(fmt: str) -> None:
    y, X, Z, _ = _data(2)
    dense = hglm.hglm(y=y, X=X, Z=Z, conv=1e-10)
    sp = hglm.hglm(y=y, X=X, Z=sparse.csr_matrix(Z).asformat(fmt), conv=1e-10)
    np.testing.assert_allclose(sp.fixef.to_numpy(), dense.fixef.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(sp.ranef.to_numpy(), dense.ranef.to_numpy(), rtol=1e-10,
                               atol=1e-12)
    assert sp.var_fix == pytest.approx(dense.var_fix, rel=1e-10)
    np.testing.assert_allclose(sp.var_ranef, dense.var_ranef, rtol=1e-10)
    np.testing.assert_allclose(sp.hat_values, dense.hat_values, rtol=1e-10)
    np.testing.assert_allclose(sp.se_fixef.to_numpy(), dense.se_fixef.to_numpy(), rtol=1e-10)


def test_sparse_two_terms_with_slope_gives_the_dense_fit() -> None:
    # an intercept term plus a (non-indicator) dense-ish term, split by rand_c
    y, X, Z, g = _data(3, k=6, m=8)
    rng = np.random.default_rng(3)
    Z2 = rng.normal(size=(len(y), 2)) * (rng.uniform(size=(len(y), 2)) < 0.7)
    y = y + Z2 @ np.array([1.5, -1.0])
    Zfull = np.hstack([Z, Z2])
    kw = dict(y=y, X=X, rand_c=[6, 2], conv=1e-10)
    dense = hglm.hglm(Z=Zfull, **kw)
    sp = hglm.hglm(Z=sparse.csc_matrix(Zfull), **kw)
    np.testing.assert_allclose(sp.fixef.to_numpy(), dense.fixef.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(sp.var_ranef, dense.var_ranef, rtol=1e-10)
    assert sp.var_fix == pytest.approx(dense.var_fix, rel=1e-10)
    assert len(sp.var_ranef) == 2
    assert sp.converged and dense.converged


def test_boolean_binomial_response_equals_numeric() -> None:
    y, X, Z, g = _data(4, k=12, m=8)
    rng = np.random.default_rng(4)
    yb = rng.uniform(size=len(y)) < 1 / (1 + np.exp(-(X[:, 1] + 1.5 * rng.normal(size=12)[g])))
    a = hglm.hglm(y=yb, X=X, Z=Z, family="binomial", conv=1e-10)
    b = hglm.hglm(y=yb.astype(float), X=X, Z=Z, family="binomial", conv=1e-10)
    np.testing.assert_allclose(a.fixef.to_numpy(), b.fixef.to_numpy(), rtol=1e-12)
    assert a.converged and a.var_ranef[0] > 0.1


def test_weights_equal_replicated_rows_for_gaussian_fixed_dispersion() -> None:
    # with phi fixed, prior weight 2 on a row is the same as entering it twice
    y, X, Z, _ = _data(5)
    w = np.ones(len(y))
    w[:6] = 2.0
    fit_w = hglm.hglm(y=y, X=X, Z=Z, weights=w, fix_disp=1.0, conv=1e-14)
    idx = np.concatenate([np.arange(len(y)), np.arange(6)])
    fit_r = hglm.hglm(y=y[idx], X=X[idx], Z=Z[idx], fix_disp=1.0, conv=1e-14)
    np.testing.assert_allclose(fit_w.fixef.to_numpy(), fit_r.fixef.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(fit_w.var_ranef, fit_r.var_ranef, rtol=1e-8)


def test_offset_shifts_gaussian_intercept() -> None:
    y, X, Z, _ = _data(6)
    a = hglm.hglm(y=y, X=X, Z=Z, conv=1e-12)
    b = hglm.hglm(y=y + 3.0, X=X, Z=Z, offset=np.full(len(y), 3.0), conv=1e-12)
    np.testing.assert_allclose(b.fixef.to_numpy(), a.fixef.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(b.var_ranef, a.var_ranef, rtol=1e-8)
    np.testing.assert_allclose(b.fitted, a.fitted + 3.0, rtol=1e-9)


# --- arguments of the wrong type ------------------------------------------------------


def test_link_disp_not_a_string(base) -> None:
    raises_naming("link_disp", **base, link_disp=["log"])


def test_conv_not_a_number(base) -> None:
    raises_naming("conv", **base, conv="1e-6")


def test_fix_disp_not_a_number(base) -> None:
    raises_naming("fix_disp", **base, fix_disp="1")


def test_maxit_not_a_number(base) -> None:
    raises_naming("maxit", **base, maxit="many")


@pytest.mark.parametrize("argument", ["X", "Z"])
def test_non_numeric_design(base, argument: str) -> None:
    bad = np.where(base[argument] != 0, "a", "b")
    raises_naming(argument, **{**base, argument: bad})


def test_two_column_y_is_blamed_on_y(base) -> None:
    y2 = np.column_stack([base["y"], base["y"]])
    with pytest.raises(ValueError) as info:
        hglm.hglm(**{**base, "y": y2})
    assert str(info.value).startswith("y"), str(info.value)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_startval_not_finite(base, bad: float) -> None:
    sv = np.concatenate([[1.0, 0.5], np.zeros(base["Z"].shape[1]), [0.5, 1.0]])
    sv[0] = bad
    raises_naming("startval", **base, startval=sv)


def _level_covariate_data(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    groups, per = 40, 15
    region = rng.integers(0, 2, groups)
    u = rng.normal(0.0, np.sqrt(np.where(region == 1, 2.0, 0.3)))
    g = np.repeat(np.arange(groups), per)
    return pd.DataFrame({"y": 1 + u[g] + rng.normal(size=g.size), "g": g, "region": region[g]})


def test_rand_disp_formula_equals_x_rand_disp() -> None:
    df = _level_covariate_data()
    fit = hglm.hglm2("y ~ 1 + (1|g)", data=df, rand_disp="~ region")
    levels = np.sort(df["g"].unique())
    Z = (df["g"].to_numpy()[:, None] == levels[None, :]).astype(float)
    region = df.groupby("g")["region"].first().loc[levels].to_numpy()
    ref = hglm.hglm(y=df["y"], X=np.ones((len(df), 1)), Z=Z,
                    x_rand_disp=[np.column_stack([np.ones(levels.size), region])])
    np.testing.assert_allclose(fit.rand_disp_coef[0].to_numpy(),
                               ref.rand_disp_coef[0].to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(fit.ranef.to_numpy(), ref.ranef.to_numpy(), rtol=1e-10)
    assert list(fit.rand_disp_coef[0].index) == ["(Intercept)", "region"]
    same = hglm.hglm(fixed="y ~ 1", random="~ 1|g", data=df, rand_disp={"g": "~ region"})
    np.testing.assert_allclose(same.var_ranef, fit.var_ranef, rtol=1e-12)


def test_rand_disp_errors() -> None:
    df = _level_covariate_data()
    df["noise"] = np.arange(len(df), dtype=float)
    with pytest.raises(ValueError, match="constant within each level"):
        hglm.hglm2("y ~ 1 + (1|g)", data=df, rand_disp="~ noise")
    with pytest.raises(ValueError, match="rand_disp: no random term is grouped by 'h'"):
        hglm.hglm2("y ~ 1 + (1|g)", data=df, rand_disp={"h": "~ region"})
    with pytest.raises(ValueError, match="disp, rand_disp"):
        hglm.hglm(y=df["y"], X=np.ones((len(df), 1)), Z=np.ones((len(df), 1)),
                  rand_disp="~ region")
