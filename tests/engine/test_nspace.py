"""The n-dimensional (bigRR) solver: ``bigrr=True`` must give the fit of ``bigrr=False``.

DESIGN.md, "p >> n (bigRR)": for a Gaussian response with Gaussian random effects the
augmented system is solved through the n x n marginal covariance; the estimates, their
standard errors, the leverages and the likelihoods are those of the q-dimensional fit,
only the cost differs.  The solver is chosen automatically when q > 10 n.  The reference
case qtlmas_polygenic_bigrr (slow, ``tests/reference/test_qtlmas_bigrr.py``) checks it on
R's QTLMAS animal model.
"""

from __future__ import annotations

import re
import threading
import warnings

import numpy as np
import pandas as pd
import pytest

import hglm
from hglm.engine import nspace
from hglm.engine.lazy import LazyTail
from hglm.engine.nspace import gram
from hglm.spec.validation import all_finite

RTOL = 1e-8

# Small problems whose deviance floor binds on some random-effect rows (tiny v_j^2) warn.
pytestmark = pytest.mark.filterwarnings("ignore::hglm.NumericalGuardWarning")


def simulate(n: int, q: int, seed: int, x_disp: bool, weights: bool, terms: int = 1) -> dict:
    """Dense standard-normal Z (n x q), two fixed effects, total genetic variance 0.5 and
    residual variance 0.5 (an interior REML optimum)."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    Z = rng.normal(size=(n, q))
    u = rng.normal(0.0, np.sqrt(0.5 / q), q)
    y = X @ np.array([1.0, 0.5]) + Z @ u + rng.normal(0.0, np.sqrt(0.5), n)
    kw: dict = {"y": y, "X": X, "Z": Z, "calc_like": True}
    if x_disp:
        kw["x_disp"] = np.column_stack([np.ones(n), rng.normal(size=n)])
    if weights:
        kw["weights"] = rng.uniform(0.5, 2.0, n)
    if terms == 2:
        kw["rand_c"] = [q // 3, q - q // 3]
    return kw


def uses_bigrr(fit: hglm.HGLMResult) -> bool:
    return fit._engine.fitter.marginal is not None


def _close(name: str, ours, theirs, problems: list[str]) -> None:
    a = np.asarray(ours, dtype=float)
    b = np.asarray(theirs, dtype=float)
    atol = RTOL * float(np.max(np.abs(b))) if b.size else 0.0
    if a.shape != b.shape or not np.allclose(a, b, rtol=RTOL, atol=atol):
        err = np.max(np.abs(a - b)) if a.shape == b.shape else f"shape {a.shape} vs {b.shape}"
        problems.append(f"{name}: max abs difference {err}")


def assert_same_fit(big: hglm.HGLMResult, std: hglm.HGLMResult) -> None:
    assert uses_bigrr(big) and not uses_bigrr(std)
    assert big.converged and std.converged
    problems: list[str] = []
    for name in ("fixef", "se_fixef", "ranef", "se_ranef", "var_ranef", "hat_values",
                 "deviances", "fitted", "resid", "disp_fitted"):
        _close(name, getattr(big, name), getattr(std, name), problems)
    if std.var_fix is None:
        assert big.var_fix is None
    else:
        _close("var_fix", big.var_fix, std.var_fix, problems)
    for col in ("estimate", "std_error"):
        _close(f"disp_coef.{col}", big.disp_coef[col], std.disp_coef[col], problems)
        for k, (a, b) in enumerate(zip(big.rand_disp_coef, std.rand_disp_coef, strict=True)):
            _close(f"rand_disp_coef[{k}].{col}", a[col], b[col], problems)
    for key in ("hlik", "pvh", "pbvh", "cAIC"):
        _close(f"likelihood.{key}", big.likelihood[key], std.likelihood[key], problems)
    if big.df_resid != std.df_resid:
        problems.append(f"df_resid {big.df_resid} vs {std.df_resid}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("weights", [False, True], ids=["unweighted", "weights"])
@pytest.mark.parametrize("x_disp", [False, True], ids=["phi", "x_disp"])
@pytest.mark.parametrize("n, q", [(40, 120), (60, 20)], ids=["q>n", "q<n"])
def test_bigrr_same_fit(n, q, x_disp, weights) -> None:
    kw = simulate(n, q, seed=1, x_disp=x_disp, weights=weights)
    assert_same_fit(hglm.hglm(**kw, bigrr=True), hglm.hglm(**kw, bigrr=False))


def test_bigrr_same_fit_two_terms() -> None:
    kw = simulate(40, 90, seed=2, x_disp=False, weights=True, terms=2)
    # a variance at its boundary 0: R's floor holds it (the relative floor lets it go
    # towards 0 without settling, a fit that says so by BoundaryWarning)
    kw["dev_floor"] = "absolute"
    big, std = hglm.hglm(**kw, bigrr=True), hglm.hglm(**kw, bigrr=False)
    assert big.var_ranef.shape == (2,)
    assert_same_fit(big, std)


def test_bigrr_same_fit_tight() -> None:
    """Iterated to the fixed point, the two solvers still agree (not only step by step)."""
    kw = simulate(40, 120, seed=3, x_disp=False, weights=False)
    kw["conv"], kw["maxit"] = 1e-14, 500
    assert_same_fit(hglm.hglm(**kw, bigrr=True), hglm.hglm(**kw, bigrr=False))


def test_bigrr_blups_formula() -> None:
    """The recovered q effects are the BLUPs u = lambda Z' V^-1 (y - X beta),
    V = lambda Z Z' + phi I, built directly from the fitted dispersions."""
    kw = simulate(30, 200, seed=4, x_disp=False, weights=False)
    kw["conv"], kw["maxit"] = 1e-14, 500
    fit = hglm.hglm(**kw, bigrr=True)
    X, Z, y = kw["X"], kw["Z"], kw["y"]
    lam, phi = fit.var_ranef[0], fit.var_fix
    V = lam * Z @ Z.T + phi * np.eye(len(y))
    Vinv_X = np.linalg.solve(V, X)
    beta = np.linalg.solve(X.T @ Vinv_X, Vinv_X.T @ y)
    u = lam * Z.T @ np.linalg.solve(V, y - X @ beta)
    # the reported dispersions are those of the last round's output, one round after the
    # (beta, v) solve; at conv = 1e-14 a round changes eta by ~sqrt(conv) = 1e-7 relative
    np.testing.assert_allclose(fit.fixef.to_numpy(), beta, rtol=1e-6)
    np.testing.assert_allclose(fit.ranef.to_numpy(), u, rtol=0, atol=1e-6 * np.abs(u).max())


