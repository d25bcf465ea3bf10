"""Tests of ``hglm.results.result``: the HGLMResult attributes, tables and printed reports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hglm


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(21)
    k, m = 9, 6
    g = np.repeat(np.arange(k), m)
    n = k * m
    x = rng.normal(size=n)
    X = pd.DataFrame({"(Intercept)": 1.0, "dose": x})
    Z = np.eye(k)[g]
    y = 2.0 + 0.8 * x + rng.normal(size=k)[g] + rng.normal(size=n)
    return y, X, Z


@pytest.fixture(scope="module")
def fit(data) -> hglm.HGLMResult:
    y, X, Z = data
    return hglm.hglm(y=y, X=X, Z=Z, conv=1e-12)


def test_summary_text(fit) -> None:
    text = str(fit.summary())
    assert "MEAN MODEL" in text
    assert "DISPERSION MODEL" in text
    assert text.index("MEAN MODEL") < text.index("DISPERSION MODEL")
    for name in ("(Intercept)", "dose"):
        assert name in text
    assert f"{fit.df_resid} degrees of freedom" in text
    assert "converged" in text


def test_fixed_table_and_p_values(fit) -> None:
    tab = fit.summary().tables["fixed"]
    assert list(tab.columns) == ["estimate", "std_error", "t_value", "p_value"]
    assert list(tab.index) == ["(Intercept)", "dose"]
    np.testing.assert_allclose(tab["estimate"], fit.fixef, rtol=1e-15)
    np.testing.assert_allclose(tab["std_error"], fit.se_fixef, rtol=1e-15)
    t = fit.fixef.to_numpy() / fit.se_fixef.to_numpy()
    np.testing.assert_allclose(tab["t_value"], t, rtol=1e-14)
    np.testing.assert_allclose(
        tab["p_value"], 2.0 * stats.t.sf(np.abs(t), fit.df_resid), rtol=1e-12
    )
    assert np.all((tab["p_value"] >= 0) & (tab["p_value"] <= 1))


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


def test_dispersion_tables(fit) -> None:
    disp = fit.summary().tables["dispersion"]
    assert list(disp.columns) == ["estimate", "std_error"]
    # intercept-only log link: var_fix = exp(intercept); SE = sqrt(2 / sum(1 - h))
    n = fit.fitted.shape[0]
    assert fit.var_fix == pytest.approx(np.exp(disp["estimate"].iloc[0]), rel=1e-12)
    se = np.sqrt(2.0 / np.sum(1.0 - fit.hat_values[:n]))
    assert disp["std_error"].iloc[0] == pytest.approx(se, rel=1e-10)
    rd = fit.rand_disp_coef[0]
    assert fit.var_ranef[0] == pytest.approx(np.exp(rd["estimate"].iloc[0]), rel=1e-12)
    se_r = np.sqrt(2.0 / np.sum(1.0 - fit.hat_values[n:]))
    assert rd["std_error"].iloc[0] == pytest.approx(se_r, rel=1e-10)


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


def test_fix_disp_summary(data) -> None:
    y, X, Z = data
    fit = hglm.hglm(y=y, X=X, Z=Z, fix_disp=1.0)
    assert fit.disp_coef is None
    assert fit.summary().tables["dispersion"] is None
    assert "fix_disp" in str(fit.summary())


def test_lengths_of_vectors(fit) -> None:
    n, q = fit.fitted.shape[0], fit.ranef.shape[0]
    assert fit.hat_values.shape == (n + q,)
    assert fit.deviances.shape == (n + q,)
    assert fit.resid.shape == (n,)
    assert fit.disp_fitted.shape == (n,)
    assert isinstance(fit.n_iter, int) and fit.converged is True
