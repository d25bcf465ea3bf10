"""Tests of penalized IRLS, ``hglm.fit.pirls``: the joint solve for (beta, v) and the
solve for v with beta held in the offset, against direct solves and an EQL fit."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hglm.engine import as_block, make_system
from hglm.fit.densities import ResponseDensity
from hglm.fit.diagnostics import Divergence
from hglm.fit.eql import Options, fit_eql
from hglm.fit.pirls import PenalizedIRLS, ResponseShift, random_effects_system
from hglm.fit.random_effects import RandomEffects
from hglm.spec import Gamma, Poisson, Problem, RandomTermModel
from hglm.spec.families import random_family, response_family
from hglm.spec.links import LINKS

from .problems import case, count_data, make_problem


def _two_term_gaussian(seed: int) -> tuple[Problem, np.ndarray]:
    """A Gaussian response with prior weights and an offset, and two crossed Gaussian
    random terms; the problem and its Z."""
    rng = np.random.default_rng(seed)
    n = 90
    a, b = rng.integers(0, 7, size=n), rng.integers(0, 5, size=n)
    Z1, Z2 = np.eye(7)[a], np.eye(5)[b]
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    y = 1 + x + rng.normal(size=7)[a] + 0.5 * rng.normal(size=5)[b] + rng.normal(size=n)
    term = RandomTermModel(random_family("gaussian"), None, LINKS["log"])
    pb = Problem(
        y=y, X=X, blocks=[as_block(Z1), as_block(Z2)], terms=[term, term],
        family=response_family("gaussian"), weights=rng.uniform(0.5, 2.0, size=n),
        offset=rng.normal(scale=0.2, size=n), x_disp=None, link_disp=LINKS["log"],
        fix_disp=None,
    )
    return pb, np.hstack([Z1, Z2])


def _dispersions(pb: Problem, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    q = sum(RandomEffects(pb).sizes)
    return rng.uniform(0.5, 2.0, size=pb.y.shape[0]), rng.uniform(0.3, 3.0, size=q)


def test_gaussian_v_with_beta_held_is_the_direct_solve() -> None:
    pb, Z = _two_term_gaussian(1)
    phi, lam = _dispersions(pb, 2)
    beta = np.array([0.7, 1.3])  # any beta, not the estimate
    pirls = PenalizedIRLS(pb, random_effects_system(pb), RandomEffects(pb), tol=1e-24,
                          beta=beta)
    sol = pirls.solve(np.zeros(lam.shape[0]), phi, lam)
    w1 = pb.weights / phi
    H = Z.T @ (w1[:, None] * Z) + np.diag(1.0 / lam)
    v = np.linalg.solve(H, Z.T @ (w1 * (pb.y - pb.offset - pb.X @ beta)))
    np.testing.assert_allclose(sol.delta, v, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sol.eta, Z @ v, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sol.w2, 1.0 / lam)


def test_gaussian_joint_solve_is_hendersons_equations() -> None:
    pb, Z = _two_term_gaussian(3)
    phi, lam = _dispersions(pb, 4)
    system = make_system(pb.X, pb.blocks)
    pirls = PenalizedIRLS(pb, system, RandomEffects(pb), tol=1e-24)
    sol = pirls.solve(np.zeros(pb.X.shape[1] + lam.shape[0]), phi, lam)
    T1, w1 = np.hstack([pb.X, Z]), pb.weights / phi
    C = T1.T @ (w1[:, None] * T1)
    C[2:, 2:] += np.diag(1.0 / lam)
    delta = np.linalg.solve(C, T1.T @ (w1 * (pb.y - pb.offset)))
    np.testing.assert_allclose(sol.delta, delta, rtol=1e-10, atol=1e-12)


def test_beta_held_at_the_eql_estimate_returns_its_v() -> None:
    """At an EQL fit's solution, the conditional modes given its beta (and the
    dispersions its last round used) are its v."""
    rng, g, n, x, X, Z = count_data(21)
    k = Z.shape[1]
    y = rng.poisson(np.exp(0.5 + 0.3 * x + 0.6 * rng.normal(size=k)[g]))
    pb = make_problem(y, X, Z, "poisson", "gaussian", fix_disp=1.0)
    fit = fit_eql(pb, Options(conv=1e-20, maxit=500))
    assert fit.converged
    lam_used = 1.0 / fit.last.w2  # Gaussian random effects: w2 = 1 / lambda
    pirls = PenalizedIRLS(pb, random_effects_system(pb), RandomEffects(pb), tol=1e-24,
                          beta=fit.beta)
    sol = pirls.solve(np.zeros(k), np.ones(n), lam_used)
    np.testing.assert_allclose(sol.delta, fit.v, rtol=0, atol=1e-10)
    np.testing.assert_allclose(sol.eta + X @ fit.beta, fit.last.eta, rtol=0, atol=1e-10)


def test_beta_held_needs_the_system_of_z_alone() -> None:
    pb, _ = _two_term_gaussian(5)
    with pytest.raises(ValueError, match="Z alone"):
        PenalizedIRLS(pb, make_system(pb.X, pb.blocks), RandomEffects(pb), tol=1e-24,
                      beta=np.zeros(2))


def test_a_shift_moves_the_working_responses() -> None:
    """The observations' working response moves by -c, the pseudo-responses by
    W2^-1 Z'W1 c; the first step of a shifted solve is unshifted."""
    pb, Z = _two_term_gaussian(6)
    phi, lam = _dispersions(pb, 7)
    c = np.random.default_rng(8).normal(scale=0.1, size=pb.y.shape[0])
    system = make_system(pb.X, pb.blocks)
    shift = ResponseShift(c, random_effects_system(pb), 1e-7)
    pirls = PenalizedIRLS(pb, system, RandomEffects(pb), tol=1e-24)
    delta = np.random.default_rng(9).normal(size=pb.X.shape[1] + lam.shape[0])
    eta = system.linear_predictor(delta)
    w1, z1, w2, z2 = pirls.working(delta, eta, phi, lam)
    _, s1, _, s2 = pirls.working(delta, eta, phi, lam, shift)
    np.testing.assert_allclose(s1, z1 - c, rtol=1e-14)
    np.testing.assert_allclose(s2, z2 + Z.T @ (w1 * c) / w2, rtol=1e-12)
    # a linear model: the unshifted first step is the solution, the shifted second
    # step moves off it by the shifted equations' solution
    plain = pirls.solve(delta, phi, lam)
    shifted = pirls.solve(delta, phi, lam, shift)
    T1 = np.hstack([pb.X, Z])
    C = T1.T @ (w1[:, None] * T1)
    C[2:, 2:] += np.diag(w2)
    moved = np.linalg.solve(C, T1.T @ (w1 * (pb.y - pb.offset - c)) + np.concatenate(
        [np.zeros(2), Z.T @ (w1 * c)]))
    np.testing.assert_allclose(shifted.delta, moved, rtol=1e-9, atol=1e-11)
    assert not np.allclose(shifted.delta, plain.delta, rtol=1e-6)


