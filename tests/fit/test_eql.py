"""Tests of the EQL driver, ``hglm.fit.eql``: REML equivalence, the fixed-point equations,
SQUAREM versus plain iteration, verbose output, non-convergence and start values."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import hglm
from hglm.engine.augmented import as_block
from hglm.fit.eql import ConvergenceWarning, Options, fit_eql
from hglm.spec.families import random_family, response_family
from hglm.spec.links import LINKS
from hglm.spec.model import Problem, RandomTermModel


def one_way(seed: int, k: int = 15, lo: int = 2, hi: int = 9, tau: float = 1.0):
    """Unbalanced one-way Gaussian data with a covariate: (y, X, Z, groups)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(lo, hi, size=k)
    g = np.repeat(np.arange(k), sizes)
    n = g.shape[0]
    x = rng.normal(size=n)
    y = 1.0 + 0.5 * x + tau * rng.normal(size=k)[g] + rng.normal(size=n)
    return y, np.column_stack([np.ones(n), x]), np.eye(k)[g], g


def make_problem(y, X, Z, family="gaussian", rand_family="gaussian", fix_disp=None):
    n = y.shape[0]
    return Problem(
        y=np.asarray(y, dtype=float),
        X=X,
        blocks=[as_block(Z)],
        terms=[RandomTermModel(random_family(rand_family), None, LINKS["log"])],
        family=response_family(family),
        weights=np.ones(n),
        offset=np.zeros(n),
        x_disp=None,
        link_disp=LINKS["log"],
        fix_disp=fix_disp,
    )


def dense_hat(X, Z, w1, w2):
    """Leverages of the augmented GLM and C^{-1} by dense algebra."""
    p, q = X.shape[1], Z.shape[1]
    T = np.block([[X, Z], [np.zeros((q, p)), np.eye(q)]])
    w = np.concatenate([w1, w2])
    Cinv = np.linalg.inv(T.T @ (w[:, None] * T))
    return w * np.einsum("ij,jk,ik->i", T, Cinv, T), Cinv


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
    sm = pytest.importorskip("statsmodels.api")
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


