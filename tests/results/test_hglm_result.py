"""Tests of ``hglm.results.hglm_result``: the HGLMResult attributes, tables and short report."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import hglm


def test_df_resid_from_leverages(fit) -> None:
    n = fit.fitted.shape[0]
    assert isinstance(fit.df_resid, int)
    assert fit.df_resid == round(n - float(np.sum(fit.hat_values[:n])))
    # p <= p_D <= p + q
    p, q = fit.fixef.shape[0], fit.ranef.shape[0]
    assert n - p - q <= fit.df_resid <= n - p


def test_leverages_computed_on_first_use(data) -> None:
    """A fit does not compute the report's leverages; their exact sum (p + q minus the
    random rows' sum, known from the last round) gives df_resid and equals the sum of
    the leverages once they are computed."""
    y, X, Z = data
    fresh = hglm.hglm(y=y, X=X, Z=Z, conv=1e-12)
    last = fresh._engine.last
    assert not last.hat.computed
    assert fresh.summary() is not None and not last.hat.computed
    n = y.shape[0]
    np.testing.assert_allclose(
        last.observation_leverage_sum, np.sum(fresh.hat_values[:n]), rtol=1e-12
    )
    assert last.hat.computed


def test_studentized_residuals(fit, data) -> None:
    y, X, _ = data
    n, p = X.shape
    scale = np.sqrt(np.sum(fit.deviances) / (n - p))
    expected = (y - fit.fitted) / scale / np.sqrt(1.0 - fit.hat_values[:n])
    np.testing.assert_allclose(fit.resid, expected, rtol=1e-12)


def test_print_and_repr(fit, capsys) -> None:
    print(fit)
    out = capsys.readouterr().out
    assert "dose" in out
    assert f"{fit.var_fix:.7g}" in out
    assert repr(fit) == out.rstrip("\n")


def test_ranef_frame(fit) -> None:
    frame = fit.ranef_frame()
    assert len(frame) == fit.ranef.shape[0] == 9
    assert set(frame.columns) >= {"term", "name", "estimate", "std_error"}
    np.testing.assert_allclose(frame["estimate"], fit.ranef.to_numpy(), rtol=1e-15)
    np.testing.assert_allclose(frame["std_error"], fit.se_ranef.to_numpy(), rtol=1e-15)
    assert (frame["term"] == "Random1").all()


def test_ranef_frame_two_terms() -> None:
    rng = np.random.default_rng(22)
    a = np.repeat(np.arange(6), 8)
    b = rng.integers(0, 4, size=48)
    Z = np.hstack([np.eye(6)[a], np.eye(4)[b]])
    y = rng.normal(size=6)[a] + rng.normal(size=4)[b] + rng.normal(size=48)
    fit = hglm.hglm(y=y, X=np.ones((48, 1)), Z=Z, rand_c=[6, 4])
    frame = fit.ranef_frame()
    assert len(frame) == 10
    assert list(frame["term"].value_counts().sort_index()) == [6, 4]
    assert len(fit.rand_disp_coef) == 2
    assert fit.var_ranef.shape == (2,)
    text = str(fit.summary())
    assert "Random1" in text and "Random2" in text


def test_x_disp_model(data) -> None:
    y, X, Z = data
    xd = pd.DataFrame({"(Intercept)": 1.0, "dose": X["dose"]})
    fit = hglm.hglm(y=y, X=X, Z=Z, x_disp=xd)
    assert fit.var_fix is None
    assert list(fit.disp_coef.index) == ["(Intercept)", "dose"]
    np.testing.assert_allclose(
        fit.disp_fitted, np.exp(xd.to_numpy() @ fit.disp_coef["estimate"].to_numpy()),
        rtol=1e-6,
    )
    assert "DISPERSION MODEL" in str(fit.summary())


def test_lengths_of_vectors(fit) -> None:
    n, q = fit.fitted.shape[0], fit.ranef.shape[0]
    assert fit.hat_values.shape == (n + q,)
    assert fit.deviances.shape == (n + q,)
    assert fit.resid.shape == (n,)
    assert fit.disp_fitted.shape == (n,)
    assert isinstance(fit.n_iter, int) and fit.converged is True



def _variant(kind: str, data) -> hglm.HGLMResult:
    y, X, Z = data
    if kind == "EQL":
        return hglm.hglm(y=y, X=X, Z=Z, calc_like=True)
    if kind == "EQL1":
        return hglm.hglm(y=y, X=X, Z=Z, method="EQL1")
    if kind == "dispersion model":
        xd = np.column_stack([np.ones(len(y)), np.arange(len(y)) % 2])
        return hglm.hglm(y=y, X=X, Z=Z, x_disp=xd)
    if kind == "double HGLM":
        df = pd.DataFrame({"y": y, "dose": X["dose"], "g": Z.argmax(axis=1)})
        return hglm.hglm2("y ~ dose + (1|g)", data=df, disp="~ 1 + (1|g)")
    if kind == "bigRR":
        return hglm.hglm(y=y, X=X, Z=Z, bigrr=True)
    if kind == "known covariance":
        k = Z.shape[1]
        A = 0.5 * np.eye(k) + 0.5 / k
        return hglm.hglm(y=y, X=X, Z=Z, rand_cov=[A])
    return hglm.hglm(y=(y > y.mean()).astype(float), X=X, Z=Z, family="binomial",
                     rand_family=hglm.Beta())


@pytest.mark.parametrize(
    "kind",
    ["EQL", "EQL1", "dispersion model", "double HGLM", "bigRR", "known covariance",
     "binomial-Beta"],
)
def test_pickles_to_an_equal_result(kind: str, data) -> None:
    """Every result type pickles (multiprocessing, joblib, caches) and unpickles to a fit
    with the same estimates, report, export and predictions (glum's round trip)."""
    fit = _variant(kind, data)
    back = pickle.loads(pickle.dumps(fit))
    assert type(back) is type(fit)
    assert back.to_json() == fit.to_json()
    assert str(back.summary()) == str(fit.summary())
    assert repr(back) == repr(fit)
    np.testing.assert_array_equal(back.predict(), fit.predict())
    pd.testing.assert_series_equal(back.se_ranef, fit.se_ranef)
    np.testing.assert_array_equal(back.hat_values, fit.hat_values)


def _no_slope_variance() -> pd.DataFrame:
    """The issue's example: lmer's REML fit of (1 + x | g) has a correlation of +1."""
    rng = np.random.default_rng(5)
    m, k = 30, 6
    g = np.repeat(np.arange(m), k)
    x = np.tile(np.arange(k), m) / k
    y = 1 + rng.normal(size=m)[g] + 0.5 * x + rng.normal(size=m * k)
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})


def test_singular_vector_term_fit_is_reported_and_is_lmers() -> None:
    data = _no_slope_variance()
    with pytest.warns(hglm.BoundaryWarning):
        reml = hglm.lmer("y ~ x + (1 + x|g)", data=data)
    with pytest.warns(hglm.BoundaryWarning, match="boundary \\(singular\\) fit"):
        fit = hglm.hglm2("y ~ x + (1 + x|g)", data=data)
    assert reml.singular and fit.singular and fit.converged
    np.testing.assert_allclose(fit.varcorr["vcov"], reml.varcorr["vcov"], rtol=1e-5)
    np.testing.assert_allclose(fit.fixef, reml.fixef, rtol=1e-7)
    assert "boundary (singular) fit: see help('isSingular')" in str(fit.summary())
    assert "boundary (singular) fit" in repr(fit)


def test_ordinary_fit_is_not_singular(fit) -> None:
    assert fit.singular is False
    assert "singular" not in repr(fit)
