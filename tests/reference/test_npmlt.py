"""hglm.npmlt against mixcat's npmlt (``$HGLM_SHARED/ref/glmm``): the notes' schizophrenia
models (k = 2, with and without ``formula_npo``) and the housing model (k = 3, EB).

The target is R's ``tight`` refit (tol = eps = 1e-10): -2 log-likelihood within 2e-6,
coefficients, mass points (in increasing order of the first coordinate) and masses within
1e-4 relative, and the standard errors of the same kind (npmlt's outer product of the
cluster scores, the default) within 1e-3.  Every expected number is read from the JSON.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from shared import load_data, load_ref

import hglm

M2LOGL_ATOL = 2e-6
PARAM_RTOL = 1e-4
SE_RTOL = 1e-3


def _schizo() -> pd.DataFrame:
    return load_data("schizo.csv")


CASES = {
    "schizo_npmlt_k2": (_schizo, "y ~ trt + sqrt(wk) + trt*sqrt(wk)",
                        {"random": "~ 1 + trt", "id": "id", "k": 2, "eb": True}),
    "schizo_npmlt_npo_k2": (_schizo, "y ~ trt*sqrt(wk)",
                            {"formula_npo": "~ trt + sqrt(wk)", "random": "~ 1 + trt",
                             "id": "id", "k": 2, "eb": True}),
    "housing_npmlt_k3": (lambda: load_data("housing_sim.csv"),
                         "House ~ factor(Sec) + factor(Time) + factor(Sec)*factor(Time)",
                         {"random": "~ 1", "id": "ID", "k": 3, "EB": True}),
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request: pytest.FixtureRequest) -> tuple[hglm.ordinal.NPMLTResult, dict, dict]:
    data, formula, kwargs = CASES[request.param]
    ref = load_ref(f"glmm/{request.param}")
    return hglm.npmlt(formula, data(), **kwargs), ref["tight"], ref["default"]


def test_likelihood_reaches_r_tight(case) -> None:
    fit, ref, _ = case
    assert fit.m2LogL <= ref["m2LogL"] + M2LOGL_ATOL
    assert fit.m2LogL == pytest.approx(ref["m2LogL"], abs=M2LOGL_ATOL)
    assert fit.converged


def test_coefficients_named_as_npmlt(case) -> None:
    fit, ref, _ = case
    assert list(fit.coefficients.index) == list(ref["coefficients"])
    np.testing.assert_allclose(fit.coefficients, list(ref["coefficients"].values()),
                               rtol=PARAM_RTOL)
    np.testing.assert_allclose(fit.se_coefficients, ref["se_coefficients"], rtol=SE_RTOL)


def test_mass_points_masses_and_covariance(case) -> None:
    fit, ref, _ = case
    np.testing.assert_allclose(fit.mass_points, ref["mass_points"], rtol=PARAM_RTOL)
    np.testing.assert_allclose(fit.se_mass_points, ref["se_mass_points"], rtol=SE_RTOL)
    np.testing.assert_allclose(fit.masses, ref["masses"], rtol=PARAM_RTOL)
    np.testing.assert_allclose(fit.se_masses, ref["se_masses"], rtol=SE_RTOL)
    np.testing.assert_allclose(fit.ranef_cov, ref["re_cov"], rtol=PARAM_RTOL)
    np.testing.assert_allclose(fit.se_ranef_var, ref["se_re_var"], rtol=SE_RTOL)
    if ref["mass_point_names"]:
        assert list(fit.mass_points.columns) == ref["mass_point_names"]


def test_empirical_bayes(case) -> None:
    fit, ref, _ = case
    head = np.asarray(ref["eBayes_head"])
    np.testing.assert_allclose(fit.posterior.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(fit.eb, fit.posterior.to_numpy() @ fit.mass_points.to_numpy(),
                               rtol=1e-12, atol=1e-12)
    if np.any(head):  # R's eBayes are zeros when called with EB = FALSE
        np.testing.assert_allclose(fit.eb.iloc[: len(head)], head, rtol=PARAM_RTOL, atol=1e-6)


def test_default_fit_not_below_r_default(case) -> None:
    fit, _, default = case
    assert fit.m2LogL <= default["m2LogL"] + 1e-9


SCHIZO = "y ~ trt + sqrt(wk) + trt*sqrt(wk)"


@pytest.mark.parametrize("k", [3, 4])
def test_two_dimensional_points_beyond_k2(k) -> None:
    """Where mixcat returns NaN estimates (two-dimensional random effects, k >= 3), the
    library finds the supremum and says why it is not a maximum: one class (placebo
    patients always severely ill) has its point at infinity along (-1, +1)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = hglm.npmlt(SCHIZO, _schizo(), random="~ 1 + trt", id="id", k=k)
    messages = [str(w.message) for w in caught]
    assert any("drifts to infinity" in m for m in messages)
    assert any("standard errors are NaN" in m for m in messages)
    assert fit.degenerate and fit.converged
    assert fit.m2LogL < load_ref("glmm/schizo_npmlt_k2")["tight"]["m2LogL"] - 60.0
    low = fit.mass_points.iloc[0]
    assert low["(Intercept)"] < -15 and low["(Intercept)"] + low["trt"] > -5
    assert np.all(np.isnan(fit.se_coefficients))
    np.testing.assert_allclose(fit.masses.to_numpy() @ fit.mass_points.to_numpy(), 0.0,
                               atol=1e-8)


def test_baseline_logit_and_k1_fit() -> None:
    """mixcat aborts on k = 1 and fails on blogit from its default starts."""
    data = _schizo()
    k1 = hglm.npmlt(SCHIZO, data, random="~ 1 + trt", id="id", k=1)
    plain = hglm.npmlt(SCHIZO, data, id="id", k=1)
    assert k1.m2LogL == pytest.approx(plain.m2LogL, abs=1e-8)
    nominal = hglm.npmlt(SCHIZO, data, random="~ 1 + trt", id="id", k=2, link="blogit")
    assert nominal.converged
    assert np.all(np.isfinite(nominal.se_coefficients)) and nominal.loglik > plain.loglik
