"""Adaptive Gauss-Hermite quadrature (hglm.fit.agq) against the Laplace deviance and
numerical integration group by group."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from hglm.fit.agq import QuadratureDeviance, check_quadrature
from hglm.fit.laplace import LaplaceDeviance
from hglm.spec import RandomTermModel, get_link
from hglm.spec.families import random_family

from .glmm_problems import glmm_problem


def test_one_node_is_the_laplace_approximation():
    pb = glmm_problem("binomial", "logit", seed=3, levels=(10,), trials=3)
    agq, laplace = QuadratureDeviance(pb, 1), LaplaceDeviance(pb, "ML")
    x = agq.params.pack(np.array([0.9]), np.array([0.1, 0.5]), None)
    assert agq.objective(x) == pytest.approx(laplace.objective(x), rel=1e-12)


def _integrated_loglik(pb, sd, beta):
    """sum over groups of log int prod_i Binom(y_i | eta_i + v) N(v; 0, sd^2) dv."""
    block = pb.blocks[0]
    trials = pb.weights.astype(int)
    successes = np.round(pb.y * trials).astype(int)
    eta = pb.X @ beta
    total = 0.0
    for a in range(block.n_levels):
        rows = block.index == a

        def integrand(v, rows=rows):
            p = 1.0 / (1.0 + np.exp(-(eta[rows] + v)))
            return np.prod(stats.binom.pmf(successes[rows], trials[rows], p)) * (
                stats.norm.pdf(v, scale=sd))

        total += np.log(integrate.quad(integrand, -12 * sd, 12 * sd, epsabs=0,
                                       epsrel=1e-12, limit=200)[0])
    return total


def test_many_nodes_reach_the_integrated_likelihood():
    pb = glmm_problem("binomial", "logit", seed=4, levels=(8,), n=40, trials=4, sd=1.2)
    sd, beta = np.array([1.3]), np.array([0.2, 0.6])
    agq = QuadratureDeviance(pb, 25)
    loglik = -0.5 * agq.objective(agq.params.pack(sd, beta, None))
    assert loglik == pytest.approx(_integrated_loglik(pb, sd[0], beta), abs=1e-9)


def test_quadrature_error_falls_with_the_nodes():
    pb = glmm_problem("binomial", "logit", seed=4, levels=(8,), n=40, trials=4, sd=1.2)
    x = QuadratureDeviance(pb, 1).params.pack(np.array([1.3]), np.array([0.2, 0.6]), None)
    exact = QuadratureDeviance(pb, 30).objective(x)
    errors = [abs(QuadratureDeviance(pb, k).objective(x) - exact) for k in (1, 3, 7)]
    assert errors[0] > errors[1] > errors[2]


def test_refuses_what_quadrature_does_not_cover():
    two = glmm_problem("binomial", "logit", levels=(8, 5))
    with pytest.raises(ValueError, match="nAGQ.*single, scalar random-effects term"):
        check_quadrature(two, 10)
    dense = glmm_problem("binomial", "logit", levels=(8,))
    dense.blocks = [dense.blocks[0].toarray() * np.linspace(0.5, 1.5, 90)[:, None]
                    + 0.1]
    with pytest.raises(ValueError, match="nAGQ"):
        check_quadrature(dense, 10)
    gamma = glmm_problem("poisson", "log", levels=(8,))
    gamma.terms = [RandomTermModel(random_family("gamma"), None, get_link("log"))]
    with pytest.raises(ValueError, match="nAGQ.*Gaussian"):
        check_quadrature(gamma, 10)
