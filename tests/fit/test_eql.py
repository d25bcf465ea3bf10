"""Tests of the EQL estimator, ``hglm.fit.eql``: REML equivalence and the fixed-point
equations of Gaussian, Poisson-gamma, Gamma and binomial-beta models."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from shared import require

import hglm

from .problems import count_data, dense_hat, grouped_design, make_problem, one_way

# --- Gaussian-Gaussian = REML ------------------------------------------------------


def test_balanced_one_way_equals_anova_reml() -> None:
    # balanced one-way layout, intercept only: REML = ANOVA when MSB > MSW
    rng = np.random.default_rng(11)
    k, m = 12, 6
    g = np.repeat(np.arange(k), m)
    n = k * m
    y = 2.0 + 1.2 * rng.normal(size=k)[g] + rng.normal(size=n)
    fit = hglm.hglm(y=y, X=np.ones((n, 1)), Z=np.eye(k)[g], conv=1e-20)
    means = y.reshape(k, m).mean(axis=1)
    msw = float(np.sum((y.reshape(k, m) - means[:, None]) ** 2)) / (n - k)
    msb = m * float(np.sum((means - y.mean()) ** 2)) / (k - 1)
    assert msb > msw
    assert fit.var_fix == pytest.approx(msw, rel=1e-8)
    assert fit.var_ranef[0] == pytest.approx((msb - msw) / m, rel=1e-8)
    assert fit.fixef.iloc[0] == pytest.approx(y.mean(), rel=1e-10)
    # BLUPs: shrunken group deviations
    tau2, s2 = (msb - msw) / m, msw
    blup = tau2 / (tau2 + s2 / m) * (means - y.mean())
    np.testing.assert_allclose(fit.ranef.to_numpy(), blup, rtol=1e-7, atol=1e-10)
    assert fit.converged


def test_unbalanced_one_way_matches_statsmodels_reml() -> None:
    sm = require("statsmodels.api")
    y, X, Z, g = one_way(1)
    fit = hglm.hglm(y=y, X=X, Z=Z, conv=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        md = sm.MixedLM(y, X, groups=g).fit(reml=True, method="bfgs", maxiter=500)
    assert fit.var_fix == pytest.approx(md.scale, rel=1e-5)
    assert fit.var_ranef[0] == pytest.approx(float(np.asarray(md.cov_re)[0, 0]), rel=1e-5)
    np.testing.assert_allclose(fit.fixef.to_numpy(), md.fe_params, rtol=1e-5)
    blups = np.array([md.random_effects[j].iloc[0] for j in range(Z.shape[1])])
    np.testing.assert_allclose(fit.ranef.to_numpy(), blups, rtol=1e-4, atol=1e-6)


def test_gaussian_fit_is_a_stationary_point_of_reml() -> None:
    # the REML score -1/2 [tr(P V_k) - y' P V_k P y] vanishes at (sigma2, tau2)
    y, X, Z, _ = one_way(2, k=10)
    fit = hglm.hglm(y=y, X=X, Z=Z, conv=1e-20)
    n = y.shape[0]
    s2, t2 = fit.var_fix, fit.var_ranef[0]
    V = s2 * np.eye(n) + t2 * Z @ Z.T
    Vi = np.linalg.inv(V)
    P = Vi - Vi @ X @ np.linalg.solve(X.T @ Vi @ X, X.T @ Vi)
    for Vk in (np.eye(n), Z @ Z.T):
        score = -0.5 * (np.trace(P @ Vk) - y @ P @ Vk @ P @ y)
        assert score == pytest.approx(0.0, abs=1e-8 * n)
    # GLS fixed effects
    beta = np.linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
    np.testing.assert_allclose(fit.fixef.to_numpy(), beta, rtol=1e-9)


def test_two_crossed_gaussian_terms_are_reml() -> None:
    rng = np.random.default_rng(17)
    n = 120
    a, b = rng.integers(0, 8, size=n), rng.integers(0, 6, size=n)
    Z1, Z2 = np.eye(8)[a], np.eye(6)[b]
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    y = 1 + x + 1.2 * rng.normal(size=8)[a] + 0.8 * rng.normal(size=6)[b] + rng.normal(size=n)
    fit = hglm.hglm(y=y, X=X, Z=np.hstack([Z1, Z2]), rand_c=[8, 6], conv=1e-18)
    assert fit.converged
    s2, (t1, t2) = fit.var_fix, fit.var_ranef
    parts = [np.eye(n), Z1 @ Z1.T, Z2 @ Z2.T]
    V = s2 * parts[0] + t1 * parts[1] + t2 * parts[2]
    Vi = np.linalg.inv(V)
    P = Vi - Vi @ X @ np.linalg.solve(X.T @ Vi @ X, X.T @ Vi)
    for Vk in parts:
        score = -0.5 * (np.trace(P @ Vk) - y @ P @ Vk @ P @ y)
        assert score == pytest.approx(0.0, abs=1e-7)
    # BLUPs: lambda_k Z_k' P y
    np.testing.assert_allclose(fit.ranef.to_numpy()[:8], t1 * Z1.T @ P @ y, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(fit.ranef.to_numpy()[8:], t2 * Z2.T @ P @ y, rtol=1e-7, atol=1e-9)


def test_gaussian_fixed_point_equations_dense() -> None:
    y, X, Z, _ = one_way(3, k=8)
    n, p, q = y.shape[0], X.shape[1], Z.shape[1]
    fit = hglm.hglm(y=y, X=X, Z=Z, conv=1e-20)
    phi, lam = fit.var_fix, fit.var_ranef[0]
    # Henderson's mixed model equations
    w1, w2 = np.full(n, 1 / phi), np.full(q, 1 / lam)
    T1 = np.hstack([X, Z])
    C = T1.T @ (w1[:, None] * T1)
    C[p:, p:] += np.diag(w2)
    delta = np.linalg.solve(C, T1.T @ (w1 * y))
    np.testing.assert_allclose(fit.fixef.to_numpy(), delta[:p], rtol=1e-9)
    np.testing.assert_allclose(fit.ranef.to_numpy(), delta[p:], rtol=1e-8, atol=1e-12)
    h, Cinv = dense_hat(X, Z, w1, w2)
    np.testing.assert_allclose(fit.hat_values, h, rtol=1e-7)
    np.testing.assert_allclose(fit.se_fixef.to_numpy(), np.sqrt(np.diag(Cinv)[:p]), rtol=1e-7)
    np.testing.assert_allclose(fit.se_ranef.to_numpy(), np.sqrt(np.diag(Cinv)[p:]), rtol=1e-7)
    d = np.concatenate([(y - T1 @ delta) ** 2, delta[p:] ** 2])
    np.testing.assert_allclose(fit.deviances, d, rtol=1e-7, atol=1e-14)
    # EQL dispersion updates (DESIGN.md steps 4-5) hold at the fixed point
    assert phi == pytest.approx(d[:n].sum() / (1 - h[:n]).sum(), rel=1e-8)
    assert lam == pytest.approx(d[n:].sum() / (1 - h[n:]).sum(), rel=1e-8)
    np.testing.assert_allclose(fit.fitted, T1 @ delta, rtol=1e-9)
    assert fit.df_resid == round(n - h[:n].sum())


def test_poisson_gamma_hglm_fixed_point_equations() -> None:
    # h-likelihood score equations of a Poisson-gamma HGLM (log, log), phi fixed at 1:
    #   X'(y - mu) = 0,  Z'(y - mu) + (1 - u) / lambda = 0,
    # and lambda = sum d_j / sum (1 - h_j) over the random rows (gamma deviances)
    rng = np.random.default_rng(4)
    k = 12
    g = np.repeat(np.arange(k), rng.integers(3, 8, size=k))
    n = g.shape[0]
    x = rng.normal(size=n)
    X, Z = np.column_stack([np.ones(n), x]), np.eye(k)[g]
    y = rng.poisson(np.exp(0.5 + 0.3 * x) * rng.gamma(2.0, 0.5, size=k)[g]).astype(float)
    fit = hglm.hglm(
        y=y, X=X, Z=Z, family="poisson", rand_family="gamma", fix_disp=1.0, conv=1e-16
    )
    mu, u, lam = fit.fitted, fit.ranef.to_numpy(), fit.var_ranef[0]
    v = np.log(u)
    np.testing.assert_allclose(mu, np.exp(X @ fit.fixef.to_numpy() + Z @ v), rtol=1e-10)
    np.testing.assert_allclose(X.T @ (y - mu), 0.0, atol=1e-7)
    np.testing.assert_allclose(Z.T @ (y - mu) + (1.0 - u) / lam, 0.0, atol=1e-7)
    # leverages with W1 = mu (phi = 1) and W2 = (du/dv)^2 / (V_r(u) lambda) = u / lambda
    h, _ = dense_hat(X, Z, mu, u / lam)
    np.testing.assert_allclose(fit.hat_values, h, rtol=1e-6)
    d_rand = -2.0 * (np.log(u) + 1.0 - u)
    np.testing.assert_allclose(fit.deviances[n:], d_rand, rtol=1e-8, atol=1e-14)
    assert lam == pytest.approx(d_rand.sum() / (1 - h[n:]).sum(), rel=1e-7)
    assert fit.var_fix == 1.0
    assert fit.disp_coef is None



def test_gamma_response_with_weights_and_offset_fixed_point_equations() -> None:
    # Gamma(log) response, Gaussian random effects, prior weights w and an offset:
    #   W1 = w / phi, and the IWLS normal equations are the h-likelihood scores
    #   X' (w (y - mu) / mu) = 0,  Z' (w (y - mu) / mu) / phi - v / lambda = 0;
    #   phi = sum w d(y, mu) / sum(1 - h) over the n rows (intercept-only, log link)
    rng, g, x, X, Z = grouped_design(15, 10, 4, 9)
    n, k = X.shape[0], Z.shape[1]
    w = rng.uniform(0.5, 2.0, size=n)
    off = rng.normal(scale=0.3, size=n)
    mu_true = np.exp(0.5 + 0.4 * x + off + 0.5 * rng.normal(size=k)[g])
    y = rng.gamma(5.0 * w, mu_true / (5.0 * w))
    fit = hglm.hglm(
        y=y, X=X, Z=Z, family=hglm.Gamma(link="log"), weights=w, offset=off, conv=1e-16
    )
    assert fit.converged
    phi, lam, v, mu = fit.var_fix, fit.var_ranef[0], fit.ranef.to_numpy(), fit.fitted
    np.testing.assert_allclose(mu, np.exp(X @ fit.fixef.to_numpy() + Z @ v + off), rtol=1e-10)
    r = w * (y - mu) / mu
    np.testing.assert_allclose(X.T @ r, 0.0, atol=1e-7)
    np.testing.assert_allclose(Z.T @ r / phi - v / lam, 0.0, atol=1e-6)
    h, _ = dense_hat(X, Z, w / phi, np.full(k, 1 / lam))
    np.testing.assert_allclose(fit.hat_values, h, rtol=1e-6)
    d = w * 2.0 * ((y - mu) / mu - np.log(y / mu))
    np.testing.assert_allclose(fit.deviances[:n], d, rtol=1e-8)
    assert phi == pytest.approx(d.sum() / (1 - h[:n]).sum(), rel=1e-7)
    assert lam == pytest.approx(np.sum(v**2) / (1 - h[n:]).sum(), rel=1e-7)


def test_binomial_beta_fixed_point_equations() -> None:
    # binomial(logit) with Beta(logit) random effects, phi = 1: u = expit(v),
    #   X'(y - mu) = 0,  Z'(y - mu) + (1/2 - u) / lambda = 0,
    #   W2 = u (1 - u) / lambda, and lambda = sum d_Beta(u) / sum(1 - h) over the q rows
    rng, g, x, X, Z = grouped_design(16, 15, 6, 12)
    n, k = X.shape[0], Z.shape[1]
    p_true = 1 / (1 + np.exp(-(0.3 * x + np.log(rng.beta(2, 2, size=k)[g] / 0.5))))
    y = rng.binomial(1, np.clip(p_true, 0.02, 0.98)).astype(float)
    fit = hglm.hglm(y=y, X=X, Z=Z, family="binomial", rand_family="beta", fix_disp=1,
                    conv=1e-16)
    assert fit.converged
    u, lam, mu = fit.ranef.to_numpy(), fit.var_ranef[0], fit.fitted
    v = np.log(u / (1 - u))
    np.testing.assert_allclose(
        mu, 1 / (1 + np.exp(-(X @ fit.fixef.to_numpy() + Z @ v))), rtol=1e-10
    )
    np.testing.assert_allclose(X.T @ (y - mu), 0.0, atol=1e-7)
    np.testing.assert_allclose(Z.T @ (y - mu) + (0.5 - u) / lam, 0.0, atol=1e-6)
    h, _ = dense_hat(X, Z, mu * (1 - mu), u * (1 - u) / lam)
    np.testing.assert_allclose(fit.hat_values, h, rtol=1e-6)
    d_beta = 2 * (0.5 * np.log(0.5 / u) + 0.5 * np.log(0.5 / (1 - u)))
    np.testing.assert_allclose(fit.deviances[n:], np.maximum(d_beta, 1e-8), rtol=1e-8)
    assert lam == pytest.approx(
        np.maximum(d_beta, 1e-8).sum() / (1 - h[n:]).sum(), rel=1e-7
    )



def test_is_linear_only_for_gaussian_identity_gaussian() -> None:
    _, _, _, _, X, Z = count_data(13)
    y = np.ones(X.shape[0])
    assert make_problem(y, X, Z).is_linear
    assert not make_problem(y, X, Z, "poisson").is_linear
    assert not make_problem(y, X, Z, "gaussian", "gamma").is_linear


def test_fix_disp_holds_residual_dispersion() -> None:
    y, X, Z, _ = one_way(14)
    fit = hglm.hglm(y=y, X=X, Z=Z, fix_disp=2.5, conv=1e-12)
    assert fit.var_fix == 2.5
    np.testing.assert_allclose(fit.disp_fitted, 2.5)
    assert fit.disp_coef is None
    # with phi fixed, lambda solves its own EQL equation
    n, q = y.shape[0], Z.shape[1]
    h, _ = dense_hat(X, Z, np.full(n, 1 / 2.5), np.full(q, 1 / fit.var_ranef[0]))
    u = fit.ranef.to_numpy()
    assert fit.var_ranef[0] == pytest.approx(np.sum(u**2) / np.sum(1 - h[n:]), rel=1e-8)


@pytest.mark.parametrize("fix_disp", [None, 2.5])
def test_the_fitted_dispersions_are_a_writable_vector(fix_disp) -> None:
    """One dispersion is a read-only broadcast inside the rounds; the fit reports a
    vector of its own."""
    y, X, Z, _ = one_way(14)
    fit = hglm.hglm(y=y, X=X, Z=Z, fix_disp=fix_disp)
    phi = fit.disp_fitted
    assert phi.shape == y.shape and phi.flags.writeable and phi.strides == (8,)
    np.testing.assert_allclose(phi, fit.var_fix)


def test_a_replaced_round_lets_its_vectors_go(monkeypatch) -> None:
    """Every round but the last drops its factor and n-vectors when the next starts; the
    last keeps what the result needs."""
    from hglm.fit import eql

    rounds = []
    step = eql.EQLFitter.step

    def recording_step(self, theta, delta):
        rnd, theta_next = step(self, theta, delta)
        rounds.append(rnd)
        return rnd, theta_next

    monkeypatch.setattr(eql.EQLFitter, "step", recording_step)
    y, X, Z, _ = one_way(14)
    fit = hglm.hglm(y=y, X=X, Z=Z)
    assert len(rounds) > 2
    for rnd in rounds[:-1]:
        assert rnd.factor is rnd.w1 is rnd.hat is rnd.dev is rnd.mu is None
        assert rnd.eta is not None and rnd.delta is not None
    last = rounds[-1]
    assert last.factor is not None and last.w1 is not None and last.mu is not None
    np.testing.assert_allclose(fit.fitted, last.mu)



# --- vector-valued terms (1 + x | g) ------------------------------------------------


def test_eql_of_an_lmm_with_a_vector_term_is_its_reml_fit() -> None:
    from hglm.fit.eql import Options, fit_eql
    from hglm.fit.likelihood import fit_likelihoods
    from hglm.fit.lmm import fit_lmm

    from .glmm_problems import vector_problem

    pb = vector_problem(scalar_levels=5)
    reml = fit_lmm(pb, reml=True)
    eql = fit_eql(pb, Options(conv=1e-13, maxit=500))
    assert eql.converged
    np.testing.assert_allclose(eql.theta, reml.theta, rtol=1e-6)
    np.testing.assert_allclose(eql.phi[0], reml.sigma2, rtol=1e-6)
    np.testing.assert_allclose(eql.beta, reml.beta, rtol=1e-8)
    for ours, theirs in zip(eql.covariances, reml.covariances, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    np.testing.assert_allclose(eql.v, reml.v, rtol=1e-6, atol=1e-8)
    # pbvh is the REML log-likelihood
    assert fit_likelihoods(eql).pbvh == pytest.approx(reml.loglik, abs=1e-7)


@pytest.mark.parametrize("hl_correction", [False, True])
def test_binomial_vector_term_reaches_the_fixed_point(hl_correction: bool) -> None:
    from hglm.engine import inverse_diag_blocks
    from hglm.fit.covariance_update import covariance_update
    from hglm.fit.eql import Options, fit_eql

    from .glmm_problems import vector_problem

    pb = vector_problem("binomial", n=200, m=20, seed=5)
    eql = fit_eql(pb, Options(conv=1e-12, maxit=500, hl_correction=hl_correction))
    assert eql.converged
    (sigma,) = eql.covariances
    L = eql.last.factors[0]
    blocks = inverse_diag_blocks(eql.last.factor, 2, 2, 20)
    # the last round's update leaves Sigma where it is
    np.testing.assert_allclose(covariance_update(eql.fitted_v, blocks, L), sigma, rtol=1e-5)
    np.testing.assert_allclose(L @ L.T, sigma, rtol=1e-5)
    assert eql.variances.shape == (40,)
    np.testing.assert_allclose(eql.variances[:2], np.diag(sigma))


def test_eql_refuses_startval_with_a_vector_term() -> None:
    from hglm.fit.eql import Options, fit_eql

    from .glmm_problems import vector_problem

    with pytest.raises(ValueError, match="startval"):
        fit_eql(vector_problem(), Options(startval=np.ones(40)))
