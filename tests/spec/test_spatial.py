"""Spatial random effects: ``hglm.CAR(D)`` and ``hglm.SAR(D)`` (DESIGN.md, "Spatial").

* input validation: D square, finite, symmetric, matching the term's columns of Z, and no
  ``x_rand_disp`` for a spatial term (its dispersion model is fixed on the eigenvalues);
* the eigen-rotation invariants: ranef = V v, the rotated effects' dispersions
  tau / (1 - rho omega_j)^k, and (rho, tau) from the dispersion GLM's coefficients;
* estimates: for a Gaussian response with Gaussian (CAR/SAR) random effects EQL is REML,
  so the fit must equal an exact REML optimum computed here independently, and its ranef
  must be the BLUP with the fitted covariance;
* recovery of known rho and tau from simulated fields on a grid, over three seeds.

There is no R reference for SAR (cancer_car, the R reference of CAR, is a reference test).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import optimize, sparse

import hglm

# --- simulated fields on a grid ----------------------------------------------------------

GRID = 15  # 15 x 15 = 225 sites
PER_SITE = 4  # observations per site: the field is identifiable apart from the noise
MU, SIGMA2 = 1.0, 1.0
# The truths.  The rook adjacency of a 15 x 15 grid has eigenvalues in (-3.93, 3.93), so a
# proper CAR/SAR needs |rho| < 1/3.93 = 0.254.
TRUTH = {"SAR": {"rho": 0.15, "tau": 1.0}, "CAR": {"rho": 0.2, "tau": 1.0}}
SEEDS = (0, 1, 2)


def rook_adjacency(k: int) -> np.ndarray:
    """Symmetric 0/1 rook adjacency of a k x k grid (not row-standardized)."""
    idx = np.arange(k * k).reshape(k, k)
    W = np.zeros((k * k, k * k))
    for a, b in [(idx[:-1, :], idx[1:, :]), (idx[:, :-1], idx[:, 1:])]:
        W[a.ravel(), b.ravel()] = 1.0
        W[b.ravel(), a.ravel()] = 1.0
    return W


def simulate(kind: str, seed: int, rho: float, tau: float) -> dict:
    """y = MU + Z u + e with PER_SITE observations per site.

    SAR: u = (I - rho W)^{-1} e0, e0 ~ N(0, tau I), so cov(u) = tau (I - rho W)^{-2};
    CAR: u ~ N(0, tau (I - rho W)^{-1}).
    """
    W = rook_adjacency(GRID)
    q = W.shape[0]
    rng = np.random.default_rng(seed)
    if kind == "SAR":
        u = np.linalg.solve(np.eye(q) - rho * W, rng.normal(0.0, np.sqrt(tau), q))
    else:
        omega, V = np.linalg.eigh(W)
        u = V @ (np.sqrt(tau / (1.0 - rho * omega)) * rng.normal(size=q))
    Z = np.kron(np.eye(q), np.ones((PER_SITE, 1)))
    n = q * PER_SITE
    y = MU + Z @ u + rng.normal(0.0, np.sqrt(SIGMA2), n)
    return {"y": y, "X": np.ones((n, 1)), "Z": Z, "W": W}


def family(kind: str, W: np.ndarray) -> hglm.Family:
    return hglm.SAR(W) if kind == "SAR" else hglm.CAR(W)


def spatial_params(fit: hglm.HGLMResult, kind: str) -> tuple[float, float]:
    return (fit.sar_rho, fit.sar_tau) if kind == "SAR" else (fit.car_rho, fit.car_tau)


def power(kind: str) -> int:
    """The rotated effects have variance tau / (1 - rho omega)^power."""
    return 2 if kind == "SAR" else 1


def exact_reml(kind: str, y: np.ndarray, W: np.ndarray) -> tuple[float, float, float]:
    """(rho, tau, sigma2) maximizing the exact REML likelihood, independently of hglm.

    With Z = I_q (x) 1_m the data split into the within-site sum of squares (q(m - 1)
    degrees of freedom, sigma2 only) and the site means ybar = mu + u + ebar.  In the eigen
    basis of W the means are independent with variance tau/(1 - rho omega_j)^k + sigma2/m
    and mean mu V'1, so REML is a sum of q + 1 terms.
    """
    q, m = W.shape[0], PER_SITE
    Y = y.reshape(q, m)
    ybar = Y.mean(axis=1)
    ssw = float(np.sum((Y - ybar[:, None]) ** 2))
    omega, V = np.linalg.eigh(W)
    ys, xs = V.T @ ybar, V.T @ np.ones(q)
    k = power(kind)

    def neg_reml(theta: np.ndarray) -> float:
        rho, log_tau, log_s2 = theta
        if np.any(1.0 - rho * omega <= 0):
            return 1e10
        s2 = np.exp(log_s2)
        d = np.exp(log_tau) / (1.0 - rho * omega) ** k + s2 / m
        xdx = np.sum(xs**2 / d)
        r = ys - xs * np.sum(xs * ys / d) / xdx
        return 0.5 * (
            np.sum(np.log(d)) + np.log(xdx) + np.sum(r**2 / d)
            + q * (m - 1) * np.log(s2) + ssw / s2
        )

    opt = optimize.minimize(
        neg_reml, np.zeros(3), method="Nelder-Mead",
        options={"xatol": 1e-11, "fatol": 1e-13, "maxiter": 20000, "maxfev": 40000},
    )
    rho, log_tau, log_s2 = opt.x
    return float(rho), float(np.exp(log_tau)), float(np.exp(log_s2))


@pytest.fixture(scope="module")
def default_fits() -> dict:
    """Fits at the default settings, (kind, seed) -> (data, fit)."""
    out = {}
    for kind, truth in TRUTH.items():
        for seed in SEEDS:
            d = simulate(kind, seed, **truth)
            fit = hglm.hglm(y=d["y"], X=d["X"], Z=d["Z"], rand_family=family(kind, d["W"]))
            out[kind, seed] = (d, fit)
    return out


@pytest.fixture(scope="module")
def tight_fits() -> dict:
    """Fits iterated to the fixed point (conv = 1e-14), (kind, seed) -> (data, fit)."""
    out = {}
    for kind, truth in TRUTH.items():
        for seed in SEEDS:
            d = simulate(kind, seed, **truth)
            fit = hglm.hglm(
                y=d["y"], X=d["X"], Z=d["Z"], rand_family=family(kind, d["W"]),
                conv=1e-14, maxit=500,
            )
            out[kind, seed] = (d, fit)
    return out


# --- input validation ----------------------------------------------------------------------


def _names(message: str, *arguments: str) -> None:
    for argument in arguments:
        pattern = rf"(?<![\w.]){re.escape(argument)}(?![\w])"
        assert re.search(pattern, message), f"{argument!r} not named in: {message}"


@pytest.mark.parametrize("kind", [hglm.CAR, hglm.SAR])
@pytest.mark.parametrize(
    "D, what",
    [
        (np.ones((3, 4)), "square"),
        (np.ones(3), "square"),
        (np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]), "symmetric"),
        (np.array([[0.0, np.nan], [np.nan, 0.0]]), "missing"),
    ],
)
def test_bad_neighbourhood_matrix(kind, D, what) -> None:
    with pytest.raises(ValueError) as info:
        kind(D)
    _names(str(info.value), "rand_family", "D")
    assert what in str(info.value)


@pytest.mark.parametrize("kind", [hglm.CAR, hglm.SAR])
def test_neighbourhood_size_must_match_z(kind) -> None:
    W = rook_adjacency(3)  # 9 areas
    rng = np.random.default_rng(0)
    Z = np.kron(np.eye(10), np.ones((2, 1)))  # 10 columns
    with pytest.raises(ValueError) as info:
        hglm.hglm(y=rng.normal(size=20), X=np.ones((20, 1)), Z=Z, rand_family=kind(W))
    msg = str(info.value)
    _names(msg, "D")
    assert "9" in msg and "10" in msg


def test_neighbourhood_size_checked_per_term() -> None:
    """With two terms the CAR matrix must match its own term's columns (rand_c)."""
    d = simulate("CAR", 0, **TRUTH["CAR"])
    q = d["W"].shape[0]
    rng = np.random.default_rng(0)
    Z2 = rng.normal(size=(d["Z"].shape[0], 10))  # a second term with real effects
    y = d["y"] + Z2 @ rng.normal(size=10)
    Z = np.hstack([d["Z"], Z2])
    with pytest.raises(ValueError) as info:
        hglm.hglm(
            y=y, X=d["X"], Z=Z, rand_c=[q, 10], rand_family=["gaussian", hglm.CAR(d["W"])]
        )
    _names(str(info.value), "D")
    # the matching order works, and only the spatial term is rotated
    fit = hglm.hglm(
        y=y, X=d["X"], Z=Z, rand_c=[q, 10], rand_family=[hglm.CAR(d["W"]), "gaussian"]
    )
    assert fit.converged
    assert fit.car_rho is not None and fit.sar_rho is None
    V = fit.rand_families[0].spatial.vectors
    v = fit._engine.v
    np.testing.assert_allclose(fit.ranef.to_numpy()[:q], V @ v[:q], atol=1e-12)
    np.testing.assert_array_equal(fit.ranef.to_numpy()[q:], v[q:])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_degenerate_car_dispersion_fails_cleanly() -> None:
    W = rook_adjacency(3)
    rng = np.random.default_rng(2)
    y = rng.normal(size=18)
    Z = np.kron(np.eye(9), np.ones((2, 1)))
    try:
        fit = hglm.hglm(y=y, X=np.ones((18, 1)), Z=Z, rand_family=hglm.CAR(W))
    except RuntimeError:
        return  # a clear divergence report is acceptable
    assert np.isfinite(fit.car_rho) and fit.car_tau > 0


