"""Responses simulated from a fitted model (hglm.results.simulate): reproducible, of the
family's support, with the fitted model's moments."""

from __future__ import annotations

import numpy as np
import pytest

from hglm.engine import Indicator
from hglm.results.simulate import simulate_responses
from hglm.spec import Problem, RandomTermModel, get_link, response_family
from hglm.spec.families import random_family

from .marginal_cases import lmm_fit

N_GROUPS, PER = 40, 5


def _problem(family: str, rand_family: str = "gaussian", weights: float = 1.0) -> Problem:
    n = N_GROUPS * PER
    codes = np.repeat(np.arange(N_GROUPS), PER)
    term = RandomTermModel(random_family(rand_family), None, get_link("log", "link"))
    return Problem(np.zeros(n), np.ones((n, 1)), [Indicator(codes, np.ones(n), N_GROUPS)],
                   [term], response_family(family), np.full(n, weights), np.zeros(n), None,
                   get_link("log", "link"), None)


def test_an_lmm_fit_simulates_reproducibly():
    fit = lmm_fit()
    a, b = fit.simulate(3, seed=11), fit.simulate(3, seed=11)
    assert list(a.columns) == ["sim_1", "sim_2", "sim_3"] and len(a) == fit.nobs
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a["sim_1"], fit.simulate(1, seed=12)["sim_1"])
    with pytest.raises(ValueError, match="nsim"):
        fit.simulate(0)


def test_gaussian_moments():
    pb = _problem("gaussian")
    sims = simulate_responses(pb, np.array([2.0]), np.array([0.5]), np.full(pb.y.size, 1.5),
                              4000, seed=1).to_numpy()
    assert sims.mean() == pytest.approx(2.0, abs=0.02)
    assert sims.var() == pytest.approx(2.0, rel=0.03)  # lambda + phi
    same_group = np.mean((sims[0] - 2.0) * (sims[1] - 2.0))
    assert same_group == pytest.approx(0.5, abs=0.06)  # covariance within a group


def test_binomial_proportions_and_poisson_counts():
    pb = _problem("binomial", weights=7.0)
    sims = simulate_responses(pb, np.array([0.0]), np.array([1e-12]), np.ones(pb.y.size),
                              200, seed=2).to_numpy()
    assert np.allclose(sims * 7, np.round(sims * 7)) and sims.min() >= 0 and sims.max() <= 1
    assert sims.mean() == pytest.approx(0.5, abs=0.01)
    pb = _problem("poisson")
    sims = simulate_responses(pb, np.array([1.0]), np.array([1e-12]), np.ones(pb.y.size),
                              200, seed=3).to_numpy()
    assert np.allclose(sims, np.round(sims)) and sims.mean() == pytest.approx(np.e, rel=0.02)


def test_gamma_random_effects_have_mean_one_on_the_u_scale():
    pb = _problem("poisson", rand_family="gamma")
    sims = simulate_responses(pb, np.array([np.log(3.0)]), np.array([0.4]), np.ones(pb.y.size),
                              2000, seed=4).to_numpy()
    assert sims.mean() == pytest.approx(3.0, rel=0.02)
    assert sims.var() == pytest.approx(3.0 + 9.0 * 0.4, rel=0.06)  # negative binomial


def test_gamma_and_inverse_gaussian_responses():
    for family in ("Gamma", "inverse_gaussian"):
        pb = _problem(family)
        sims = simulate_responses(pb, np.array([2.0]), np.array([1e-12]),
                                  np.full(pb.y.size, 0.1), 500, seed=5).to_numpy()
        mu = float(pb.family.link.inverse(np.array(2.0)))  # R's default links
        assert sims.min() > 0 and sims.mean() == pytest.approx(mu, rel=0.02)
        assert sims.var() == pytest.approx(0.1 * pb.family.variance(mu), rel=0.1)