def test_bigrr_keeps_names() -> None:
    kw = simulate(20, 50, seed=5, x_disp=False, weights=False)
    X = pd.DataFrame(kw["X"], columns=["(Intercept)", "x"])
    Z = pd.DataFrame(kw["Z"], columns=[f"snp{j}" for j in range(50)])
    fit = hglm.hglm(y=kw["y"], X=X, Z=Z, bigrr=True)
    assert list(fit.fixef.index) == ["(Intercept)", "x"]
    assert list(fit.ranef.index) == list(Z.columns)
    assert fit.hat_values.shape == (20 + 50,)


# --- automatic choice --------------------------------------------------------------------


def test_automatic_choice_when_q_exceeds_10n() -> None:
    kw = simulate(20, 201, seed=6, x_disp=False, weights=False)  # q > 10 n
    kw["dev_floor"] = "absolute"  # the marker variance is at its boundary 0 (see above)
    auto = hglm.hglm(**kw)
    assert uses_bigrr(auto)
    forced_off = hglm.hglm(**kw, bigrr=False)
    assert not uses_bigrr(forced_off)
    assert_same_fit(auto, forced_off)


def test_automatic_choice_dense_q_above_n() -> None:
    """A dense random design with q > n (and n <= 10,000) is solved in n-space by default
    too (eql.EQLFitter._marginal_solver); q <= n is not."""
    kw = simulate(40, 120, seed=6, x_disp=False, weights=False)
    assert uses_bigrr(hglm.hglm(**kw))
    kw = simulate(40, 40, seed=6, x_disp=False, weights=False)
    assert not uses_bigrr(hglm.hglm(**kw))
    assert uses_bigrr(hglm.hglm(**kw, bigrr=True))


