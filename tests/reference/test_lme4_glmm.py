"""glmer through lme4's surface (``hglm.glmer`` with R's own calls) against lme4
(``$HGLM_SHARED/ref/glmm``): what the user reads of the fit.

The estimators' agreement with R is tested on arrays in test_glmm_estimators.py; here the
same cases go through the formula layer and the result class: R's coefficient names,
lme4's order of the random terms, logLik, AIC, BIC, lme4's deviance() (the squared
deviance residuals at the conditional modes), df.residual, theta, VarCorr, the
conditional modes with their SDs, the fitted values and the printed title.  Every
expected number is read from the JSON.

lme4's quadrature log-likelihood (nAGQ > 1) leaves out the saturated binomial
log-likelihood sum log Binom(s_i; n_i, s_i / n_i); the library reports the true one, so
R's logLik, AIC and BIC are compared after adding that term, computed from the data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from shared import load_data, load_ref

import hglm

LOGLIK_ATOL = 1e-6
PARAM_RTOL = 1e-4
SE_RTOL = 1e-3

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def _cbpp() -> pd.DataFrame:
    d = load_data("cbpp.csv")
    return d.assign(period=d.period.astype(str), obs=np.arange(1, len(d) + 1))


def _bacteria() -> pd.DataFrame:
    return load_data("bacteria.csv")


def _pump() -> pd.DataFrame:
    d = load_data("pump.csv")
    return d.assign(Gr=d.Gr.astype(str))


CASES = {
    "cbpp_glmer_laplace": (_cbpp, CBPP, {}),
    "cbpp_glmer_obs": (_cbpp, CBPP + " + (1 | obs)", {}),
    "cbpp_glmer_prop_weights": (_cbpp, "incidence / size ~ period + (1 | herd)",
                                {"weights": "size"}),
    "cbpp_glmer_agq20": (_cbpp, CBPP, {"nAGQ": 20}),
    "bacteria_glmer_laplace": (_bacteria, "y ~ week + (1 | ID)", {}),
    "bacteria_glmer_agq10": (_bacteria, "y ~ week + (1 | ID)", {"nAGQ": 10}),
    "bacteria_glmer_nagq0": (_bacteria, "y ~ week + (1 | ID)", {"nAGQ": 0}),
    "pump_glmer_poisson": (_pump, "S ~ Gr + (1 | System) + offset(log(t))",
                           {"family": "poisson"}),
    "hr_glmer_agq20": (lambda: load_data("hr_sim.csv"),
                       "HR_incr ~ Time + Drug + Time * Drug + (1 | Patient)", {"nAGQ": 20}),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request) -> tuple[str, dict, hglm.MarginalResult]:
    data, formula, kwargs = CASES[request.param]
    ref = load_ref(f"glmm/{request.param}")
    return request.param, ref, hglm.glmer(formula, data=data(), **kwargs)


def _left_out(fit: hglm.MarginalResult) -> float:
    """The saturated binomial log-likelihood that lme4's quadrature logLik leaves out."""
    if fit.nAGQ <= 1 or fit.family.name != "binomial":
        return 0.0
    pb = fit.problem
    trials = np.round(pb.weights)
    return float(np.sum(stats.binom.logpmf(np.round(pb.y * trials), trials, pb.y)))


def test_likelihood_and_information_criteria(case):
    _, ref, fit = case
    tight, left_out = ref["tight"], _left_out(fit)
    assert fit.loglik == pytest.approx(tight["logLik"] + left_out, abs=LOGLIK_ATOL)
    assert fit.aic == pytest.approx(tight["AIC"] - 2 * left_out, abs=2 * LOGLIK_ATOL)
    assert fit.bic == pytest.approx(tight["BIC"] - 2 * left_out, abs=2 * LOGLIK_ATOL)
    assert fit.deviance == pytest.approx(tight["deviance"], rel=PARAM_RTOL)
    assert (fit.df_resid, fit.nobs) == (tight["df_resid"], tight["nobs"])
    # never below R's default fit; R's bacteria nAGQ = 10 default reports more than its
    # own tight optimum (more than the likelihood at its estimates: test_glmm_estimators)
    floor = min(ref["default"]["logLik"], tight["logLik"]) + left_out
    assert fit.loglik >= floor - 1e-9


def test_named_estimates(case):
    _, ref, fit = case
    tight = ref["tight"]
    assert list(fit.fixef.index) == list(tight["fixef"])
    np.testing.assert_allclose(fit.fixef, list(tight["fixef"].values()), rtol=PARAM_RTOL,
                               atol=PARAM_RTOL * np.max(np.abs(fit.fixef)))
    np.testing.assert_allclose(fit.se_fixef, tight["se_fixef"], rtol=SE_RTOL)
    np.testing.assert_allclose(fit.theta, tight["theta"], rtol=PARAM_RTOL)
    assert fit.sigma == 1.0 and fit.singular == tight["singular"]


def test_varcorr_in_lme4s_order(case):
    _, ref, fit = case
    expected = ref["tight"]["varcorr"]
    vc = fit.varcorr
    assert list(vc["grp"]) == [c["group"] for c in expected]  # no residual row
    assert list(vc["var1"]) == [c["terms"][0] for c in expected]
    np.testing.assert_allclose(vc["vcov"], [c["cov"][0][0] for c in expected],
                               rtol=2 * PARAM_RTOL)


def test_conditional_modes_and_sds(case):
    _, ref, fit = case
    re = fit.ranef
    for group, expected in ref["tight"]["ranef"].items():
        rows = re[re["grpvar"] == group]
        assert list(rows["grp"]) == [str(level) for level in expected["levels"]]
        mode = np.asarray(expected["mode"][0])
        np.testing.assert_allclose(rows["condval"], mode, rtol=10 * PARAM_RTOL,
                                   atol=10 * PARAM_RTOL * np.max(np.abs(mode)))
        np.testing.assert_allclose(rows["condsd"], expected["cond_sd"][0], rtol=SE_RTOL)


def test_fitted_values_and_title(case):
    _, ref, fit = case
    head = np.asarray(ref["tight"]["fitted_head"])
    np.testing.assert_allclose(fit.fitted[: head.size], head, rtol=10 * PARAM_RTOL)
    title = str(fit.summary()).splitlines()[0]
    approx = ("Laplace Approximation" if fit.nAGQ == 1
              else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {fit.nAGQ}")
    assert title == ("Generalized linear mixed model fit by maximum likelihood "
                     f"({approx}) ['glmerMod']")
