"""Correlated random effects (1 + Time | Patient) against lme4 (``$HGLM_SHARED/ref/glmm``):
``hr_lmer_corr`` (lmer, REML) and ``hr_glmer_corr`` (glmer, Laplace; R's default fit
stops with a convergence warning, its ``tight`` refit is the optimum).

The estimators must reach R's tight optimum: log-likelihood (REML criterion) within 1e-6,
theta and fixed effects within 1e-4 (relative), standard errors within 1e-3, the
conditional modes and their conditional SDs (lme4's ranef, condVar) within 1e-4 / 1e-3;
the Laplace fit's log-likelihood must not be below R's default fit's; and EQL of lmer's
model, iterated to its fixed point, must be lmer's REML fit.  The design is built here
from the CSV as lme4 builds it (treatment contrasts, levels in sorted order, the vector
term's columns level-major).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest
from shared import load_data, load_ref

from hglm.engine import Grouped
from hglm.fit import fit_glmm
from hglm.fit.eql import Options, fit_eql
from hglm.fit.likelihood import fit_likelihoods
from hglm.fit.lmm import fit_lmm
from hglm.spec import Problem, RandomTermModel, Unstructured, get_link, response_family
from hglm.spec.families import random_family

LOGLIK_ATOL = 1e-6
PARAM_RTOL = 1e-4
SE_RTOL = 1e-3


def _hr(response: str, family: str) -> Problem:
    """HR ~ Time * Drug + (1 + Time | Patient) (or HR_incr, binomial)."""
    d = load_data("hr_sim.csv")
    time = d["Time"].to_numpy(float)
    drug_b = (d["Drug"] == "b").to_numpy(float)
    drug_p = (d["Drug"] == "p").to_numpy(float)
    X = np.column_stack([np.ones(len(d)), time, drug_b, drug_p, time * drug_b,
                         time * drug_p])
    codes, levels = pd.factorize(d["Patient"].astype(str), sort=True)
    block = Grouped.from_codes(codes, np.column_stack([np.ones(len(d)), time]), len(levels))
    term = RandomTermModel(random_family("gaussian"), None, get_link("log"), Unstructured(2))
    n = len(d)
    return Problem(d[response].to_numpy(float), X, [block], [term], response_family(family),
                   np.ones(n), np.zeros(n), None, get_link("log"), None)


@cache
def _lmer():
    return fit_lmm(_hr("HR", "gaussian"), reml=True)


@cache
def _glmer():
    return fit_glmm(_hr("HR_incr", "binomial"), nAGQ=1)


def _ranef(block: dict, key: str) -> np.ndarray:
    """lme4's per-term arrays as our level-major order (level 1's terms, level 2's...)."""
    return np.asarray(block["Patient"][key]).T.ravel()


def _check_tight(fit, tight: dict, loglik: float) -> None:
    assert loglik == pytest.approx(tight["logLik"], abs=LOGLIK_ATOL)
    np.testing.assert_allclose(fit.theta, tight["theta"], rtol=PARAM_RTOL)
    np.testing.assert_allclose(fit.beta, list(tight["fixef"].values()), rtol=PARAM_RTOL)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov_beta)), tight["se_fixef"],
                               rtol=SE_RTOL)
    (vc,) = tight["varcorr"]
    np.testing.assert_allclose(fit.covariances[0], vc["cov"], rtol=PARAM_RTOL)
    ranef = tight["ranef"]
    np.testing.assert_allclose(fit.v, _ranef(ranef, "mode"), rtol=PARAM_RTOL, atol=1e-6)
    np.testing.assert_allclose(np.sqrt(fit.cond_var), _ranef(ranef, "cond_sd"),
                               rtol=SE_RTOL)
    assert fit.singular is tight["singular"]


def test_lmer_reaches_the_tight_reml_optimum():
    ref = load_ref("glmm/hr_lmer_corr")
    fit = _lmer()
    assert fit.converged
    assert fit.objective == pytest.approx(ref["tight"]["reml_criterion"], abs=LOGLIK_ATOL)
    assert np.sqrt(fit.sigma2) == pytest.approx(ref["tight"]["sigma"], rel=PARAM_RTOL)
    _check_tight(fit, ref["tight"], fit.loglik)
    assert fit.n_params == 10  # 6 fixed effects, 3 theta, sigma: R's AIC counts 10


def test_glmer_reaches_the_tight_laplace_optimum():
    ref = load_ref("glmm/hr_glmer_corr")
    fit = _glmer()
    assert fit.converged
    _check_tight(fit, ref["tight"], fit.loglik)
    assert fit.loglik >= ref["default"]["logLik"] - LOGLIK_ATOL
    assert fit.n_params == 9


def test_eql_of_lmers_model_is_its_reml_fit():
    ref = load_ref("glmm/hr_lmer_corr")["tight"]
    eql = fit_eql(_hr("HR", "gaussian"), Options(conv=1e-14, maxit=1000))
    assert eql.converged
    # EQL's pbvh is the REML log-likelihood; its estimates lmer's
    assert fit_likelihoods(eql).pbvh == pytest.approx(ref["logLik"], abs=LOGLIK_ATOL)
    np.testing.assert_allclose(eql.theta, ref["theta"], rtol=PARAM_RTOL)
    np.testing.assert_allclose(eql.beta, list(ref["fixef"].values()), rtol=PARAM_RTOL)
    assert np.sqrt(eql.phi[0]) == pytest.approx(ref["sigma"], rel=PARAM_RTOL)
    np.testing.assert_allclose(eql.covariances[0], ref["varcorr"][0]["cov"], rtol=PARAM_RTOL)
    # and the same point as our REML fit to 1e-6
    lmer = _lmer()
    np.testing.assert_allclose(eql.theta, lmer.theta, rtol=1e-6)
    assert fit_likelihoods(eql).pbvh == pytest.approx(lmer.loglik, abs=1e-6)