def test_observed_curvature_gives_newton_steps_to_the_same_mode():
    """A Gamma response with the log link: scoring's weights are constant (linear
    convergence); the observed information makes the steps Newton's."""
    rng = np.random.default_rng(4)
    n, q = 200, 10
    g = rng.integers(0, q, n)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = np.exp(0.5 + 0.3 * X[:, 1] + 0.5 * rng.normal(size=q)[g]) * rng.gamma(3.0, 1 / 3.0, n)
    pb = Problem(y, X, [as_block(np.eye(q)[g])],
                 [RandomTermModel(random_family("gaussian"), None, LINKS["log"])],
                 Gamma("log").as_response(), np.ones(n), np.zeros(n), None, LINKS["log"],
                 None)
    system, effects = make_system(X, pb.blocks), RandomEffects(pb)
    phi, lam = np.full(n, 1 / 3.0), np.full(q, 0.25)
    start = np.zeros(2 + q)
    scoring = PenalizedIRLS(pb, system, effects, 1e-22)
    density = ResponseDensity(y, pb.family, pb.weights)
    newton = PenalizedIRLS(pb, system, effects, 1e-22, curvature=density.curvature)
    a, b = scoring.solve(start, phi, lam), newton.solve(start, phi, lam)
    np.testing.assert_allclose(b.delta, a.delta, rtol=1e-9, atol=1e-12)
    assert newton.steps < scoring.steps


def _poisson_gamma() -> Problem:
    """Counts with Gamma(log) random effects (a negative-binomial-like model)."""
    rng, g, n, x, X, Z = count_data(3)
    y = rng.poisson(np.exp(1 + 0.3 * x) * rng.gamma(2, 0.5, size=Z.shape[1])[g])
    return make_problem(y, X, Z, "poisson", Gamma("log"))


