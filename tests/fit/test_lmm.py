"""Exact ML/REML of linear mixed models (hglm.fit.lmm) against a dense computation."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy import sparse

import hglm
from hglm.engine import Indicator, as_block
from hglm.fit.differences import value_gradient
from hglm.fit.lmm import ProfiledDeviance, fit_lmm
from hglm.spec import (
    Independent,
    KnownPrecision,
    Problem,
    RandomTermModel,
    get_link,
    response_family,
)
from hglm.spec.families import random_family

from .glmm_problems import vector_problem


def _problem(y, X, blocks, weights=None, precisions=None):
    n = y.shape[0]
    precisions = precisions or [None] * len(blocks)
    terms = [
        RandomTermModel(random_family("gaussian"), None, get_link("log", "link"),
                        Independent() if Q is None else KnownPrecision(Q))
        for Q in precisions
    ]
    return Problem(y, X, blocks, terms, response_family("gaussian"),
                   np.ones(n) if weights is None else weights, np.zeros(n), None,
                   get_link("log", "link"), None)


def _crossed(seed=1, n=240, levels=(12, 7), weights=False):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    codes = [rng.integers(0, m, n) for m in levels]
    sds = [1.3, 0.6]
    y = X @ np.array([2.0, -0.5]) + rng.normal(size=n)
    for c, m, s in zip(codes, levels, sds, strict=True):
        y += s * rng.normal(size=m)[c]
    blocks = [Indicator(c.astype(np.int64), np.ones(n), m) for c, m in zip(codes, levels,
                                                                          strict=True)]
    w = rng.uniform(0.5, 2.0, n) if weights else None
    return _problem(y, X, blocks, w), codes


def _dense_objective(pb, theta, reml):
    """-2 log-likelihood (or the REML criterion) with sigma^2 profiled, from V directly."""
    y, X, w = pb.y, pb.X, pb.weights
    n, p = X.shape
    Z = np.hstack([b.toarray() if isinstance(b, Indicator) else b for b in pb.blocks])
    lam = np.concatenate([np.full(b.n_levels, t**2) for b, t in zip(pb.blocks, theta,
                                                                     strict=True)])
    V = np.diag(1.0 / w) + Z @ np.diag(lam) @ Z.T  # var(y) / sigma^2
    return _profiled_from_v(y, X, V, reml)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("weights", [False, True])
def test_profiled_deviance_equals_the_dense_likelihood(reml, weights):
    pb, _ = _crossed(weights=weights)
    dev = ProfiledDeviance(pb, reml)
    for theta in ([1.0, 1.0], [0.3, 2.0], [1e-3, 0.7]):
        theta = np.array(theta)
        assert dev.objective(theta) == pytest.approx(_dense_objective(pb, theta, reml),
                                                     rel=1e-10)


@pytest.mark.parametrize("reml", [True, False])
def test_gradient_matches_finite_differences(reml):
    pb, _ = _crossed(seed=3)
    dev = ProfiledDeviance(pb, reml)
    theta = np.array([0.8, 0.4])
    g = dev.gradient(theta)
    eps = 1e-6
    fd = [
        (dev.objective(theta + eps * e) - dev.objective(theta - eps * e)) / (2 * eps)
        for e in np.eye(2)
    ]
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("reml", [True, False])
def test_fit_reaches_the_dense_optimum(reml):
    from scipy import optimize

    pb, _ = _crossed(seed=5)
    fit = fit_lmm(pb, reml=reml)
    assert fit.converged
    dense = optimize.minimize(lambda t: _dense_objective(pb, np.abs(t), reml), [1.0, 1.0],
                              method="Nelder-Mead",
                              options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 5000})
    assert fit.objective <= dense.fun + 1e-9
    np.testing.assert_allclose(fit.theta, np.abs(dense.x), rtol=1e-4)


def test_eql_of_an_lmm_is_its_reml_fit():
    pb, codes = _crossed(seed=7)
    fit = fit_lmm(pb, reml=True)
    Z = np.hstack([b.toarray() for b in pb.blocks])
    eql = hglm.hglm(y=pb.y, X=pb.X, Z=Z, rand_c=[b.n_levels for b in pb.blocks],
                    conv=1e-14)
    np.testing.assert_allclose(eql.var_fix, fit.sigma2, rtol=1e-6)
    np.testing.assert_allclose(eql.var_ranef, fit.lam, rtol=1e-6)
    np.testing.assert_allclose(eql.fixef.to_numpy(), fit.beta, rtol=1e-8)


def test_a_term_without_variation_is_reported_singular():
    rng = np.random.default_rng(11)
    n, m = 200, 10
    codes = rng.integers(0, m, n)
    y = 1.0 + rng.normal(size=n)  # no group effect: the REML optimum is theta = 0
    y -= np.bincount(codes, y, m)[codes] / np.bincount(codes, minlength=m)[codes]
    pb = _problem(y, np.ones((n, 1)), [Indicator(codes.astype(np.int64), np.ones(n), m)])
    fit = fit_lmm(pb, reml=True)
    assert fit.singular and fit.theta[0] == 0.0


def test_known_precision_term_equals_the_dense_covariance_fit():
    rng = np.random.default_rng(2)
    n, q = 150, 30
    A = np.eye(q) + 0.4 * np.diag(np.ones(q - 1), 1) + 0.4 * np.diag(np.ones(q - 1), -1)
    codes = rng.integers(0, q, n)
    Zi = Indicator(codes.astype(np.int64), np.ones(n), q)
    u = np.linalg.cholesky(A) @ rng.normal(size=q)
    y = 1.0 + u[codes] + rng.normal(size=n)
    X = np.ones((n, 1))
    by_precision = fit_lmm(_problem(y, X, [Zi], precisions=[sparse.csc_matrix(
        np.linalg.inv(A))]))
    L = np.linalg.cholesky(A)
    by_factor = fit_lmm(_problem(y, X, [as_block(Zi.toarray() @ L)]))
    assert by_precision.objective == pytest.approx(by_factor.objective, rel=1e-9)
    np.testing.assert_allclose(by_precision.theta, by_factor.theta, rtol=1e-5)


def test_refuses_what_it_does_not_fit():
    pb, _ = _crossed()
    pois = Problem(pb.y, pb.X, pb.blocks, pb.terms, response_family("poisson"), pb.weights,
                   pb.offset, None, pb.link_disp, None)
    with pytest.raises(ValueError, match="family"):
        fit_lmm(pois)
    with pytest.raises(ValueError, match="start"):
        fit_lmm(pb, start=np.array([1.0]))


def test_fit_pickles_to_an_equal_fit() -> None:
    """An ML/REML fit goes through pickle (multiprocessing, caches) unchanged."""
    pb, _ = _crossed(seed=4)
    fit = fit_lmm(pb, reml=True)
    back = pickle.loads(pickle.dumps(fit))
    for name in ("theta", "beta", "v", "vcov_beta"):
        np.testing.assert_array_equal(getattr(back, name), getattr(fit, name))
    assert (back.sigma2, back.objective, back.converged, back.singular) == (
        fit.sigma2, fit.objective, fit.converged, fit.singular
    )
    assert back.deviance.objective(fit.theta) == fit.deviance.objective(fit.theta)


def _dense_vector_objective(pb, theta, reml):
    """-2 log-likelihood (or the REML criterion) of a problem with vector terms from V =
    I + Z G Z', G = blockdiag(I_m kron Lambda Lambda') (sigma^2 profiled)."""
    from scipy.linalg import block_diag

    from hglm.fit.theta import ThetaLayout

    y, X = pb.y, pb.X
    n, p = X.shape
    Z = np.hstack([b.toarray() for b in pb.blocks])
    covs = ThetaLayout(pb).covariances_of(theta, 1.0)
    G = block_diag(*[np.kron(np.eye(b.n_levels), S) for b, S in zip(pb.blocks, covs,
                                                                      strict=True)])
    return _profiled_from_v(y, X, np.eye(n) + Z @ G @ Z.T, reml)


def _profiled_from_v(y, X, V, reml):
    """-2 log-likelihood (or the REML criterion), sigma^2 profiled, for var(y) =
    sigma^2 V."""
    n, p = X.shape
    Vi = np.linalg.inv(V)
    beta = np.linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
    r = y - X @ beta
    dof = n - p if reml else n
    sigma2 = float(r @ Vi @ r) / dof
    out = np.linalg.slogdet(2 * np.pi * sigma2 * V)[1] + dof
    if reml:
        out += np.linalg.slogdet(X.T @ Vi @ X / sigma2)[1] - p * np.log(2 * np.pi)
    return out


@pytest.mark.parametrize("reml", [True, False])
def test_vector_term_deviance_equals_the_dense_likelihood(reml):
    pb = vector_problem(scalar_levels=5)
    dev = ProfiledDeviance(pb, reml)
    # lme4's start, a correlation, a singular Lambda (zero diagonal) and a zero scalar term
    for theta in ([1.0, 0.0, 1.0, 1.0], [1.3, -0.6, 0.4, 0.5], [0.8, 0.5, 0.0, 0.3],
                  [0.8, 0.5, 0.2, 0.0]):
        theta = np.array(theta)
        assert dev.objective(theta) == pytest.approx(
            _dense_vector_objective(pb, theta, reml), rel=1e-10)


def test_vector_term_gradient_matches_finite_differences():
    pb = vector_problem(scalar_levels=5)
    dev = ProfiledDeviance(pb, True)
    theta = np.array([1.3, -0.6, 0.4, 0.5])
    g = dev.gradient(theta)
    eps = 1e-6
    fd = [(dev.objective(theta + eps * e) - dev.objective(theta - eps * e)) / (2 * eps)
          for e in np.eye(4)]
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("theta", [[0.9, -0.3, 0.6], [0.9, -0.3, 1e-4], [0.9, 0.4, 0.0],
                                   [1e-4, 0.3, 0.5]])
def test_a_lone_vector_terms_gradient_is_analytic_down_to_a_singular_lambda(
        reml, theta, monkeypatch):
    import hglm.fit.lmm as lmm_module

    def refuse(*args, **kwargs):
        raise AssertionError("the gradient was differenced")

    pb = vector_problem(n=120, m=12)
    dev = ProfiledDeviance(pb, reml)
    theta = np.array(theta)
    expected = value_gradient(dev.objective, theta)
    monkeypatch.setattr(lmm_module, "value_gradient", refuse)
    np.testing.assert_allclose(dev.gradient(theta), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reml", [True, False])
def test_vector_fit_reaches_the_dense_optimum_and_reports_u(reml):
    from scipy import optimize

    pb = vector_problem(seed=4, n=100, m=12)
    fit = fit_lmm(pb, reml=reml)
    assert fit.converged and not fit.singular
    # a derivative-free search of the dense likelihood, from a point off the optimum,
    # finds nothing better
    dense = optimize.minimize(lambda t: _dense_vector_objective(pb, t, reml),
                              fit.theta * [1.1, 0.8, 0.9], method="Nelder-Mead",
                              options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 1500})
    assert fit.objective <= dense.fun + 1e-9
    np.testing.assert_allclose(fit.theta, dense.x, rtol=1e-4, atol=1e-6)
    L = np.array([[fit.theta[0], 0.0], [fit.theta[1], fit.theta[2]]])
    np.testing.assert_allclose(fit.covariances[0], fit.sigma2 * L @ L.T)
    # u is the BLUP: G Z' V^{-1} (y - X beta) with G = sigma^2 I kron L L'
    Z = pb.blocks[0].toarray()
    G = np.kron(np.eye(pb.blocks[0].n_levels), L @ L.T)
    V = np.eye(pb.y.shape[0]) + Z @ G @ Z.T
    np.testing.assert_allclose(fit.v, G @ Z.T @ np.linalg.solve(V, pb.y - pb.X @ fit.beta),
                               rtol=1e-6, atol=1e-9)
    assert np.isnan(fit.lam[0])


def test_a_slope_without_variation_is_a_singular_vector_fit():
    pb = vector_problem(seed=6)
    x, codes = pb.X[:, 1], pb.blocks[0].index
    m = pb.blocks[0].n_levels
    rng = np.random.default_rng(0)
    # a random intercept only: the slope's variance and its correlation are not there
    y = 1.0 + 0.5 * x + rng.normal(size=m)[codes] + 0.3 * rng.normal(size=x.shape[0])
    with pytest.warns(hglm.BoundaryWarning, match=r"boundary \(singular\) fit: random term"):
        fit = fit_lmm(Problem(y, pb.X, pb.blocks, pb.terms, pb.family, pb.weights,
                              pb.offset, None, pb.link_disp, None))
    assert fit.singular
    assert fit.theta[2] < 1e-4 and fit.theta[0] > 0.5


def test_unidentifiable_vector_terms_are_refused():
    from hglm.engine import Grouped

    pb = vector_problem(n=40, m=20)
    with pytest.raises(ValueError, match="check.nobs.vs.nRE"):
        fit_lmm(pb)
    one = vector_problem()
    b = one.blocks[0]
    one.blocks[0] = Grouped(np.zeros_like(b.index), b.values, 1)
    with pytest.raises(ValueError, match="sampled level"):
        fit_lmm(one)
