"""The GLMM fits (hglm.fit.glmm): exactness where the answer is known, the boundary,
the flags of a fit and the refusals."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import optimize, sparse, special
from shared import load_data

import hglm.fit.glmm as glmm_module
from hglm.engine import Indicator, as_block
from hglm.fit import ConvergenceWarning, fit_glmm
from hglm.fit.laplace import LaplaceDeviance
from hglm.fit.lmm import fit_lmm
from hglm.spec import (
    CAR,
    KnownPrecision,
    Problem,
    RandomTermModel,
    get_link,
    response_family,
)
from hglm.spec.families import random_family

from .glmm_problems import gaussian_lmm, glmm_problem, vector_problem


@pytest.mark.parametrize("reml", [True, False])
def test_gaussian_identity_fit_is_lmer(reml):
    """The same optimum as fit/lmm.py.  The REML fit's covariance is lmer's
    sigma^2 (C^{-1})_xx; the ML fit's is glmer's, from the observed Hessian in all the
    parameters, in which beta is not orthogonal to the variances (lmer's ML covariance is
    the expected one)."""
    pb = gaussian_lmm()
    fit, lmm = fit_glmm(pb, reml=reml), fit_lmm(pb, reml=reml)
    assert fit.converged and fit.method == ("REML" if reml else "Laplace")
    assert fit.objective == pytest.approx(lmm.objective, rel=1e-10)
    np.testing.assert_allclose(fit.theta, lmm.theta, rtol=1e-5)
    assert fit.sigma2 == pytest.approx(lmm.sigma2, rel=1e-6)
    # both stop where the deviance is flat to ~1e-9: beta agrees to 1e-4 standard errors
    np.testing.assert_allclose(fit.beta, lmm.beta, rtol=0,
                               atol=1e-4 * float(np.sqrt(np.min(np.diag(lmm.vcov_beta)))))
    if reml:
        np.testing.assert_allclose(fit.vcov_beta, lmm.vcov_beta, rtol=1e-5)
    else:
        hessian_beta = fit.hessian[2:4, 2:4]
        np.testing.assert_allclose(hessian_beta, 2.0 * np.linalg.inv(lmm.vcov_beta),
                                   rtol=1e-4)


# --- Poisson-Gamma: the Laplace approximation against the negative binomial ------------


def _pump():
    d = load_data("pump.csv")
    n = len(d)
    X = np.column_stack([np.ones(n), d.Gr])
    levels, index = np.unique(d.System.to_numpy(), return_inverse=True)
    block = Indicator(index.astype(np.int64), np.ones(n), levels.shape[0])
    terms = [RandomTermModel(random_family("gamma"), None, get_link("log"))]
    return Problem(d.S.to_numpy(float), X, [block], terms, response_family("poisson"),
                   np.ones(n), np.log(d.t.to_numpy()), None, get_link("log"), None)


def _negative_binomial_loglik(pb, beta, lam):
    """The exact marginal log-likelihood: u ~ Gamma(1/lam, 1/lam), y | u Poisson(mu u)."""
    a = 1.0 / lam
    mu = np.exp(pb.offset + pb.X @ beta)
    y = pb.y
    return float(np.sum(special.gammaln(y + a) - special.gammaln(a) - special.gammaln(y + 1)
                        + a * np.log(a / (a + mu)) + y * np.log(mu / (a + mu))))


def _stirling_error(pb, lam):
    """sum over systems of log Gamma(y + 1/lam) less Stirling's approximation of it."""
    z = pb.y + 1.0 / lam
    return float(np.sum(special.gammaln(z) - ((z - 0.5) * np.log(z) - z
                                                + 0.5 * np.log(2 * np.pi))))


def test_poisson_gamma_laplace_is_the_negative_binomial_up_to_stirlings_error():
    """On the scale v = log u the integrand of each system is u^(y + a) exp(-(mu + a) u),
    whose Laplace approximation replaces Gamma(y + a) by Stirling's formula: the Laplace
    log-likelihood is the negative binomial one less that error, at every parameter."""
    pb = _pump()
    dev = LaplaceDeviance(pb, "ML")
    for beta, lam in ((np.array([0.07, -1.67]), 0.77), (np.array([-0.5, -1.0]), 2.0)):
        x = dev.params.pack(np.array([np.sqrt(lam)]), beta, None)
        assert -0.5 * dev.objective(x) == pytest.approx(
            _negative_binomial_loglik(pb, beta, lam) - _stirling_error(pb, lam), abs=1e-10)


