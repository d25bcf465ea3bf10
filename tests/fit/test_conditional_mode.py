"""Conditional modes (hglm.fit.conditional_mode): the mode's equations, its warm start and
the prediction of the next one."""

from __future__ import annotations

import numpy as np
import pytest

from hglm.engine import Indicator
from hglm.fit.conditional_mode import ModeFinder
from hglm.fit.densities import ResponseDensity

from .glmm_problems import glmm_problem


def _score_equations(pb, mode, lam):
    """(X's, Z's - v / lambda) at the mode: the h-likelihood's gradient."""
    Z = np.hstack([b.toarray() for b in pb.blocks if isinstance(b, Indicator)])
    s = ResponseDensity(pb.y, pb.family, pb.weights).derivatives(mode.eta, np.ones(
        pb.y.shape[0])).score
    v = mode.delta[pb.X.shape[1]:]
    return pb.X.T @ s, Z.T @ s - v / lam


@pytest.mark.parametrize("inner_beta", [False, True])
def test_the_mode_solves_the_score_equations(inner_beta):
    pb = glmm_problem("poisson", "log", seed=2, levels=(7, 4))
    finder = ModeFinder(pb, inner_beta)
    lam = np.repeat([0.5, 0.2], [7, 4])
    beta = np.array([0.1, 0.4])
    mode = finder.solve(beta, np.ones(pb.y.shape[0]), lam)
    fixed, random = _score_equations(pb, mode, lam)
    np.testing.assert_allclose(random, 0.0, atol=1e-9)
    if inner_beta:
        np.testing.assert_allclose(fixed, 0.0, atol=1e-9)
    else:
        np.testing.assert_array_equal(mode.delta[:2], beta)


@pytest.mark.parametrize("inner_beta", [False, True])
def test_a_new_mode_starts_from_the_prediction(inner_beta):
    pb = glmm_problem("binomial", "logit", seed=3, levels=(30,), n=600, trials=5)
    finder = ModeFinder(pb, inner_beta)
    phi = np.ones(pb.y.shape[0])
    beta = None if inner_beta else np.array([0.3, 0.5])
    finder.solve(beta, phi, np.full(30, 0.5))
    last = finder._last.copy()
    beta = None if inner_beta else np.array([0.32, 0.47])
    predicted = finder._prediction(beta, np.full(30, 0.55))
    new = finder.solve(beta, phi, np.full(30, 0.55)).delta[0 if inner_beta else 2 :]
    assert np.linalg.norm(predicted - new) < 0.05 * np.linalg.norm(last - new)


def test_without_its_factor_the_prediction_waits_for_the_callers_one():
    """solve(keep_factor=False) lets the last IWLS factorization go: no prediction until
    predict_with gives the factor and weights at the mode."""
    pb = glmm_problem("binomial", "logit", seed=3, levels=(30,), n=600, trials=5)
    finder = ModeFinder(pb, inner_beta=True)
    phi, lam = np.ones(pb.y.shape[0]), np.full(30, 0.5)
    mode = finder.solve(None, phi, lam, keep_factor=False)
    assert finder._prediction(None, np.full(30, 0.55)) is None
    W = ResponseDensity(pb.y, pb.family, pb.weights).curvature(mode.eta, phi)
    finder.predict_with(finder.system.factorize(W, 1.0 / lam), W)
    predicted = finder._prediction(None, np.full(30, 0.55))
    new = finder.solve(None, phi, np.full(30, 0.55)).delta
    assert np.linalg.norm(predicted - new) < 0.05 * np.linalg.norm(mode.delta - new)


def test_cold_start_is_the_least_squares_fit_of_the_linked_starting_means():
    pb = glmm_problem("poisson", "log", seed=2, levels=(7,))
    start = ModeFinder(pb, inner_beta=True).cold_start()
    eta0 = np.log(pb.family.mustart(pb.y, pb.weights))
    np.testing.assert_allclose(start[:2], np.linalg.lstsq(pb.X, eta0, rcond=None)[0])
    np.testing.assert_array_equal(start[2:], 0.0)


def test_carried_effects_keep_the_linear_predictor_at_a_new_lambda():
    """use_blocks with Lambda_new^+ Lambda_old: the next IWLS starts where the last mode
    left eta, and finds the mode it finds from the last b as it is."""
    from hglm.engine import transformed_blocks

    from .glmm_problems import vector_problem

    pb = vector_problem("binomial", n=120, m=12)
    old = np.array([[0.9, 0.0], [-0.3, 0.6]])
    new = np.array([[0.7, 0.0], [-0.1, 0.8]])
    modes = []
    for carry in (None, [np.linalg.inv(new) @ old]):
        finder = ModeFinder(pb, False)
        finder.use_blocks(transformed_blocks(pb.blocks, [old]))
        beta, lam = np.array([0.2, 0.4]), np.ones(finder.q)
        mode = finder.solve(beta, np.ones(120), lam)
        finder.use_blocks(transformed_blocks(pb.blocks, [new]), carry)
        if carry is not None:
            eta = finder.system.z_matvec(finder._last) + pb.X @ beta + pb.offset
            np.testing.assert_allclose(eta, mode.eta, rtol=1e-12, atol=1e-12)
        modes.append(finder.solve(beta, np.ones(120), lam).eta)
    np.testing.assert_allclose(modes[1], modes[0], rtol=1e-9, atol=1e-10)


def test_the_cold_start_is_formed_only_when_asked_for(monkeypatch):
    """A finder started at another finder's mode never forms its cold start."""
    pb = glmm_problem("binomial", "logit", seed=3, levels=(30,), n=600)
    joint = ModeFinder(pb, inner_beta=True)
    mode = joint.solve(None, np.ones(pb.y.shape[0]), np.full(30, 0.5))
    calls = []
    monkeypatch.setattr(ModeFinder, "cold_start", lambda self: calls.append(1))
    finder = ModeFinder(pb, inner_beta=False)
    finder.start_at(mode)
    finder.solve(mode.delta[:2], np.ones(pb.y.shape[0]), np.full(30, 0.5))
    assert not calls
