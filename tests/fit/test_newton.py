"""The quasi-Newton method (hglm.fit.newton)."""

from __future__ import annotations

import numpy as np
import pytest

from hglm.fit import newton
from hglm.fit.newton import minimize_newton


def _rosenbrock(x):
    return float(100.0 * (x[1] - x[0] ** 2) ** 2 + (1.0 - x[0]) ** 2)


def _rosenbrock_grad(x):
    return np.array([-400.0 * x[0] * (x[1] - x[0] ** 2) - 2.0 * (1.0 - x[0]),
                     200.0 * (x[1] - x[0] ** 2)])


def test_a_quadratic_takes_one_step():
    A = np.array([[4.0, 1.0], [1.0, 3.0]])
    b = np.array([1.0, -2.0])
    calls = []

    def f(x):
        calls.append(1)
        return float(0.5 * x @ A @ x - b @ x)

    res = minimize_newton(f, lambda x: A @ x - b, np.zeros(2))
    assert res.converged and res.n_iter == 1
    np.testing.assert_allclose(res.x, np.linalg.solve(A, b), rtol=1e-8)
    assert len(calls) == 2
    np.testing.assert_allclose(res.hessian, A, rtol=1e-6)


def test_rosenbrock_reaches_its_minimum():
    res = minimize_newton(_rosenbrock, _rosenbrock_grad, np.array([-1.2, 1.0]), tol=1e-14)
    assert res.converged
    np.testing.assert_allclose(res.x, [1.0, 1.0], rtol=1e-6)


def test_the_given_hessian_starts_the_iteration():
    A = np.diag([2.0, 8.0])
    res = minimize_newton(lambda x: float(0.5 * x @ A @ x), lambda x: A @ x,
                          np.array([1.0, 1.0]), hessian=A)
    assert res.converged and res.n_iter == 1 and res.fun == pytest.approx(0.0, abs=1e-20)


def test_an_iteration_limit_is_reported():
    res = minimize_newton(_rosenbrock, _rosenbrock_grad, np.array([-1.2, 1.0]), maxiter=2)
    assert not res.converged and "limit" in res.message


def test_an_infinite_start_is_reported():
    res = minimize_newton(lambda x: np.inf, lambda x: np.zeros(1), np.zeros(1))
    assert not res.converged and "not finite" in res.message


def test_a_gradient_that_is_not_finite_stops_the_iteration():
    res = minimize_newton(lambda x: float(x @ x), lambda x: np.full(2, np.nan), np.ones(2),
                          hessian=np.eye(2))
    assert not res.converged and "not finite" in res.message


def _flat_tail(x):
    """Minimum at the bound sd = exp(x[0]) -> 0 (f ~ sd^2, flat below a floor), coupled
    to x[1]."""
    sd2 = np.exp(2.0 * max(x[0], np.log(1e-5)))
    return float(3.0 * sd2 + (x[1] - 1.0 - sd2) ** 2)


def _flat_tail_grad(x):
    sd2 = np.exp(2.0 * x[0]) if x[0] > np.log(1e-5) else 0.0
    r = x[1] - 1.0 - sd2
    return np.array([2.0 * sd2 * (3.0 - 2.0 * r), 2.0 * r])


def _to_bound(x, xn):
    if xn[0] < x[0] and np.exp(xn[0]) < 0.05:
        return np.array([np.log(1e-5) - 1.0, xn[1]])
    return None


def test_a_coordinate_heading_to_its_bound_is_put_there():
    x0 = np.array([0.0, 0.0])
    walked = minimize_newton(_flat_tail, _flat_tail_grad, x0, tol=1e-14)
    jumped = minimize_newton(_flat_tail, _flat_tail_grad, x0, tol=1e-14, to_bound=_to_bound)
    assert walked.converged and jumped.converged
    assert jumped.n_iter < walked.n_iter / 2
    assert jumped.x[0] < np.log(1e-5)
    assert jumped.fun <= walked.fun + 1e-15
    np.testing.assert_allclose(jumped.x[1], 1.0, atol=1e-8)


def test_a_bound_trial_that_does_not_decrease_the_objective_is_declined():
    # the optimum is at sd = 1: the trial at the bound is never taken
    res = minimize_newton(lambda x: float((np.exp(x[0]) - 1.0) ** 2),
                          lambda x: np.array([2.0 * (np.exp(x[0]) - 1.0) * np.exp(x[0])]),
                          np.array([-2.0]), tol=1e-16,
                          to_bound=lambda x, xn: np.array([-20.0]))
    assert res.converged
    np.testing.assert_allclose(res.x, [0.0], atol=1e-7)


def test_a_hessian_that_is_not_positive_definite_is_damped():
    """H indefinite: the step solves (H + tau I) d = -g for the smallest tau tried that
    makes it definite, a descent direction."""
    H, g = np.array([[1.0, 0.0], [0.0, -2.0]]), np.array([1.0, 1.0])
    d = newton._newton_step(H, g)
    assert float(g @ d) < 0
    assert newton._cholesky(H) is None and newton._cholesky(np.full((2, 2), np.nan)) is None