def test_poisson_gamma_fit_is_close_to_the_negative_binomial_fit():
    """MASS::glm.nb's model by exact ML here, against the Laplace fit: the maximum lies
    between the exact maximum less the Stirling error at either optimum."""
    pb = _pump()
    fit = fit_glmm(pb)

    def minus_loglik(p):
        return -_negative_binomial_loglik(pb, p[:2], np.exp(p[2]))

    nb = optimize.minimize(minus_loglik, [0.0, -1.0, 0.0], method="BFGS",
                           options={"gtol": 1e-9})
    nb_beta, nb_lam = nb.x[:2], float(np.exp(nb.x[2]))
    assert fit.converged
    assert -nb.fun - _stirling_error(pb, nb_lam) <= fit.loglik + 1e-9
    assert fit.loglik <= -nb.fun - _stirling_error(pb, fit.lam[0]) + 1e-9
    assert fit.lam[0] == pytest.approx(nb_lam, rel=0.03)
    np.testing.assert_allclose(fit.beta, nb_beta, rtol=0.01)


# --- the boundary, the flags and the scale ---------------------------------------------


def test_a_term_without_variation_is_set_to_zero_and_flagged():
    pb = glmm_problem("binomial", "logit", seed=8, levels=(10, 6), n=300, trials=3)
    rng = np.random.default_rng(0)
    p = 1.0 / (1.0 + np.exp(-(0.2 + 0.5 * pb.X[:, 1] + 1.0 * rng.normal(size=10)[
        pb.blocks[0].index])))
    pb.y = rng.binomial(3, p) / 3.0  # no effect of the second factor
    fit = fit_glmm(pb)
    free = LaplaceDeviance(pb, "ML")
    x = free.params.pack(np.array([fit.theta[0], 0.3]), fit.beta, None)
    assert free.objective(x) > fit.objective  # the optimum in the second sd is 0
    assert fit.singular and fit.theta[1] == 0.0 and fit.lam[1] == 0.0 and fit.theta[0] > 0.3
    assert np.all(np.isfinite(fit.vcov_beta))


def test_nagq0_uses_the_curvature_at_the_mode():
    pb = glmm_problem("poisson", "log", seed=2, levels=(9,))
    fit = fit_glmm(pb, nAGQ=0)
    dev = LaplaceDeviance(pb, "nAGQ0")
    x = dev.params.pack(fit.theta, None, None)
    assert fit.method == "nAGQ0" and fit.hessian is None and fit.n_params == 3
    np.testing.assert_allclose(fit.vcov_beta, dev.fixed_covariance(x), rtol=1e-6)
    np.testing.assert_allclose(fit.cond_var, dev.random_factor(x).diag_inverse(), rtol=1e-6)


def test_scale_of_theta_and_the_dispersion_model():
    single = fit_glmm(glmm_problem("Gamma", "log", seed=3, levels=(9,)))
    assert single.disp_coef is None and single.n_params == 4
    np.testing.assert_allclose(single.phi, single.sigma2)
    np.testing.assert_allclose(single.theta, np.sqrt(single.lam / single.sigma2))
    model = fit_glmm(glmm_problem("Gamma", "log", seed=3, levels=(9,), disp_model=True))
    assert model.sigma2 == 1.0 and model.disp_coef.shape == (2,) and model.n_params == 5
    np.testing.assert_allclose(model.theta, np.sqrt(model.lam))
    np.testing.assert_allclose(model.phi, np.exp(model.problem.x_disp @ model.disp_coef))


def test_a_fit_that_stops_early_is_flagged():
    pb = glmm_problem("binomial", "logit", seed=8, levels=(10,), trials=2)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        fit = fit_glmm(pb, maxiter=1)
    assert not fit.converged and "limit" in fit.message


