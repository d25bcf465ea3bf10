"""Tests of the outer iteration, ``hglm.fit.iteration``: SQUAREM versus plain rounds,
R's stopping rule, maxit, the progress lines, and the iteration of any map."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest

import hglm
from hglm.fit.diagnostics import ConvergenceWarning, Divergence
from hglm.fit.eql import Options, fit_eql
from hglm.fit.iteration import FixedPointIteration

from .problems import case, one_way


@pytest.mark.parametrize(
    "name", ["gaussian-gaussian", "poisson-gaussian", "poisson-gamma-fixdisp", "binomial-beta"]
)
def test_squarem_and_plain_iteration_reach_the_same_fixed_point(name: str) -> None:
    # conv = 1e-20 (relative eta steps of 1e-10) so that both stop within 1e-8 of the
    # fixed point despite linear convergence of the plain iteration
    fast = fit_eql(case(name), Options(conv=1e-20, maxit=1000, accelerate=True))
    plain = fit_eql(case(name), Options(conv=1e-20, maxit=1000, accelerate=False))
    assert fast.converged and plain.converged
    np.testing.assert_allclose(fast.beta, plain.beta, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fast.v, plain.v, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fast.lam, plain.lam, rtol=1e-8)
    np.testing.assert_allclose(fast.phi, plain.phi, rtol=1e-8)
    np.testing.assert_allclose(fast.last.hat, plain.last.hat, rtol=1e-7, atol=1e-12)
    assert fast.n_iter <= plain.n_iter


def test_plain_iteration_follows_r_stopping_rule() -> None:
    prob = case("poisson-gaussian")
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



# --- verbose and maxit ------------------------------------------------------------


@pytest.mark.parametrize("accelerate", [True, False])
def test_verbose_prints_one_line_per_iteration(capsys, accelerate: bool) -> None:
    prob = case("poisson-gaussian")
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
        fit = fit_eql(case("binomial-beta"), Options(maxit=2, accelerate=False))
    assert not fit.converged and fit.n_iter == 2



# --- the iteration on its own: any map theta -> F(theta) ------------------------------

RATES, SHIFT = np.array([0.97, 0.6]), np.array([1.0, 2.0])
FIXED = SHIFT / (1.0 - RATES)


def _linear_round(theta: np.ndarray, last: SimpleNamespace | None):
    """A round of the linear map F(theta) = RATES theta + SHIFT, whose outcome's eta is
    F(theta)."""
    nxt = RATES * theta + SHIFT
    return SimpleNamespace(eta=nxt), nxt


def _iteration(step, accelerate: bool) -> FixedPointIteration:
    return FixedPointIteration(step, lambda rnd: "", conv=1e-20, maxit=5000,
                               accelerate=accelerate, verbose=False)


def test_squarem_reaches_the_fixed_point_of_a_map_in_far_fewer_rounds() -> None:
    plain, fast = _iteration(_linear_round, False), _iteration(_linear_round, True)
    theta_plain, theta_fast = plain.run(np.zeros(2)), fast.run(np.zeros(2))
    assert plain.converged and fast.converged
    assert plain.criterion < 1e-20
    np.testing.assert_allclose(theta_plain, FIXED, rtol=1e-8)
    np.testing.assert_allclose(theta_fast, FIXED, rtol=1e-11)
    assert fast.n_iter * 10 < plain.n_iter


def test_a_diverging_extrapolation_is_rejected_and_not_counted() -> None:
    """A round that raises Divergence at an extrapolated point is undone: the iteration
    goes on from the last accepted round, with a shorter step bound."""
    calls: list[SimpleNamespace | None] = []

    def touchy(theta: np.ndarray, last: SimpleNamespace | None):
        calls.append(last)
        if last is not None and np.max(np.abs(theta - last.eta)) > 0.5:
            raise Divergence("too far from the last round")
        return _linear_round(theta, last)

    it = _iteration(touchy, True)
    theta = it.run(np.zeros(2))
    assert it.converged
    np.testing.assert_allclose(theta, FIXED, rtol=1e-11)
    assert calls[0] is None and len(calls) > it.n_iter  # rejected rounds are not counted


def test_a_matrix_multiplicity_gives_the_norms_of_the_rows() -> None:
    """A state of coefficients gamma standing for rows X gamma: x'(X'X)x = |X x|^2."""
    X = np.array([[1.0, 0.5], [1.0, -2.0], [1.0, 3.0]])
    it = FixedPointIteration(lambda t, last: (None, t), str, 1e-6, 5, True, False,
                             multiplicity=X.T @ X)
    x = np.array([0.3, -0.7])
    assert it._sqnorm(x) == pytest.approx(float(np.sum((X @ x) ** 2)), rel=1e-14)


def test_expand_takes_the_norms_of_the_full_state_to_the_bit():
    """A compact state (one log phi for n rows) with ``expand``: the squared norms are
    those of the full state, summed in its order (not n x^2)."""
    n = 1001

    def expand(x):
        return np.concatenate([np.full(n, x[0]), x[1:]])

    it = FixedPointIteration(lambda t, last: (None, t), str, 1e-6, 5, True, False,
                             expand=expand)
    x = np.array([0.1 + 1e-9, -0.7, 2.5])
    full = expand(x)
    assert it._sqnorm(x) == float(np.einsum("i,i->", full, full))


@pytest.mark.parametrize("accelerate", [False, True])
def test_release_frees_only_rounds_that_cannot_be_the_last(accelerate: bool) -> None:
    """``release`` is called on the last round before any round follows it (plain or
    extrapolated: two rounds' factorizations are never alive together), never on the
    round the iteration ends with."""
    released, serial = [], iter(range(10**6))

    def step(theta, last):
        return {"theta": theta, "serial": next(serial)}, 0.5 * theta + 1.0

    def change(a, b):
        return float(np.sum((a["theta"] - b["theta"]) ** 2))

    it = FixedPointIteration(step, str, 1e-12, 200, accelerate, False,
                             relative_change=change,
                             release=lambda rnd: released.append(rnd["serial"]))
    it.run(np.array([5.0, -3.0]))
    assert it.converged and released
    assert released == list(range(it.last["serial"]))
