"""lmer's REML and ML fits of the Dyestuff data against lme4 (``$HGLM_SHARED/ref/glmm``).

Both ``hglm.lmer`` and ``hglm.hglm2(..., method=...)`` must reach R's tight optimum:
log-likelihood within 1e-6 absolute, theta, fixed effects, variance components and sigma
within 1e-4 relative, standard errors and conditional SDs within 1e-3 relative; AIC, BIC,
df.residual and nobs as R's; and the default fit's log-likelihood never below R's
default fit's.  Every expected number is read from the JSON.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from shared import load_data, load_ref

import hglm

CASES = {"dyestuff_lmer_reml": True, "dyestuff_lmer_ml": False}
FORMULA = "Yield ~ 1 + (1 | Batch)"
LOGLIK_ATOL = 1e-6
ESTIMATE_RTOL = 1e-4
SE_RTOL = 1e-3


def _ref(case: str) -> dict:
    return load_ref(f"glmm/{case}")


def _fits(reml: bool) -> list[hglm.MarginalResult]:
    data = load_data("Dyestuff.csv")
    return [
        hglm.lmer(FORMULA, data=data, REML=reml),
        hglm.hglm2(FORMULA, data=data, method="REML" if reml else "ML"),
    ]


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request) -> tuple[dict, list[hglm.MarginalResult]]:
    return _ref(request.param), _fits(CASES[request.param])


def test_reaches_the_tight_optimum(case):
    ref, fits = case
    tight = ref["tight"]
    for fit in fits:
        assert fit.loglik == pytest.approx(tight["logLik"], abs=LOGLIK_ATOL)
        np.testing.assert_allclose(fit.theta, tight["theta"], rtol=ESTIMATE_RTOL)
        np.testing.assert_allclose(fit.fixef.to_numpy(), list(tight["fixef"].values()),
                                   rtol=ESTIMATE_RTOL)
        assert list(fit.fixef.index) == list(tight["fixef"])
        np.testing.assert_allclose(fit.se_fixef.to_numpy(), tight["se_fixef"], rtol=SE_RTOL)
        assert fit.sigma == pytest.approx(tight["sigma"], rel=ESTIMATE_RTOL)


def test_information_criteria_and_counts(case):
    ref, fits = case
    tight = ref["tight"]
    for fit in fits:
        assert fit.aic == pytest.approx(tight["AIC"], abs=2 * LOGLIK_ATOL)
        assert fit.bic == pytest.approx(tight["BIC"], abs=2 * LOGLIK_ATOL)
        assert fit.df_resid == tight["df_resid"]
        assert fit.nobs == tight["nobs"]
        assert fit.singular == tight["singular"]
        if tight["reml_criterion"] is not None:
            assert fit.reml_criterion == pytest.approx(tight["reml_criterion"],
                                                       abs=2 * LOGLIK_ATOL)
        if tight["deviance"] is not None:
            assert fit.deviance == pytest.approx(tight["deviance"], abs=2 * LOGLIK_ATOL)


def test_varcorr_in_r_layout(case):
    ref, fits = case
    tight = ref["tight"]
    (component,) = tight["varcorr"]
    for fit in fits:
        vc = fit.varcorr
        assert list(vc.columns) == ["grp", "var1", "var2", "vcov", "sdcor"]
        assert list(vc["grp"]) == [component["group"], "Residual"]
        assert vc["var1"].iloc[0] == component["terms"][0]
        assert vc["var1"].isna().iloc[1] and vc["var2"].isna().all()
        expected_vcov = [component["cov"][0][0], tight["sigma"] ** 2]
        np.testing.assert_allclose(vc["vcov"], expected_vcov, rtol=ESTIMATE_RTOL)
        np.testing.assert_allclose(vc["sdcor"], [component["sd"][0], tight["sigma"]],
                                   rtol=ESTIMATE_RTOL)


def test_conditional_modes_and_sds(case):
    ref, fits = case
    expected = ref["tight"]["ranef"]["Batch"]
    for fit in fits:
        re = fit.ranef
        assert list(re["grp"]) == expected["levels"]
        assert set(re["grpvar"]) == {"Batch"} and set(re["term"]) == set(expected["terms"])
        mode = np.asarray(expected["mode"][0])
        scale = np.max(np.abs(mode))
        np.testing.assert_allclose(re["condval"], mode, rtol=ESTIMATE_RTOL,
                                   atol=ESTIMATE_RTOL * scale)
        np.testing.assert_allclose(re["condsd"], expected["cond_sd"][0], rtol=SE_RTOL)


def test_fitted_values(case):
    ref, fits = case
    head = np.asarray(ref["tight"]["fitted_head"])
    for fit in fits:
        np.testing.assert_allclose(fit.fitted[: head.size], head, rtol=ESTIMATE_RTOL)


def test_default_fit_is_not_below_r_default(case):
    ref, fits = case
    for fit in fits:
        assert fit.loglik >= ref["default"]["logLik"] - 1e-9


def test_the_notes_spelling_of_the_grouping_factor():
    """The course notes write ``(1 | as.factor(batch))``: the same fit, the group named
    as lme4 names it."""
    data = load_data("Dyestuff.csv")
    tight = _ref("dyestuff_lmer_reml")["tight"]
    fit = hglm.lmer("Yield ~ 1 + (1 | as.factor(Batch))", data=data)
    assert fit.loglik == pytest.approx(tight["logLik"], abs=LOGLIK_ATOL)
    assert list(fit.varcorr["grp"]) == ["as.factor(Batch)", "Residual"]
    population = fit.predict(pd.DataFrame({"other": [1, 2]}), re_form="NA")
    np.testing.assert_allclose(population, tight["fixef"]["(Intercept)"], rtol=ESTIMATE_RTOL)