def test_no_automatic_choice_for_indicators_below_10n() -> None:
    """An indicator design (one non-zero per row) with n < q <= 10 n, e.g. levels without
    records, keeps the sparse q-dimensional solver; above 10 n it switches."""
    rng = np.random.default_rng(6)
    n_obs_levels, per = 20, 2
    n = n_obs_levels * per
    g = np.repeat(np.arange(n_obs_levels), per)
    y = 1.0 + rng.normal(size=n_obs_levels)[g] + rng.normal(size=n)
    for extra, expected in ((60, False), (400, True)):  # q = 80 = 2 n; q = 420 > 10 n
        Z = np.hstack([np.eye(n_obs_levels)[g], np.zeros((n, extra))])
        fit = hglm.hglm(y=y, X=np.ones((n, 1)), Z=Z)
        assert uses_bigrr(fit) is expected, (extra, expected)


def test_no_automatic_choice_for_ineligible_models() -> None:
    """q > 10 n with a Poisson response: the q-dimensional solver is used, no error."""
    rng = np.random.default_rng(7)
    n, q = 20, 210
    Z = rng.normal(size=(n, q)) / np.sqrt(q)
    y = rng.poisson(np.exp(0.5 + Z @ rng.normal(0.0, 0.5, q))).astype(float)
    fit = hglm.hglm(y=y, X=np.ones((n, 1)), Z=Z, family="poisson", fix_disp=1)
    assert not uses_bigrr(fit)


def test_summary_says_bigrr() -> None:
    """Issue 4: the n-space solver is stated in summary() when it was used, and only then."""
    kw = simulate(20, 201, seed=6, x_disp=False, weights=False)
    fit = hglm.hglm(**kw)
    assert uses_bigrr(fit)
    assert re.search(r"big\s*RR", str(fit.summary()), flags=re.IGNORECASE)
    std = hglm.hglm(**kw, bigrr=False)
    assert not re.search(r"big\s*RR", str(std.summary()), flags=re.IGNORECASE)


# --- errors -----------------------------------------------------------------------------


def _raises_naming_bigrr(**kw) -> None:
    with pytest.raises(ValueError) as info:
        hglm.hglm(**kw)
    assert re.search(r"(?<![\w.])bigrr(?![\w])", str(info.value)), str(info.value)


@pytest.mark.parametrize(
    "family, draw",
    [
        (hglm.Poisson(), lambda rng, n: rng.poisson(2.0, n)),
        (hglm.Binomial(), lambda rng, n: rng.binomial(1, 0.5, n)),
        (hglm.Gamma(link="log"), lambda rng, n: rng.gamma(2.0, 1.0, n)),
    ],
    ids=["poisson", "binomial", "gamma"],
)
def test_bigrr_non_gaussian_family(family, draw) -> None:
    """Non-Gaussian responses take bigRR's transformed path (fit/bigrr.py, issue 17)."""
    rng = np.random.default_rng(8)
    n, q = 30, 60
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = hglm.hglm(
            y=draw(rng, n).astype(float), X=np.ones((n, 1)), Z=rng.normal(size=(n, q)),
            family=family, fix_disp=1, bigrr=True,
        )
    assert isinstance(fit, hglm.BigRRResult) and fit.markers.transformed
    assert fit.ranef.shape == fit.leverage.shape == (q,)


def test_bigrr_non_identity_gaussian_link() -> None:
    """A Gaussian response with another link takes bigRR's transformed path (issue 17)."""
    rng = np.random.default_rng(9)
    n, q = 30, 60
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = hglm.hglm(
            y=rng.uniform(1.0, 2.0, n), X=np.ones((n, 1)), Z=rng.normal(size=(n, q)),
            family=hglm.Gaussian(link="log"), bigrr=True,
        )
    assert isinstance(fit, hglm.BigRRResult) and fit.ranef.shape == (q,)


