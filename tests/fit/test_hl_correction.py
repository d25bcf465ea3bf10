"""Tests of the EQL1 (HL(1,1)) correction, ``hglm.fit.hl_correction``: R's rounds by
dense algebra, the vanishing correction of a linear mixed model, the method names."""

from __future__ import annotations

import numpy as np
import pytest

import hglm
from hglm.spec.families import response_family

from .problems import one_way, poisson_glmm


def _eql1_reference(y, X, Z, conv: float, maxit: int = 500):
    """R's EQL1 for a Poisson(log) GLMM with one Gaussian random intercept and phi = 1,
    by dense algebra (DESIGN.md "EQL1", R's round structure): each round's first IWLS
    step is uncorrected, the later ones subtract the shift c of the state the previous
    round ended in (the start, in the first round), stopping at sum(d eta^2) <
    1e-7 sum(eta^2).  Returns (beta, lambda, rounds)."""
    n, p = X.shape
    q = Z.shape[1]
    T = np.block([[X, Z], [np.zeros((q, p)), np.eye(q)]])
    glm = hglm.fit.glm.fit_glm(y, X, response_family("poisson"))
    delta, lam = np.concatenate([glm.coef, np.zeros(q)]), 0.66

    def shift(delta, lam):
        # Poisson log: W1 = mu, dW1/dmu = 1, dmu/deta = mu, so
        # c = (P / mu - K P) / 2 with K = Z (Z'W1Z + I/lam)^-1 Z', P = diag(K) W1
        mu = np.exp(T[:n] @ delta)
        K = Z @ np.linalg.solve(Z.T @ (mu[:, None] * Z) + np.eye(q) / lam, Z.T)
        P = np.diag(K) * mu
        return 0.5 * (P / mu - K @ P)

    c, eta_old, rounds = shift(delta, lam), None, 0
    while rounds < maxit:
        rounds += 1
        eta = T[:n] @ delta
        for step in range(100):
            mu = np.exp(eta)
            cs = c if step else np.zeros(n)
            w = np.concatenate([mu, np.full(q, 1.0 / lam)])
            z = np.concatenate([eta + (y - mu) / mu - cs, Z.T @ (mu * cs) * lam])
            C = T.T @ (w[:, None] * T)
            delta = np.linalg.solve(C, T.T @ (w * z))
            change, eta = np.sum((T[:n] @ delta - eta) ** 2), T[:n] @ delta
            if change < 1e-7 * np.sum(eta**2):
                break
        h = w * np.einsum("ij,jk,ik->i", T, np.linalg.inv(C), T)
        c = shift(delta, lam)
        lam = np.sum(np.maximum(delta[p:] ** 2, 1e-8)) / np.sum(1.0 - h[n:])
        if eta_old is not None and np.sum((eta_old - eta) ** 2) < conv * np.sum(eta**2):
            break
        eta_old = eta
    return delta[:p], lam, rounds



@pytest.mark.parametrize("seed", [1, 2])
def test_eql1_follows_r_rounds(seed: int) -> None:
    """The plain EQL1 iteration is R's, round by round (same rounds, same estimates),
    on a model whose K is not diagonal; the accelerated fit reaches the same fixed point."""
    y, X, Z = poisson_glmm(seed)
    kw = {"y": y, "X": X, "Z": Z, "family": "poisson", "fix_disp": 1.0, "method": "EQL1"}
    for conv in (1e-6, 1e-16):
        beta, lam, rounds = _eql1_reference(y, X, Z, conv)
        plain = hglm.hglm(**kw, conv=conv, maxit=500, accelerate=False)
        assert plain.method == "EQL1" and plain.n_iter == rounds
        np.testing.assert_allclose(plain.fixef.to_numpy(), beta, rtol=1e-9)
        np.testing.assert_allclose(plain.var_ranef[0], lam, rtol=1e-9)
    fast = hglm.hglm(**kw, conv=1e-16, maxit=500)
    np.testing.assert_allclose(fast.fixef.to_numpy(), beta, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(fast.var_ranef[0], lam, rtol=1e-8)
    eql = hglm.hglm(**{**kw, "method": "EQL"}, conv=1e-16)
    assert abs(eql.fixef.iloc[0] - beta[0]) > 1e-3  # the correction matters here


def test_eql1_of_a_linear_mixed_model_is_eql() -> None:
    """The correction vanishes for a Gaussian response (dW1/dmu = 0)."""
    y, X, Z, _ = one_way(3)
    eql = hglm.hglm(y=y, X=X, Z=Z, conv=1e-12)
    eql1 = hglm.hglm(y=y, X=X, Z=Z, conv=1e-12, method="EQL1")
    np.testing.assert_allclose(eql1.fixef.to_numpy(), eql.fixef.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(eql1.var_ranef, eql.var_ranef, rtol=1e-10)


def test_hl11_is_eql1() -> None:
    """The tutorial's method = "HL11" is EQL1."""
    y, X, Z = poisson_glmm(1)
    kw = {"y": y, "X": X, "Z": Z, "family": "poisson", "fix_disp": 1.0}
    a, b = hglm.hglm(**kw, method="HL11"), hglm.hglm(**kw, method="EQL1")
    assert a.method == b.method == "EQL1"
    np.testing.assert_array_equal(a.fixef.to_numpy(), b.fixef.to_numpy())


def test_eql1_falls_back_to_eql_for_non_gaussian_random_effects() -> None:
    y, X, Z = poisson_glmm(1)
    kw = {"y": y, "X": X, "Z": Z, "family": "poisson", "rand_family": "gamma", "fix_disp": 1.0}
    with pytest.warns(UserWarning, match="method: EQL1 is defined for Gaussian random"):
        fit = hglm.hglm(**kw, method="EQL1")
    assert fit.method == "EQL"
    np.testing.assert_array_equal(fit.fixef.to_numpy(), hglm.hglm(**kw).fixef.to_numpy())


def test_unknown_method_is_refused() -> None:
    y, X, Z = poisson_glmm(1)
    with pytest.raises(ValueError, match="method: must be 'EQL' or 'EQL1'"):
        hglm.hglm(y=y, X=X, Z=Z, family="poisson", method="HL21")