def test_hessian_not_positive_definite_falls_back_to_the_mode(monkeypatch):
    pb = glmm_problem("binomial", "logit", seed=8, levels=(10,), trials=2)
    difference_hessian = glmm_module.gradients_hessian

    def not_positive_at_the_optimum(gradients, x, g, columns=None):
        if columns is not None:  # the Hessian the fit starts from
            return difference_hessian(gradients, x, g, columns)
        return -np.eye(x.shape[0])

    monkeypatch.setattr(glmm_module, "gradients_hessian", not_positive_at_the_optimum)
    with pytest.warns(ConvergenceWarning, match="not positive definite"):
        fit = fit_glmm(pb)
    dev = LaplaceDeviance(pb, "ML")
    x = dev.params.pack(fit.theta, fit.beta, None)
    np.testing.assert_allclose(fit.vcov_beta, dev.fixed_covariance(x), rtol=1e-6)


def test_a_converged_fit_gives_no_warning():
    pb = glmm_problem("binomial", "logit", seed=8, levels=(10,), trials=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_glmm(pb, nAGQ=5)
    assert fit.converged and fit.method == "AGQ" and fit.nAGQ == 5
    assert fit.n_eval > 0 and fit.n_pirls >= fit.n_eval // 2


# --- refusals ---------------------------------------------------------------------------


def test_refusals_name_the_argument():
    two = glmm_problem("binomial", "logit", levels=(8, 5))
    with pytest.raises(ValueError, match="nAGQ: nAGQ > 1 is only available for models "
                                         "with a single, scalar random-effects term"):
        fit_glmm(two, nAGQ=10)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="nAGQ"):
            fit_glmm(two, nAGQ=bad)
    with pytest.raises(ValueError, match="reml"):
        fit_glmm(glmm_problem("binomial", "logit", levels=(8,)), nAGQ=3, reml=True)
    with pytest.raises(ValueError, match="maxiter"):
        fit_glmm(two, maxiter=0)
    with pytest.raises(ValueError, match="start"):
        fit_glmm(two, start={"fixef": [1.0, 2.0]})
    with pytest.raises(ValueError, match="start"):
        fit_glmm(two, start={"theta": [1.0]})


def test_a_quasi_dispersion_is_refused():
    pb = glmm_problem("poisson", "log", levels=(8,))
    pb.fix_disp = 2.0
    with pytest.raises(ValueError, match="fix_disp"):
        fit_glmm(pb)
    pb.fix_disp = 1.0
    assert fit_glmm(pb).converged


def test_non_integer_binomial_counts_are_refused():
    pb = glmm_problem("binomial", "logit", levels=(8,), trials=3)
    pb.y = pb.y * 0.9
    with pytest.raises(ValueError, match="weights.*whole numbers"):
        fit_glmm(pb)


def test_random_terms_outside_the_marginal_fits_are_refused():
    gamma_rand = glmm_problem("poisson", "log", levels=(8,), rand_family="gamma")
    with pytest.raises(ValueError, match="nAGQ"):
        fit_glmm(gamma_rand, nAGQ=0)
    car = glmm_problem("poisson", "log", levels=(4,))
    adjacency = np.ones((4, 4)) - np.eye(4)
    car.terms = [RandomTermModel(CAR(adjacency).as_random(), None, get_link("inverse"))]
    with pytest.raises(ValueError, match="rand_family"):
        fit_glmm(car)
    dispersed = glmm_problem("poisson", "log", levels=(8,))
    dispersed.terms[0].x_disp = np.ones((8, 1))
    with pytest.raises(ValueError, match="x_rand_disp"):
        fit_glmm(dispersed)


def test_vector_terms_refused_where_not_supported():
    pb = vector_problem("binomial", n=80, m=8)
    with pytest.raises(ValueError, match="nAGQ: nAGQ > 1 is only available for models "
                                         "with a single, scalar random-effects term"):
        fit_glmm(pb, nAGQ=5)
    with pytest.raises(ValueError, match="start"):
        fit_glmm(pb, start={"theta": [1.0]})
    with pytest.raises(ValueError, match="start"):
        fit_glmm(pb, start={"theta": [-1.0, 0.0, 1.0]})
    pb.terms[0].x_disp = np.ones((16, 1))
    with pytest.raises(ValueError, match="x_rand_disp"):
        fit_glmm(pb)


