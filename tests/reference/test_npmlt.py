"""hglm.npmlt against mixcat's npmlt (``$HGLM_SHARED/ref/glmm``): the notes' schizophrenia
models (k = 2, with and without ``formula_npo``) and the housing model (k = 3, EB).

The target is R's ``tight`` refit (tol = eps = 1e-10): -2 log-likelihood within 2e-6,
coefficients, mass points (in increasing order of the first coordinate) and masses within
1e-4 relative, and the standard errors of the same kind (npmlt's outer product of the
cluster scores, the default) within 1e-3.  Every expected number is read from the JSON.
"""

from __future__ import annotations

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
                        {"random": "~ 1 + trt", "id": "id", "k": 2}),
    "schizo_npmlt_npo_k2": (_schizo, "y ~ trt*sqrt(wk)",
                            {"formula_npo": "~ trt + sqrt(wk)", "random": "~ 1 + trt",
                             "id": "id", "k": 2}),
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