def test_spatial_term_without_variation_gets_a_boundary_warning() -> None:
    # the same count in every area: no spatial (or any) variation, so the variance goes
    # to 0, rho is not identified, and the fit says both (it does not claim convergence)
    W = rook_adjacency(5)
    with pytest.warns(hglm.BoundaryWarning, match="CAR correlation parameter is then not"):
        fit = hglm.hglm(
            y=np.full(25, 10), X=np.ones((25, 1)), Z=np.eye(25), family="poisson",
            rand_family=hglm.CAR(W), fix_disp=1,
        )
    assert fit.car_tau < 1e-2


@pytest.mark.parametrize("kind", [hglm.CAR, hglm.SAR])
def test_x_rand_disp_not_allowed_for_spatial_term(kind) -> None:
    d = simulate("CAR", 0, **TRUTH["CAR"])
    q = d["W"].shape[0]
    with pytest.raises(ValueError) as info:
        hglm.hglm(
            y=d["y"], X=d["X"], Z=d["Z"], rand_family=kind(d["W"]),
            x_rand_disp=np.column_stack([np.ones(q), np.arange(q)]),
        )
    _names(str(info.value), "x_rand_disp[0]")


def test_rand_cov_not_allowed_for_spatial_term() -> None:
    d = simulate("CAR", 0, **TRUTH["CAR"])
    with pytest.raises(ValueError) as info:
        hglm.hglm(
            y=d["y"], X=d["X"], Z=d["Z"], rand_family=hglm.CAR(d["W"]),
            rand_cov=[np.eye(d["W"].shape[0])],
        )
    _names(str(info.value), "rand_cov[0]")


