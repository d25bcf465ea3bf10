"""Laplace fits with a vector random term (hglm.fit.clmm_vector): the scalar case is the
random-intercept Laplace fit, the modes solve their equations, the maximum is one."""

from __future__ import annotations

import numpy as np
import pytest

from hglm.fit import BoundaryWarning
from hglm.fit.clmm import ClusterIntegral, fit_clmm
from hglm.fit.clmm_vector import VectorLaplace, covariance_factor, fit_clmm_vector
from hglm.spec import ordinal_design

from .ordinal_problems import ordinal_frame, ordinal_problem

X = np.array([-1.2, 0.1, 1.3, 0.7, 0.2, np.log(1.3)])


def test_covariance_factor_is_columnwise_with_log_diagonal() -> None:
    L = covariance_factor(np.array([0.1, 0.5, -0.2]), 2)
    np.testing.assert_allclose(L, [[np.exp(0.1), 0.0], [0.5, np.exp(-0.2)]])


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_scalar_term_is_the_random_intercept_laplace(link) -> None:
    design = ordinal_problem("~ 1", link=link)
    assert VectorLaplace(design).deviance(X) == pytest.approx(
        ClusterIntegral(design, 1).deviance(X), rel=1e-12)
    vector, scalar = fit_clmm_vector(design), fit_clmm(design, 1)
    assert vector.deviance == pytest.approx(scalar.deviance, abs=2e-6)
    np.testing.assert_allclose(vector.x, scalar.x, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.sqrt(np.diag(np.linalg.inv(vector.hessian))),
                               np.sqrt(np.diag(np.linalg.inv(scalar.hessian))), rtol=1e-3)


def test_modes_solve_their_equations() -> None:
    design = ordinal_problem("~ 1 + t")
    lap = VectorLaplace(design)
    x = np.concatenate([X[:-1], [0.2, -0.3, -0.5]])
    lap.deviance(x)
    L = covariance_factor(x[lap.p :], 2)
    _, g, H = lap._h(lap.interval.bounds(x[: lap.p]), lap.modes, np.linalg.inv(L @ L.T))
    assert np.max(np.abs(g)) < 1e-9
    assert np.all(np.linalg.eigvalsh(-H) > 0)


def test_vector_fit_is_a_maximum() -> None:
    design = ordinal_design("y ~ x + t", ordinal_frame(n_clusters=100, per=8, slope_sd=0.8),
                            id="g", random="~ 1 + x")
    fit = fit_clmm_vector(design)
    assert fit.converged and fit.cov_ranef.shape == (2, 2)
    assert np.all(np.linalg.eigvalsh(fit.hessian) > 0)
    f = VectorLaplace(design).deviance
    for j in range(fit.x.size):
        e = np.zeros(fit.x.size)
        e[j] = 1e-3
        assert f(fit.x + e) > fit.deviance and f(fit.x - e) > fit.deviance
    assert np.sqrt(fit.cov_ranef[1, 1]) == pytest.approx(0.8, abs=0.4)


def test_a_variance_at_zero_is_a_singular_fit() -> None:
    with pytest.warns(BoundaryWarning, match="singular"):
        fit = fit_clmm_vector(ordinal_problem("~ 1 + x"))  # no random slope in the data
    assert fit.singular
