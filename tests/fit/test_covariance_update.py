"""The h-likelihood update of a vector term's covariance (hglm.fit.covariance_update)."""

from __future__ import annotations

import numpy as np
import pytest

from hglm.fit.covariance_update import (
    HELD,
    covariance_update,
    from_log_cholesky,
    hold_boundary,
    log_cholesky,
)
from hglm.fit.diagnostics import Divergence
from hglm.fit.dispersion import intercept_only_fit
from hglm.spec import Unstructured


def test_q1_is_the_scalar_gamma_glm_step():
    """For one effect per level the update is the intercept-only gamma GLM of a scalar
    term: lambda <- sum v^2 / (m - sum h), v = L b and h = C^{-1}_jj its leverages."""
    rng = np.random.default_rng(3)
    m, lam = 9, 2.5
    b = rng.normal(size=m)
    c_inv = rng.uniform(0.05, 0.6, m)  # C^{-1}_jj on the scale of b
    L = np.array([[np.sqrt(lam)]])
    new = covariance_update(b, c_inv.reshape(m, 1, 1), L)
    v = np.sqrt(lam) * b
    h = c_inv  # w2 (C_u^{-1})_jj = (1 / lam) lam C^{-1}_jj
    expected = intercept_only_fit(float(np.sum(v**2)), 1.0 - h).fitted[0]
    assert new[0, 0] == pytest.approx(expected, rel=1e-14)


def test_the_fixed_point_is_the_reml_equation():
    """Sigma is unchanged exactly when Sigma = (1/m) sum (u u' + C_u^{-1}_ll)."""
    rng = np.random.default_rng(4)
    m, q = 7, 3
    L = np.linalg.cholesky(np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]]))
    blocks = rng.normal(size=(m, q, q))
    blocks = 0.05 * blocks @ blocks.transpose(0, 2, 1)
    B = blocks.mean(axis=0)
    # effects whose second moment is A = I - B: Sigma is then the fixed point
    W = rng.normal(size=(m, q))
    W -= W.mean(axis=0)
    root = np.linalg.cholesky(np.eye(q) - B)
    white = np.linalg.cholesky(W.T @ W / m)
    b = (W @ np.linalg.inv(white).T @ root.T).ravel()
    Sigma = L @ L.T
    new = covariance_update(b, blocks, L)
    np.testing.assert_allclose(new, Sigma, rtol=1e-12)
    u = b.reshape(m, q) @ L.T
    reml = (u.T @ u + sum(L @ Bl @ L.T for Bl in blocks)) / m
    np.testing.assert_allclose(reml, Sigma, rtol=1e-12)
    # away from it the update moves Sigma
    assert not np.allclose(covariance_update(2.0 * b, blocks, L), Sigma)


def test_log_cholesky_state_round_trips():
    cov = Unstructured(3)
    L = np.array([[1.5, 0.0, 0.0], [-0.4, 0.8, 0.0], [0.2, 0.3, 0.05]])
    state = log_cholesky(L, cov)
    np.testing.assert_allclose(state, [np.log(1.5), -0.4, 0.2, np.log(0.8), 0.3, np.log(0.05)])
    np.testing.assert_allclose(from_log_cholesky(state, cov), L)


def test_hold_boundary_keeps_a_diagonal_off_zero_relative_to_sigma():
    L = np.array([[1.2, 0.0], [0.7, 1e-9]])
    held = hold_boundary(L, scale=4.0)
    np.testing.assert_array_equal(held[:, 0], L[:, 0])
    assert held[1, 1] == HELD * 2.0
    np.testing.assert_array_equal(hold_boundary(held, 4.0), held)
    np.linalg.cholesky(held @ held.T)  # positive definite


def test_update_refuses_leverages_at_one():
    """1 - B not positive definite (B rounded past I: a diagonal of L far below HELD) is
    a divergence, not a NaN Sigma."""
    m, q = 4, 2
    blocks = np.tile(np.diag([0.3, 1.0 + 1e-15]), (m, 1, 1))
    with pytest.raises(Divergence, match="leverages"):
        covariance_update(np.ones(m * q), blocks, np.eye(q))