@pytest.mark.parametrize("v0", [-20.0, -50.0, -100.0])
def test_a_start_deep_in_the_tail_is_brought_in_by_step_halving(v0: float) -> None:
    """From v = -20 (u = 2e-9) the full IWLS step overshoots to u = inf; halving it
    brings the fit to the fit from the default start.  From v = -100 the weights vanish
    (u = 4e-44) and the halved steps stall: the first round is solved again from the
    default start of (beta, v) at the user's dispersions, and lands on the same fit (the
    halved steps used to stop there as if converged, at another fixed point)."""
    pb = _poisson_gamma()
    q = pb.blocks[0].n_levels
    startval = np.concatenate([[1.0, 0.3], np.full(q, v0), [0.5, 1.0]])
    far = fit_eql(pb, Options(conv=1e-12, maxit=500, startval=startval))
    default = fit_eql(pb, Options(conv=1e-12, maxit=500))
    assert far.fitter.pirls.halvings > 0 and far.converged and default.converged
    np.testing.assert_allclose(far.beta, default.beta, rtol=1e-7)
    np.testing.assert_allclose(far.v, default.v, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(far.lam, default.lam, rtol=1e-7)
    np.testing.assert_allclose(far.phi, default.phi, rtol=1e-7)


def test_newton_steps_for_a_non_canonical_random_link() -> None:
    """Gamma(identity) effects: the expected information 1 / u is too small for u > 1
    (slow steps) and too large for u < 1 (overshoot), and its halved steps do not
    converge; Newton's steps (information 1 / u^2) solve the score equations, and the
    solve still returns the expected information's weights (the round's leverages and
    standard errors)."""
    rng, g, n, x, X, Z = count_data(5)
    y = rng.poisson(5 + x + rng.gamma(0.5, 8.0, size=Z.shape[1])[g]).astype(float)
    pb = replace(make_problem(y, X, Z, "poisson", Gamma("identity")),
                 family=Poisson("identity").as_response())
    q = Z.shape[1]
    phi, lam, start = np.ones(n), np.full(q, 2.0), np.concatenate([[5.0, 1.0], np.ones(q)])
    effects = RandomEffects(pb)
    sol = PenalizedIRLS(pb, make_system(X, pb.blocks), effects, 1e-24).solve(start, phi, lam)
    beta, v = sol.delta[:2], sol.delta[2:]
    mu = X @ beta + Z @ v  # identity links: u = v
    assert np.ptp(v) > 10.0  # far from psi = 1, where the two informations differ
    score = np.concatenate([X.T @ ((y - mu) / mu), Z.T @ ((y - mu) / mu) + (1.0 - v) / (v * lam)])
    w2 = 1.0 / (v * lam)
    np.testing.assert_allclose(sol.w2, w2, rtol=1e-8)
    step = np.linalg.solve(np.block([[X.T @ (X / mu[:, None]), X.T @ (Z / mu[:, None])],
                                     [Z.T @ (X / mu[:, None]),
                                      Z.T @ (Z / mu[:, None]) + np.diag(w2)]]), score)
    assert np.max(np.abs(step)) < 1e-10
    fisher_only = RandomEffects(pb)
    fisher_only.canonical = True  # the expected information's steps throughout
    with pytest.raises(Divergence, match="did not converge"):
        PenalizedIRLS(pb, make_system(X, pb.blocks), fisher_only, 1e-24).solve(start, phi, lam)


@pytest.mark.parametrize(
    "name", ["gaussian-gaussian", "poisson-gaussian", "poisson-gamma-fixdisp", "binomial-beta"]
)
@pytest.mark.parametrize("hl_correction", [False, True])
def test_ordinary_fits_take_the_plain_iwls_steps(
    name: str, hl_correction: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Step halving never triggers on fits whose steps stay finite: the fit is bit for bit
    the fit of the IWLS without it."""
    fit = fit_eql(case(name), Options(hl_correction=hl_correction))
    assert fit.fitter.pirls.halvings == 0
    monkeypatch.setattr(
        PenalizedIRLS, "_halve", lambda self, old, old_eta, new, new_eta, *a, **k: (new, new_eta)
    )
    plain = fit_eql(case(name), Options(hl_correction=hl_correction))
    assert np.array_equal(fit.last.delta, plain.last.delta)
    assert np.array_equal(fit.phi, plain.phi) and np.array_equal(fit.lam, plain.lam)
    assert fit.n_iter == plain.n_iter


def test_steps_that_stay_finite_form_no_penalized_deviance(monkeypatch: pytest.MonkeyPatch):
    """An unguarded step is checked where its weights are formed (the next step's
    working weights): no penalized deviance is computed for it."""
    calls = []
    deviance = PenalizedIRLS.penalized_deviance
    monkeypatch.setattr(PenalizedIRLS, "penalized_deviance",
                        lambda self, *a: calls.append(1) or deviance(self, *a))
    fit = fit_eql(case("poisson-gaussian"), Options())
    assert fit.converged and fit.fitter.pirls.halvings == 0 and not calls