@pytest.mark.parametrize(
    "extra",
    [
        {"rand_family": hglm.Gamma(link="log")},
        {"x_rand_disp": np.column_stack([np.ones(60), np.arange(60.0)])},
        {"rand_family": hglm.CAR(np.diag(np.ones(59), 1) + np.diag(np.ones(59), -1))},
    ],
    ids=["gamma-random", "x_rand_disp", "CAR"],
)
def test_bigrr_ineligible_random_part(extra) -> None:
    kw = simulate(30, 60, seed=10, x_disp=False, weights=False)
    kw.pop("calc_like")
    _raises_naming_bigrr(**kw, **extra, bigrr=True)


# --- a problem near the boundary ------------------------------------------------------------


def test_bigrr_agrees_near_boundary() -> None:
    rng = np.random.default_rng(5)
    n, q = 30, 60
    X = np.ones((n, 1))
    Z = rng.normal(size=(n, q))
    y = 1.0 + Z @ rng.normal(0.0, 0.5, q) + rng.normal(0.0, 0.3, n)
    Z = np.hstack([Z, np.zeros((n, 1000))])
    with pytest.warns(UserWarning):  # the guards; and ConvergenceWarning from bigrr=True now
        big = hglm.hglm(y=y, X=X, Z=Z, bigrr=True, maxit=200)
    std = hglm.hglm(y=y, X=X, Z=Z, bigrr=False, maxit=200)
    assert big.converged == std.converged
    np.testing.assert_allclose(big.var_ranef, std.var_ranef, rtol=1e-4)


# --- genomic scale: the Gram matrix, and per-effect quantities on first use ------------------


@pytest.mark.parametrize("layout", ["C", "F", "column slice", "row slice"])
def test_gram_equals_product(layout) -> None:
    """gram(Z) = Z Z' (one symmetric rank-k update) for every memory layout of Z that a
    term's block can have."""
    rng = np.random.default_rng(11)
    full = rng.normal(size=(37, 301))
    Z = {
        "C": full,
        "F": np.asfortranarray(full),
        "column slice": full[:, 17:290],  # a term of a C-ordered Z split by rand_c
        "row slice": np.asfortranarray(full)[3:, :],
    }[layout]
    G = gram(Z)
    np.testing.assert_allclose(G, Z @ Z.T.copy(), rtol=1e-13, atol=1e-12)
    np.testing.assert_array_equal(G, G.T)


def test_bigrr_same_fit_empty_columns_and_floor() -> None:
    """Empty columns of Z (effects with v = 0 and leverage 1) and effects below the
    deviance floor: the n-space rounds, which use only the deviance sums, give the
    q-space fit."""
    kw = simulate(80, 1500, seed=5, x_disp=False, weights=False)
    kw["Z"][:, [5, 77, 300]] = 0.0
    big = hglm.hglm(**kw, bigrr=True)
    assert np.sum(np.asarray(big.ranef) ** 2 < 1e-8) > 10
    assert big.hat_values[80 + 77] == 1.0 - 1e-8
    assert_same_fit(big, hglm.hglm(**kw, bigrr=False))


