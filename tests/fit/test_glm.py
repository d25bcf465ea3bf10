"""Tests of ``hglm.fit.glm.fit_glm`` against closed forms and statsmodels' GLM."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from shared import require

from hglm.fit.glm import fit_glm
from hglm.spec.families import Binomial, Gamma, Gaussian, Poisson

# fit_glm stops on R's relative-deviance rule.  For a canonical link IRLS is Newton's
# method and the default tol is far below 1e-8 in the coefficients; for non-canonical
# links (Fisher scoring, linear convergence) a deviance change of 1e-12 still leaves
# ~1e-7 in the coefficients, so those comparisons ask for a tighter tol, and the
# statsmodels reference is solved by Newton's method (its IRLS stops on the same kind of
# deviance rule).
TIGHT = 1e-16


def _design(rng: np.random.Generator, n: int, p: int) -> np.ndarray:
    return np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])


def test_gaussian_identity_is_least_squares() -> None:
    rng = np.random.default_rng(1)
    X = _design(rng, 60, 3)
    y = X @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=60)
    fit = fit_glm(y, X, Gaussian().as_response())
    beta = np.linalg.solve(X.T @ X, X.T @ y)
    np.testing.assert_allclose(fit.coef, beta, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fit.mu, X @ beta, rtol=1e-12, atol=1e-12)
    assert fit.deviance == pytest.approx(float(np.sum((y - X @ beta) ** 2)), rel=1e-12)
    np.testing.assert_allclose(fit.cov_unscaled, np.linalg.inv(X.T @ X), rtol=1e-10)
    np.testing.assert_allclose(fit.working_weights, 1.0)
    assert fit.converged


def test_gaussian_identity_weighted_least_squares_with_offset() -> None:
    rng = np.random.default_rng(2)
    X = _design(rng, 50, 2)
    w = rng.uniform(0.5, 3.0, size=50)
    off = rng.normal(size=50)
    y = X @ np.array([0.3, 1.2]) + off + rng.normal(size=50) / np.sqrt(w)
    fit = fit_glm(y, X, Gaussian().as_response(), weights=w, offset=off)
    beta = np.linalg.solve(X.T @ (w[:, None] * X), X.T @ (w * (y - off)))
    np.testing.assert_allclose(fit.coef, beta, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fit.eta, X @ beta + off, rtol=1e-12, atol=1e-12)
    assert fit.deviance == pytest.approx(float(np.sum(w * (y - off - X @ beta) ** 2)), rel=1e-12)


def test_binomial_logit_matches_statsmodels() -> None:
    sm = require("statsmodels.api")
    rng = np.random.default_rng(3)
    X = _design(rng, 200, 3)
    p = 1.0 / (1.0 + np.exp(-(X @ np.array([-0.4, 1.0, -0.7]))))
    y = rng.binomial(1, p).astype(float)
    fit = fit_glm(y, X, Binomial().as_response())
    ref = sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-14, maxiter=200)
    np.testing.assert_allclose(fit.coef, ref.params, rtol=1e-8, atol=1e-10)
    assert fit.deviance == pytest.approx(ref.deviance, rel=1e-10)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.cov_unscaled)), ref.bse, rtol=1e-7)
    mu = ref.fittedvalues
    np.testing.assert_allclose(fit.working_weights, mu * (1 - mu), rtol=1e-7)
    assert fit.converged


def test_binomial_proportions_with_trials_as_weights() -> None:
    sm = require("statsmodels.api")
    rng = np.random.default_rng(4)
    X = _design(rng, 80, 2)
    m = rng.integers(1, 12, size=80).astype(float)
    p = 1.0 / (1.0 + np.exp(-(X @ np.array([0.2, 0.8]))))
    r = rng.binomial(m.astype(int), p).astype(float)
    fit = fit_glm(r / m, X, Binomial().as_response(), weights=m)
    ref = sm.GLM(np.column_stack([r, m - r]), X, family=sm.families.Binomial()).fit(tol=1e-14)
    np.testing.assert_allclose(fit.coef, ref.params, rtol=1e-8, atol=1e-10)
    assert fit.deviance == pytest.approx(ref.deviance, rel=1e-10)


@pytest.mark.parametrize("link", ["probit", "cloglog"])
def test_binomial_other_links_match_statsmodels(link: str) -> None:
    sm = require("statsmodels.api")
    rng = np.random.default_rng(5)
    X = _design(rng, 150, 2)
    y = rng.binomial(1, 0.3 + 0.4 * (X[:, 1] > 0)).astype(float)
    sm_link = {"probit": sm.families.links.Probit(), "cloglog": sm.families.links.CLogLog()}
    fit = fit_glm(y, X, Binomial(link=link).as_response(), tol=TIGHT)
    ref = sm.GLM(y, X, family=sm.families.Binomial(link=sm_link[link])).fit(
        method="newton", tol=1e-14, maxiter=100
    )
    np.testing.assert_allclose(fit.coef, ref.params, rtol=1e-8, atol=1e-10)
    assert fit.deviance == pytest.approx(ref.deviance, rel=1e-10)


def test_poisson_log_with_offset_matches_statsmodels() -> None:
    sm = require("statsmodels.api")
    rng = np.random.default_rng(6)
    X = _design(rng, 120, 3)
    off = np.log(rng.uniform(1.0, 5.0, size=120))
    y = rng.poisson(np.exp(X @ np.array([0.5, 0.3, -0.2]) + off)).astype(float)
    fit = fit_glm(y, X, Poisson().as_response(), offset=off)
    ref = sm.GLM(y, X, family=sm.families.Poisson(), offset=off).fit(tol=1e-14)
    np.testing.assert_allclose(fit.coef, ref.params, rtol=1e-8, atol=1e-10)
    assert fit.deviance == pytest.approx(ref.deviance, rel=1e-10)
    np.testing.assert_allclose(fit.mu, np.exp(X @ ref.params + off), rtol=1e-8)
    np.testing.assert_allclose(fit.eta, X @ ref.params + off, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.cov_unscaled)), ref.bse, rtol=1e-7)
    # score equations of the canonical link: X'(y - mu) = 0
    np.testing.assert_allclose(X.T @ (y - fit.mu), 0.0, atol=1e-7)


def test_gamma_log_with_weights_matches_statsmodels() -> None:
    sm = require("statsmodels.api")
    rng = np.random.default_rng(7)
    X = _design(rng, 100, 3)
    w = rng.uniform(0.2, 2.0, size=100)
    mu = np.exp(X @ np.array([1.0, 0.4, -0.3]))
    y = rng.gamma(2.0, mu / 2.0)
    fit = fit_glm(y, X, Gamma(link="log").as_response(), weights=w, tol=TIGHT)
    ref = sm.GLM(y, X, family=sm.families.Gamma(link=sm.families.links.Log()), var_weights=w)
    res = ref.fit(method="newton", tol=1e-14, maxiter=100, scale=1.0)
    np.testing.assert_allclose(fit.coef, res.params, rtol=1e-8, atol=1e-10)
    assert fit.deviance == pytest.approx(res.deviance, rel=1e-10)
    # log link: the working weights are the prior weights, so cov = (X' W X)^{-1} exactly
    np.testing.assert_allclose(fit.working_weights, w, rtol=1e-12)
    np.testing.assert_allclose(fit.cov_unscaled, np.linalg.inv(X.T @ (w[:, None] * X)), rtol=1e-10)
    # score equations of the gamma log-link MLE: X' W (y - mu) / mu = 0
    np.testing.assert_allclose(X.T @ (w * (y - fit.mu) / fit.mu), 0.0, atol=1e-8)


def test_gamma_log_default_tol_is_close_to_the_mle() -> None:
    rng = np.random.default_rng(7)
    X = _design(rng, 100, 3)
    w = rng.uniform(0.2, 2.0, size=100)
    y = rng.gamma(2.0, np.exp(X @ np.array([1.0, 0.4, -0.3])) / 2.0)
    fam = Gamma(link="log").as_response()
    loose, tight = fit_glm(y, X, fam, weights=w), fit_glm(y, X, fam, weights=w, tol=TIGHT)
    np.testing.assert_allclose(loose.coef, tight.coef, rtol=1e-5)
    assert loose.deviance == pytest.approx(tight.deviance, rel=1e-11)


def test_gamma_inverse_matches_statsmodels() -> None:
    sm = require("statsmodels.api")
    rng = np.random.default_rng(8)
    X = np.column_stack([np.ones(90), rng.uniform(0, 1, size=90)])
    mu = 1.0 / (X @ np.array([0.5, 0.8]))
    y = rng.gamma(3.0, mu / 3.0)
    fit = fit_glm(y, X, Gamma().as_response())  # canonical link: Newton, default tol
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' DomainWarning for the inverse link
        res = sm.GLM(y, X, family=sm.families.Gamma()).fit(
            method="newton", tol=1e-14, maxiter=100
        )
    np.testing.assert_allclose(fit.coef, res.params, rtol=1e-8)
    assert fit.deviance == pytest.approx(res.deviance, rel=1e-10)


def test_start_values_reach_same_fit() -> None:
    rng = np.random.default_rng(9)
    X = _design(rng, 100, 2)
    y = rng.poisson(np.exp(X @ np.array([1.0, 0.5]))).astype(float)
    fam = Poisson().as_response()
    a = fit_glm(y, X, fam)
    b = fit_glm(y, X, fam, start=np.array([0.0, 0.0]))
    c = fit_glm(y, X, fam, start=a.coef)
    np.testing.assert_allclose(b.coef, a.coef, rtol=1e-9)
    np.testing.assert_allclose(c.coef, a.coef, rtol=1e-12)
    assert c.n_iter <= 2


def test_step_halving_recovers_from_a_far_start() -> None:
    # Poisson with a log link from a start whose exp(eta) overflows the deviance scale
    rng = np.random.default_rng(10)
    X = _design(rng, 80, 2)
    y = rng.poisson(np.exp(0.3 + 0.2 * X[:, 1])).astype(float)
    fam = Poisson().as_response()
    ref = fit_glm(y, X, fam)
    far = fit_glm(y, X, fam, start=np.array([30.0, -25.0]), maxit=200)
    assert far.converged
    np.testing.assert_allclose(far.coef, ref.coef, rtol=1e-8)


def test_maxit_reports_not_converged() -> None:
    rng = np.random.default_rng(11)
    X = _design(rng, 100, 3)
    y = rng.binomial(1, 0.4, size=100).astype(float)
    fit = fit_glm(y, X, Binomial().as_response(), maxit=1)
    assert not fit.converged
    assert fit.n_iter == 1


@pytest.mark.parametrize("link", ["1/mu^2", "identity"])
def test_a_first_step_outside_the_mean_space_restarts_from_the_mean(link: str) -> None:
    """From y itself the first IRLS step of an inverse-Gaussian 1/mu^2 (or Poisson
    identity) GLM leaves mu > 0; the IRLS restarts from the mean and converges inside."""
    from hglm.spec.families import InverseGaussian

    rng = np.random.default_rng(0)
    x = rng.normal(size=160)
    X = np.column_stack([np.ones(160), x])
    if link == "1/mu^2":
        y, family = rng.wald(np.exp(0.5 + 0.5 * x), 5.0), InverseGaussian(link)
    else:
        y, family = rng.poisson(np.exp(1 + 0.3 * x)).astype(float), Poisson(link)
    fit = fit_glm(y, X, family.as_response())
    assert fit.converged and np.all(fit.mu > 1e-300)
    # the score equations X' (y - mu) mu_eta / V(mu) = 0 hold
    fam = family.as_response()
    mu_eta = fam.link.mu_eta(fit.eta)
    score = X.T @ ((y - fit.mu) * mu_eta / fam.variance(fit.mu))
    np.testing.assert_allclose(score, 0.0, atol=1e-6 * np.abs(X.T @ y).max())