@pytest.mark.parametrize("nagq", [0, 1])
def test_vector_fit_is_a_stationary_point_with_lme4s_outputs(nagq):
    from hglm.fit.laplace import LaplaceDeviance

    pb = vector_problem("binomial", n=200, m=20, seed=5)
    fit = fit_glmm(pb, nAGQ=nagq)
    assert fit.converged and not fit.singular
    assert fit.theta.shape == (3,) and fit.theta[0] > 0 and fit.theta[2] > 0
    L = np.array([[fit.theta[0], 0.0], [fit.theta[1], fit.theta[2]]])
    np.testing.assert_allclose(fit.covariances[0], L @ L.T)
    dev = LaplaceDeviance(pb, "nAGQ0" if nagq == 0 else "ML")
    x = dev.params.pack(fit.theta, fit.beta, None)
    assert dev.objective(x) == pytest.approx(fit.objective, abs=1e-8)
    assert np.max(np.abs(dev.gradient(x))) < 1e-4
    # v is u = Lambda b at the mode, level-major
    b = dev.state(x).mode.delta[2:]
    np.testing.assert_allclose(fit.v, (b.reshape(-1, 2) @ L.T).ravel(), rtol=1e-8)
    assert fit.cond_var.shape == (40,) and np.all(fit.cond_var > 0)
    assert fit.n_params == 2 + 3


@pytest.mark.parametrize("reml", [True, False])
def test_gaussian_vector_fit_is_lmer(reml):
    """A vector term with a Gaussian identity response (the dispersion estimated, theta
    relative to sigma) reaches fit/lmm.py's optimum."""
    pb = vector_problem(scalar_levels=5)
    fit, lmm = fit_glmm(pb, reml=reml), fit_lmm(pb, reml=reml)
    assert fit.converged
    assert fit.objective == pytest.approx(lmm.objective, rel=1e-10)
    np.testing.assert_allclose(fit.theta, lmm.theta, rtol=1e-5)
    assert fit.sigma2 == pytest.approx(lmm.sigma2, rel=1e-6)
    for ours, theirs in zip(fit.covariances, lmm.covariances, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5)


@pytest.mark.parametrize("family, nagq, reml", [("binomial", 1, False), ("poisson", 0, False),
                                                ("binomial", 1, True)])
def test_known_precision_term_equals_the_dense_covariance_fit(family, nagq, reml):
    """u ~ N(0, lambda Q^{-1}) with Q sparse is the term Z L (L L' = Q^{-1}) with
    independent effects: the same deviance, variance, fixed effects and SEs."""
    q = 12
    pb = glmm_problem(family, "log" if family == "poisson" else None, seed=5, n=150,
                      levels=(q,), sd=1.0)
    A = np.eye(q) + 0.4 * (np.eye(q, k=1) + np.eye(q, k=-1))
    precision = Problem(pb.y, pb.X, pb.blocks, [RandomTermModel(
        random_family("gaussian"), None, get_link("log"),
        KnownPrecision(sparse.csc_matrix(np.linalg.inv(A))))], pb.family, pb.weights,
        pb.offset, None, pb.link_disp, None)
    dense = Problem(pb.y, pb.X, [as_block(pb.blocks[0].toarray() @ np.linalg.cholesky(A))],
                    pb.terms, pb.family, pb.weights, pb.offset, None, pb.link_disp, None)
    by_precision = fit_glmm(precision, nAGQ=nagq, reml=reml)
    by_factor = fit_glmm(dense, nAGQ=nagq, reml=reml)
    assert by_precision.converged and not by_precision.singular
    assert by_precision.objective == pytest.approx(by_factor.objective, abs=1e-7)
    np.testing.assert_allclose(by_precision.lam, by_factor.lam, rtol=1e-5)
    np.testing.assert_allclose(by_precision.beta, by_factor.beta, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.diag(by_precision.vcov_beta), np.diag(by_factor.vcov_beta),
                               rtol=1e-4)
    np.testing.assert_allclose(by_precision.v,
                               np.linalg.cholesky(A) @ by_factor.v, rtol=1e-5, atol=1e-7)
