"""Finite differences (hglm.fit.differences) on functions with known derivatives."""

from __future__ import annotations

import numpy as np

from hglm.fit.differences import gradient_hessian, value_gradient, value_hessian

A = np.array([[3.0, 0.5, -0.2], [0.5, 2.0, 0.3], [-0.2, 0.3, 1.5]])


def _f(x):
    return float(np.exp(0.3 * x[0]) + 0.5 * x @ A @ x + np.sin(x[1]) * x[2])


def _grad(x):
    return np.array([0.3 * np.exp(0.3 * x[0]), np.cos(x[1]) * x[2], np.sin(x[1])]) + A @ x


def _hess(x):
    H = A.copy()
    H[0, 0] += 0.09 * np.exp(0.3 * x[0])
    H[1, 1] -= np.sin(x[1]) * x[2]
    H[1, 2] += np.cos(x[1])
    H[2, 1] += np.cos(x[1])
    return H


X0 = np.array([0.4, -1.1, 2.0])


def test_gradient_hessian():
    np.testing.assert_allclose(gradient_hessian(_grad, X0, _grad(X0)), _hess(X0), atol=1e-3)


def test_gradient_hessian_of_some_columns():
    H = gradient_hessian(_grad, X0, _grad(X0), columns=[1])
    expected = np.zeros((3, 3))
    expected[:, 1] = expected[1, :] = _hess(X0)[:, 1]
    np.testing.assert_allclose(H, expected, atol=1e-3)


def test_value_gradient():
    np.testing.assert_allclose(value_gradient(_f, X0), _grad(X0), rtol=1e-8)


def test_value_hessian():
    np.testing.assert_allclose(value_hessian(_f, X0), _hess(X0), rtol=1e-5)