def test_per_effect_quantities_on_first_use(monkeypatch) -> None:
    """A bigRR fit computes the random effects' own leverages and standard errors, O(n^2 q),
    only when they are asked for, in column chunks; they equal the products computed at
    once, and the fit of the q-dimensional solver."""
    monkeypatch.setattr(nspace, "COLUMN_CHUNK", 7)  # several chunks and a partial one
    kw = simulate(30, 250, seed=2, x_disp=False, weights=False)
    kw["calc_like"] = True
    big = hglm.hglm(**kw, bigrr=True)
    last = big._engine.last
    n = len(kw["y"])
    assert isinstance(last.hat, LazyTail) and not last.hat.computed
    # the report's scalar pieces need only the observation leverages
    assert "hat_values" not in vars(big) and "se_ranef" not in vars(big)
    assert big.df_resid > 0 and big.likelihood is not None and big.resid.shape == (n,)
    assert not last.hat.computed and "_zpz" not in vars(last.factor)

    # eager: diag(Z' P Z) in one product
    factor, Z = last.factor, kw["Z"]
    lam = factor.lam[0]
    zpz = np.einsum("ij,ij->j", Z, factor.P @ Z)
    hat_eager = np.concatenate(
        [factor.observation_leverages(), 1.0 - lam * zpz]
    ).clip(max=1.0 - 1e-8)
    se_eager = np.sqrt(lam - lam**2 * zpz)
    np.testing.assert_allclose(big.hat_values, hat_eager, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(big.se_ranef.to_numpy(), se_eager, rtol=1e-12)
    assert last.hat.computed
    assert big.hat_values.shape == (n + 250,) and isinstance(big.hat_values, np.ndarray)

    std = hglm.hglm(**kw, bigrr=False)
    assert_same_fit(big, std)


def test_linear_predictor_without_pass_over_z() -> None:
    """X beta + lambda G P y, the linear predictor of a solve, equals X beta + Z v."""
    kw = simulate(30, 250, seed=2, x_disp=False, weights=False, terms=2)
    fit = hglm.hglm(**kw, bigrr=True)
    factor = fit._engine.last.factor
    delta, again = fit._engine.fitter.marginal.solve(factor.w1, factor.w2)
    p = kw["X"].shape[1]
    np.testing.assert_allclose(
        again.linear_predictor(), kw["X"] @ delta[:p] + kw["Z"] @ delta[p:], rtol=1e-12
    )
    with pytest.raises(RuntimeError, match="not been solved"):
        fit._engine.fitter.marginal.factorize(factor.w1, factor.w2).linear_predictor()


def test_all_finite_without_temporary() -> None:
    """The check of Z's entries: a finite sum proves them finite; an overflowing sum of
    finite entries falls back to the entrywise check."""
    Z = np.ones((5, 4))
    assert all_finite(Z)
    for bad in (np.nan, np.inf, -np.inf):
        Zb = Z.copy()
        Zb[2, 3] = bad
        assert not all_finite(Zb)
    both = Z.copy()
    both[0, 0], both[1, 1] = np.inf, -np.inf
    assert not all_finite(both)
    assert all_finite(np.full((3, 3), 1e308))  # the sum overflows, the entries are finite
    assert all_finite(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="Z: contains missing"):
        hglm.hglm(y=np.array([1.0, 2.0, 4.0]), X=np.ones((3, 1)),
                  Z=np.array([[1.0], [np.nan], [2.0]]))


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]


def test_eigendecomposition_threads(monkeypatch) -> None:
    """The eigendecomposition of G (order 300) runs on one thread, whatever the load."""
    default = _blas_threads()
    seen = []
    eigh = np.linalg.eigh

    def spy(a):
        seen.append(_blas_threads())
        return eigh(a)

    monkeypatch.setattr(nspace.np.linalg, "eigh", spy)
    n, q = 300, 3000
    rng = np.random.default_rng(5)
    Z = rng.standard_normal((n, q)) / np.sqrt(q)
    solver = nspace.MarginalSolver(np.ones((n, 1)), [Z], rng.standard_normal(n), np.ones(n))
    solver.solve(np.full(n, 2.0), np.full(q, 3.0))
    solver.solve(np.full(n, 1.5), np.full(q, 2.0))
    assert seen == [[1] * len(default)]


def test_bigrr_fit_does_not_depend_on_the_load() -> None:
    """The same bigRR fit, alone and with another thread busy with BLAS work, gives
    bitwise the same estimates."""
    rng = np.random.default_rng(8)
    n, q = 300, 3000
    Z = rng.standard_normal((n, q)) / np.sqrt(q)
    y = Z @ rng.normal(0.0, 0.5, q) + rng.standard_normal(n)

    def fit() -> hglm.HGLMResult:
        return hglm.hglm(y=y, X=np.ones((n, 1)), Z=Z, bigrr=True)

    alone = fit()
    stop = threading.Event()

    def busy() -> None:
        a = rng.standard_normal((400, 400))
        while not stop.is_set():
            a @ a

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        loaded = fit()
    finally:
        stop.set()
        worker.join()
    assert (loaded.var_fix, *loaded.var_ranef) == (alone.var_fix, *alone.var_ranef)
    np.testing.assert_array_equal(loaded.ranef, alone.ranef)
