"""The clmm estimator (hglm.fit.clmm): Laplace and adaptive quadrature against numerical
integration cluster by cluster, the limits, nAGQ's check."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from hglm.fit.clmm import ClusterIntegral, check_clmm_nagq, fit_clmm
from hglm.fit.ordinal_likelihood import observation_likelihood
from hglm.spec.ordinal import latent_distribution

from .ordinal_problems import ordinal_problem

X = np.array([-1.2, 0.1, 1.3, 0.7, 0.2, np.log(1.3)])  # thresholds, x, t, log sd


def _integrated(design, x) -> float:
    """sum over clusters of log int prod_j P(y_j | eta_j + b) N(b; 0, s^2) db."""
    eta = design.fixed_jacobian() @ x[:-1]
    sd, dist, total = np.exp(x[-1]), latent_distribution(design.link), 0.0
    for c in range(design.n_clusters):
        rows = design.cluster == c

        def f(b, rows=rows):
            with np.errstate(invalid="ignore", over="ignore"):
                ll = observation_likelihood(eta[rows] + b, design.response.codes[rows],
                                            dist).loglik
            return np.exp(ll.sum()) * stats.norm.pdf(b, scale=sd)

        total += np.log(integrate.quad(f, -12 * sd, 12 * sd, epsabs=1e-14, epsrel=1e-12)[0])
    return total


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_quadrature_is_the_integral(link) -> None:
    design = ordinal_problem("~ 1", link=link)
    value = -0.5 * ClusterIntegral(design, 25).deviance(X)
    assert value == pytest.approx(_integrated(design, X), abs=1e-7)


def test_laplace_is_an_approximation_quadrature_improves() -> None:
    design = ordinal_problem("~ 1")
    exact = _integrated(design, X)
    errors = [abs(-0.5 * ClusterIntegral(design, n).deviance(X) - exact) for n in (1, 3, 9)]
    assert errors[0] < 0.03 * design.n_clusters  # five observations per cluster
    assert errors[0] > errors[1] > errors[2]


def test_modes_solve_the_score_equations() -> None:
    design = ordinal_problem("~ 1")
    integral = ClusterIntegral(design, 1)
    integral.deviance(X)
    bounds = integral.interval.bounds(X[:-1])
    _, g, hh = integral._h(bounds, integral.modes, float(np.exp(2 * X[-1])))
    assert np.max(np.abs(g)) < 1e-9 and np.all(hh < 0)


def test_fit_is_a_maximum_with_finite_standard_errors() -> None:
    design = ordinal_problem("~ 1")
    fit = fit_clmm(design, 5)
    assert fit.converged
    assert np.all(np.linalg.eigvalsh(fit.hessian) > 0)
    f = ClusterIntegral(design, 5).deviance
    for j in range(fit.x.size):
        e = np.zeros(fit.x.size)
        e[j] = 1e-3
        assert f(fit.x + e) > fit.deviance and f(fit.x - e) > fit.deviance


@pytest.mark.parametrize("bad", [0, -2, 1.5, "10", True])
def test_nagq_must_be_a_positive_integer(bad) -> None:
    with pytest.raises(ValueError, match="^nAGQ: "):
        check_clmm_nagq(bad)


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
@pytest.mark.parametrize("nAGQ", [1, 7])
def test_exact_gradient_matches_differences(link, nAGQ) -> None:
    integral = ClusterIntegral(ordinal_problem("~ 1", link=link), nAGQ)
    _, grad = integral.evaluate(X)
    h, num = 1e-5, np.empty(X.size)
    for j in range(X.size):
        e = np.zeros(X.size)
        e[j] = h
        num[j] = (integral.deviance(X + e) - integral.deviance(X - e)) / (2 * h)
    np.testing.assert_allclose(grad, num, rtol=1e-7, atol=1e-6)