def test_sparse_neighbourhood_matrix_same_as_dense() -> None:
    W = rook_adjacency(4)
    dense, sp = hglm.SAR(W), hglm.SAR(sparse.csr_matrix(W))
    np.testing.assert_array_equal(dense.structure.values, sp.structure.values)
    assert dense == sp


# --- the eigen rotation --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["CAR", "SAR"])
def test_eigen_structure(kind) -> None:
    """V, omega: an orthonormal eigen-decomposition of D, omega decreasing (R's eigen)."""
    W = rook_adjacency(5)
    s = family(kind, W).structure
    V, omega = s.vectors, s.values
    np.testing.assert_allclose(omega, np.sort(np.linalg.eigvalsh(W))[::-1], atol=1e-12)
    np.testing.assert_allclose(V.T @ V, np.eye(25), atol=1e-12)
    np.testing.assert_allclose(W @ V, V * omega, atol=1e-12)


@pytest.mark.parametrize("kind", ["CAR", "SAR"])
def test_rotation_invariants(kind, tight_fits) -> None:
    d, fit = tight_fits[kind, 0]
    s = fit.rand_families[0].spatial
    assert s is not None and s.kind == kind
    V, omega = s.vectors, s.values
    # ranef on the site scale: u = V v, v the fitted eigen-basis effects
    np.testing.assert_allclose(fit.ranef.to_numpy(), V @ fit._engine.v, rtol=0, atol=1e-12)
    # the dispersion GLM on [1, omega]: CAR (1/tau, -rho/tau), SAR (1/sqrt tau, -rho/sqrt tau)
    coef = fit.rand_disp_coef[0]["estimate"].to_numpy()
    assert coef.shape == (2,)
    rho, tau = spatial_params(fit, kind)
    scale = tau if kind == "CAR" else np.sqrt(tau)
    np.testing.assert_allclose(coef, [1.0 / scale, -rho / scale], rtol=1e-12)
    # the other kind's parameters are absent
    other = (fit.car_rho, fit.car_tau) if kind == "SAR" else (fit.sar_rho, fit.sar_tau)
    assert other == (None, None)
    # each eigen-basis effect has dispersion tau / (1 - rho omega_j)^k
    np.testing.assert_allclose(
        fit._engine.lam, tau / (1.0 - rho * omega) ** power(kind), rtol=1e-10
    )