def _grouped_design(seed: int, k: int, low: int, high: int):
    """An unbalanced one-way design: k groups of low..high-1 rows, X = [1, x], Z = group
    indicators; returns (rng, group of each row, x, X, Z)."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(k), rng.integers(low, high, size=k))
    x = rng.normal(size=g.shape[0])
    return rng, g, x, np.column_stack([np.ones(g.shape[0]), x]), np.eye(k)[g]


def test_gamma_response_with_weights_and_offset_fixed_point_equations() -> None:
    # Gamma(log) response, Gaussian random effects, prior weights w and an offset:
    #   W1 = w / phi, and the IWLS normal equations are the h-likelihood scores
    #   X' (w (y - mu) / mu) = 0,  Z' (w (y - mu) / mu) / phi - v / lambda = 0;
    #   phi = sum w d(y, mu) / sum(1 - h) over the n rows (intercept-only, log link)
    rng, g, x, X, Z = _grouped_design(15, 10, 4, 9)
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
    rng, g, x, X, Z = _grouped_design(16, 15, 6, 12)
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


# --- SQUAREM and plain iteration --------------------------------------------------


def _count_data(seed: int):
    rng = np.random.default_rng(seed)
    k = 20
    g = np.repeat(np.arange(k), rng.integers(3, 10, size=k))
    n = g.shape[0]
    x = rng.normal(size=n)
    return rng, g, n, x, np.column_stack([np.ones(n), x]), np.eye(k)[g]


def _case(name: str) -> Problem:
    rng, g, n, x, X, Z = _count_data(5)
    k = Z.shape[1]
    if name == "gaussian-gaussian":
        y = 1 + 0.5 * x + rng.normal(size=k)[g] + rng.normal(size=n)
        return make_problem(y, X, Z)
    if name == "poisson-gaussian":
        y = rng.poisson(np.exp(0.5 + 0.3 * x + 0.5 * rng.normal(size=k)[g]))
        return make_problem(y, X, Z, "poisson", "gaussian")
    if name == "poisson-gamma-fixdisp":
        y = rng.poisson(np.exp(0.5 + 0.3 * x) * rng.gamma(2, 0.5, size=k)[g])
        return make_problem(y, X, Z, "poisson", "gamma", fix_disp=1.0)
    if name == "binomial-beta":
        y = rng.binomial(1, rng.beta(3, 3, size=k)[g])
        return make_problem(y, X, Z, "binomial", "beta")
    raise AssertionError(name)


@pytest.mark.parametrize(
    "name", ["gaussian-gaussian", "poisson-gaussian", "poisson-gamma-fixdisp", "binomial-beta"]
)
def test_squarem_and_plain_iteration_reach_the_same_fixed_point(name: str) -> None:
    # conv = 1e-20 (relative eta steps of 1e-10) so that both stop within 1e-8 of the
    # fixed point despite linear convergence of the plain iteration
    fast = fit_eql(_case(name), Options(conv=1e-20, maxit=1000, accelerate=True))
    plain = fit_eql(_case(name), Options(conv=1e-20, maxit=1000, accelerate=False))
    assert fast.converged and plain.converged
    np.testing.assert_allclose(fast.beta, plain.beta, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fast.v, plain.v, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fast.lam, plain.lam, rtol=1e-8)
    np.testing.assert_allclose(fast.phi, plain.phi, rtol=1e-8)
    np.testing.assert_allclose(fast.last.hat, plain.last.hat, rtol=1e-7, atol=1e-12)
    assert fast.n_iter <= plain.n_iter


def test_plain_iteration_follows_r_stopping_rule() -> None:
    prob = _case("poisson-gaussian")
    lines: list[str] = []
    fit = fit_eql(prob, Options(conv=1e-6, maxit=200, accelerate=False, verbose=lines.append))
    assert fit.converged and fit.stopped_by_criterion
    assert fit.criterion < 1e-6
    crit = [float(m.group(1)) for m in map(re.compile(r"criterion (\S+)").search, lines) if m]
    assert len(crit) == fit.n_iter
    # stops at the first round (from the second on) below conv
    assert all(c >= 1e-6 for c in crit[1:-1])
    assert crit[-1] == pytest.approx(fit.criterion, rel=1e-3)
    assert fit.n_iter >= 2


# --- verbose, maxit, startval -----------------------------------------------------


@pytest.mark.parametrize("accelerate", [True, False])
def test_verbose_prints_one_line_per_iteration(capsys, accelerate: bool) -> None:
    prob = _case("poisson-gaussian")
    fit = fit_eql(prob, Options(verbose=True, accelerate=accelerate))
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == fit.n_iter
    assert all(line.startswith("iteration") for line in out)
    assert [int(line.split()[1]) for line in out] == list(range(1, fit.n_iter + 1))


def test_verbose_through_hglm(capsys) -> None:
    y, X, Z, _ = one_way(6)
    fit = hglm.hglm(y=y, X=X, Z=Z, verbose=True)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == fit.n_iter >= 2
    quiet = hglm.hglm(y=y, X=X, Z=Z)
    assert capsys.readouterr().out == ""
    assert quiet.n_iter == fit.n_iter


def test_default_progress_only_on_a_terminal(capsys, monkeypatch) -> None:
    y, X, Z, _ = one_way(6)
    monkeypatch.setattr(hglm.fit.iteration, "PROGRESS_AFTER_SECONDS", 0.0)
    hglm.hglm(y=y, X=X, Z=Z)  # stderr is captured, not a terminal: silent
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    monkeypatch.setattr(hglm.fit.iteration.sys.stderr, "isatty", lambda: True)
    fit = hglm.hglm(y=y, X=X, Z=Z)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == fit.n_iter and err[0].startswith("iteration    1")
    hglm.hglm(y=y, X=X, Z=Z, verbose=False)
    assert capsys.readouterr().err == ""


def test_maxit_two_warns_and_is_not_converged() -> None:
    y, X, Z, _ = one_way(7)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        fit = hglm.hglm(y=y, X=X, Z=Z, maxit=2)
    assert fit.converged is False
    assert fit.n_iter == 2
    assert "NOT" in str(fit.summary())


def test_maxit_two_plain_engine() -> None:
    with pytest.warns(ConvergenceWarning):
        fit = fit_eql(_case("binomial-beta"), Options(maxit=2, accelerate=False))
    assert not fit.converged and fit.n_iter == 2


def test_dominant_random_variance_is_not_converged() -> None:
    # residual noise ~1e-4 of the random-effect spread: a random term holds more than
    # 1 - 1e-4 of the total dispersion, which R's rule reports as non-convergence
    rng = np.random.default_rng(8)
    k = 10
    g = np.repeat(np.arange(k), 5)
    n = g.shape[0]
    y = rng.normal(size=k)[g] + 1e-4 * rng.normal(size=n)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = hglm.hglm(y=y, X=np.ones((n, 1)), Z=np.eye(k)[g])
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert fit.var_ranef[0] / (fit.var_ranef[0] + fit.var_fix) > 1 - 1e-4
    assert fit.converged is False


@pytest.mark.parametrize("length_delta", [-1, 1])
def test_startval_wrong_length(length_delta: int) -> None:
    y, X, Z, _ = one_way(9)
    size = X.shape[1] + Z.shape[1] + 1 + 1 + length_delta
    with pytest.raises(ValueError, match=r"\bstartval\b"):
        hglm.hglm(y=y, X=X, Z=Z, startval=np.ones(size))


def test_startval_with_fix_disp_has_no_residual_dispersion() -> None:
    rng, g, n, x, X, Z = _count_data(10)
    q = Z.shape[1]
    y = rng.poisson(np.exp(0.7 + 0.2 * x + 0.6 * rng.normal(size=q)[g])).astype(float)
    with pytest.raises(ValueError, match=r"\bstartval\b"):
        hglm.hglm(y=y, X=X, Z=Z, family="poisson", fix_disp=1, startval=np.ones(2 + q + 2))
    sv = np.concatenate([[np.log(2.0), 0.0], np.zeros(q), [0.5]])
    fit = hglm.hglm(y=y, X=X, Z=Z, family="poisson", fix_disp=1, startval=sv, conv=1e-12)
    ref = hglm.hglm(y=y, X=X, Z=Z, family="poisson", fix_disp=1, conv=1e-12)
    assert fit.converged and ref.converged
    np.testing.assert_allclose(fit.fixef, ref.fixef, rtol=1e-6)
    np.testing.assert_allclose(fit.var_ranef, ref.var_ranef, rtol=1e-5)


def test_startval_nonpositive_dispersion() -> None:
    y, X, Z, _ = one_way(9)
    sv = np.concatenate([[1.0, 0.5], np.zeros(Z.shape[1]), [0.5, -1.0]])
    with pytest.raises(ValueError, match=r"\bstartval\b"):
        hglm.hglm(y=y, X=X, Z=Z, startval=sv)


def test_startval_reaches_the_same_fit() -> None:
    y, X, Z, _ = one_way(12)
    ref = hglm.hglm(y=y, X=X, Z=Z, conv=1e-20)
    sv = np.concatenate([[0.0, 0.0], np.zeros(Z.shape[1]), [3.0, 0.2]])
    fit = hglm.hglm(y=y, X=X, Z=Z, startval=sv, conv=1e-20)
    assert fit.converged and ref.converged
    np.testing.assert_allclose(fit.fixef, ref.fixef, rtol=1e-8)
    assert fit.var_fix == pytest.approx(ref.var_fix, rel=1e-7)
    np.testing.assert_allclose(fit.var_ranef, ref.var_ranef, rtol=1e-7)


def test_is_linear_only_for_gaussian_identity_gaussian() -> None:
    _, _, _, _, X, Z = _count_data(13)
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


def _poisson_groups(seed: int, sd: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(40), 5)
    y = rng.poisson(10.0 * np.exp(sd * rng.normal(size=40))[g])
    return y, np.eye(40)[g]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_random_term_without_variation_gets_a_boundary_warning(seed: int) -> None:
    # every group holds the same counts (shuffled): no variation between groups, so the
    # variance goes to its boundary 0
    rng = np.random.default_rng(seed)
    y = np.concatenate([rng.permutation([6, 8, 10, 12, 14]) for _ in range(40)])
    Z = np.eye(40)[np.repeat(np.arange(40), 5)]
    with pytest.warns(hglm.BoundaryWarning, match="random term 1: the variance of its"):
        fit = hglm.hglm(y=y, X=np.ones((200, 1)), Z=Z, family="poisson", fix_disp=1)
    assert fit.var_ranef[0] < 1e-3


def test_a_real_random_term_gets_no_boundary_warning() -> None:
    y, Z = _poisson_groups(5, sd=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", hglm.BoundaryWarning)
        fit = hglm.hglm(y=y, X=np.ones((200, 1)), Z=Z, family="poisson", fix_disp=1)
    assert 0.02 < fit.var_ranef[0] < 0.3


# --- EQL1 ---------------------------------------------------------------------------------


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


def _poisson_glmm(seed: int):
    rng, g, x, X, Z = _grouped_design(seed, 12, 2, 7)
    y = rng.poisson(np.exp(0.3 + 0.4 * x + 0.8 * rng.normal(size=12)[g])).astype(float)
    return y, X, Z


@pytest.mark.parametrize("seed", [1, 2])
def test_eql1_follows_r_rounds(seed: int) -> None:
    """The plain EQL1 iteration is R's, round by round (same rounds, same estimates),
    on a model whose K is not diagonal; the accelerated fit reaches the same fixed point."""
    y, X, Z = _poisson_glmm(seed)
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
    y, X, Z = _poisson_glmm(1)
    kw = {"y": y, "X": X, "Z": Z, "family": "poisson", "fix_disp": 1.0}
    a, b = hglm.hglm(**kw, method="HL11"), hglm.hglm(**kw, method="EQL1")
    assert a.method == b.method == "EQL1"
    np.testing.assert_array_equal(a.fixef.to_numpy(), b.fixef.to_numpy())


def test_eql1_falls_back_to_eql_for_non_gaussian_random_effects() -> None:
    y, X, Z = _poisson_glmm(1)
    kw = {"y": y, "X": X, "Z": Z, "family": "poisson", "rand_family": "gamma", "fix_disp": 1.0}
    with pytest.warns(UserWarning, match="method: EQL1 is defined for Gaussian random"):
        fit = hglm.hglm(**kw, method="EQL1")
    assert fit.method == "EQL"
    np.testing.assert_array_equal(fit.fixef.to_numpy(), hglm.hglm(**kw).fixef.to_numpy())


def test_unknown_method_is_refused() -> None:
    y, X, Z = _poisson_glmm(1)
    with pytest.raises(ValueError, match="method: must be 'EQL' or 'EQL1'"):
        hglm.hglm(y=y, X=X, Z=Z, family="poisson", method="HL21")