@pytest.mark.parametrize("kind", ["CAR", "SAR"])
def test_ranef_is_blup_with_fitted_covariance(kind, tight_fits) -> None:
    """beta and u equal the GLS estimate and BLUP with G = tau (I - rho W)^-k, var(y) =
    Z G Z' + sigma2 I at the fitted (rho, tau, sigma2), built densely without rotation."""
    d, fit = tight_fits[kind, 1]
    W, Z, X, y = d["W"], d["Z"], d["X"], d["y"]
    rho, tau = spatial_params(fit, kind)
    B = np.eye(W.shape[0]) - rho * W
    G = tau * np.linalg.inv(B if kind == "CAR" else B @ B)
    Vy = Z @ G @ Z.T + fit.var_fix * np.eye(len(y))
    Vinv_X = np.linalg.solve(Vy, X)
    beta = np.linalg.solve(X.T @ Vinv_X, Vinv_X.T @ y)
    u = G @ Z.T @ np.linalg.solve(Vy, y - X @ beta)
    # the reported dispersions are those of the last round's output, one round after the
    # (beta, v) solve; at conv = 1e-14 a round changes eta by ~sqrt(conv) = 1e-7 relative
    np.testing.assert_allclose(fit.fixef.to_numpy(), beta, rtol=1e-6)
    np.testing.assert_allclose(fit.ranef.to_numpy(), u, rtol=0, atol=1e-6 * np.abs(u).max())


@pytest.mark.parametrize("kind", ["CAR", "SAR"])
def test_se_ranef_on_eigen_basis(kind, tight_fits) -> None:
    """se_ranef follows R: the standard errors of the eigen-basis effects v, i.e.
    sqrt(diag(C^-1)) of T'WT with T = [[X, Z V], [0, I]], built densely here."""
    d, fit = tight_fits[kind, 2]
    s = fit.rand_families[0].spatial
    X, ZV = d["X"], d["Z"] @ s.vectors
    T = np.hstack([X, ZV])
    C = T.T @ T / fit.var_fix
    p = X.shape[1]
    C[p:, p:] += np.diag(1.0 / fit._engine.lam)
    se = np.sqrt(np.diag(np.linalg.inv(C)))
    np.testing.assert_allclose(fit.se_fixef.to_numpy(), se[:p], rtol=1e-8)
    np.testing.assert_allclose(fit.se_ranef.to_numpy(), se[p:], rtol=1e-8)


def test_poisson_car_invariants() -> None:
    """A non-Gaussian response: the rotation invariants hold there too."""
    W = rook_adjacency(6)
    q = W.shape[0]
    rng = np.random.default_rng(3)
    omega, V = np.linalg.eigh(W)
    u = V @ (np.sqrt(0.3 / (1.0 - 0.2 * omega)) * rng.normal(size=q))
    Z = np.kron(np.eye(q), np.ones((3, 1)))
    y = rng.poisson(np.exp(1.0 + Z @ u)).astype(float)
    fit = hglm.hglm(
        y=y, X=np.ones((3 * q, 1)), Z=Z, family="poisson", rand_family=hglm.CAR(W),
        fix_disp=1, conv=1e-10, maxit=200,
    )
    s = fit.rand_families[0].spatial
    np.testing.assert_allclose(fit.ranef.to_numpy(), s.vectors @ fit._engine.v, atol=1e-12)
    coef = fit.rand_disp_coef[0]["estimate"].to_numpy()
    np.testing.assert_allclose([fit.car_tau, fit.car_rho], [1 / coef[0], -coef[1] / coef[0]])
    np.testing.assert_allclose(
        fit._engine.lam, fit.car_tau / (1.0 - fit.car_rho * s.values), rtol=1e-10
    )


# --- estimates: EQL = REML for Gaussian-Gaussian -------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["CAR", "SAR"])
def test_equals_exact_reml(kind, seed, tight_fits) -> None:
    """For a Gaussian response the EQL fixed point is the REML optimum (the gamma GLM
    score of the dispersion model is the REML score).  Compared with an exact REML
    maximization (Nelder-Mead to 1e-11): 1e-5 relative in tau and sigma2, 2e-6 absolute in
    rho (its sampling sd is ~0.02, so these are far below any statistical difference, and
    above the ~1e-7 flatness of the REML surface in rho that bounds the optimizer)."""
    d, fit = tight_fits[kind, seed]
    assert fit.converged
    rho_r, tau_r, s2_r = exact_reml(kind, d["y"], d["W"])
    rho, tau = spatial_params(fit, kind)
    assert abs(rho - rho_r) < 2e-6, (rho, rho_r)
    np.testing.assert_allclose([tau, fit.var_fix], [tau_r, s2_r], rtol=1e-5)


# --- recovery of the truth -----------------------------------------------------------------

# Tolerances.  A Monte Carlo of this exact design (seeds 0..29, default settings) gave
# sampling standard deviations of sd(rho_hat) = 0.023 and sd(tau_hat) = 0.13 for SAR
# (rho = 0.15), 0.019 and 0.11 for CAR (rho = 0.2), means within one standard error of
# the truth (no visible bias), and sd(sigma2_hat) ~ 0.04.  Each seed must be within
# about 3.5 sd (rho within 0.08, tau within 0.45, sigma2 within 0.15), and the mean of
# the three seeds within about 3.5 sd of a mean (rho 0.05, tau 0.25).  A wrong variance
# model (CAR for SAR, a sign error in rho, tau/sqrt(tau) confusion) moves rho_hat by far
# more than these bounds.
RHO_TOL, TAU_TOL, SIGMA2_TOL = 0.08, 0.45, 0.15
RHO_MEAN_TOL, TAU_MEAN_TOL = 0.05, 0.25


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["CAR", "SAR"])
def test_recovers_rho_and_tau(kind, seed, default_fits) -> None:
    _, fit = default_fits[kind, seed]
    truth = TRUTH[kind]
    assert fit.converged
    rho, tau = spatial_params(fit, kind)
    assert abs(rho - truth["rho"]) < RHO_TOL, (kind, seed, rho)
    assert abs(tau - truth["tau"]) < TAU_TOL, (kind, seed, tau)
    assert abs(fit.var_fix - SIGMA2) < SIGMA2_TOL, (kind, seed, fit.var_fix)
    assert abs(fit.fixef.iloc[0] - MU) < 0.5  # sd of the mean of a spatial field ~ 0.1


@pytest.mark.parametrize("kind", ["CAR", "SAR"])
def test_recovery_stable_across_seeds(kind, default_fits) -> None:
    est = np.array([spatial_params(default_fits[kind, s][1], kind) for s in SEEDS])
    truth = TRUTH[kind]
    assert abs(est[:, 0].mean() - truth["rho"]) < RHO_MEAN_TOL, est
    assert abs(est[:, 1].mean() - truth["tau"]) < TAU_MEAN_TOL, est
    # the sign and order of magnitude of rho never flip from seed to seed
    assert np.all(est[:, 0] > 0) and np.ptp(est[:, 0]) < 2 * RHO_TOL


# --- report -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["CAR", "SAR"])
def test_summary_reports_rho_and_tau(kind, default_fits) -> None:
    """Issue 4: R's summary lines, e.g. 'CAR.tau (estimated spatial variance component):
    0.1541452' and 'CAR.rho (estimated spatial correlation): 0.173996'."""
    _, fit = default_fits[kind, 0]
    text = str(fit.summary())
    rho, tau = spatial_params(fit, kind)
    for name, value in ((f"{kind}.tau", tau), (f"{kind}.rho", rho)):
        lines = [ln for ln in text.splitlines() if name in ln and ":" in ln]
        assert lines, f"no {name} line in the summary"
        printed = float(lines[-1].rsplit(":", 1)[1].split()[0])
        assert printed == pytest.approx(value, rel=1e-4)
