"""The fixed-point map of the profiled deviance (hglm.fit.profiled_fixed_point)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from hglm.engine import Indicator
from hglm.fit.profiled_deviance import ProfiledDeviance
from hglm.fit.profiled_fixed_point import iterate_profiled
from hglm.fit.theta import THETA_FLOOR

from .lmm_problems import crossed_lmm, lmm_problem


def _lbfgsb(dev, theta0):
    return optimize.minimize(dev.objective, theta0, jac=dev.gradient, method="L-BFGS-B",
                             bounds=[(0.0, None)] * len(theta0),
                             options={"ftol": 1e-15, "gtol": 1e-12, "maxcor": 20})


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("weights", [False, True])
def test_converges_to_the_quasi_newton_optimum(reml, weights):
    pb, _ = crossed_lmm(seed=2, n=600, levels=(30, 8), weights=weights)
    dev = ProfiledDeviance(pb, reml)
    res = iterate_profiled(dev, np.ones(2), THETA_FLOOR)
    ref = _lbfgsb(ProfiledDeviance(pb, reml), np.ones(2))
    assert res.converged
    assert dev.objective(res.theta) <= ref.fun + 1e-9
    np.testing.assert_allclose(res.theta, ref.x, rtol=1e-5)
    # the point returned is the last one evaluated: no evaluation is wasted
    assert res.n_eval == dev.n_eval


def test_well_determined_terms_take_few_evaluations():
    pb, _ = crossed_lmm(seed=4, n=4000, levels=(40, 20))
    res = iterate_profiled(ProfiledDeviance(pb, True), np.ones(2), THETA_FLOOR)
    assert res.converged and res.n_eval <= 8


@pytest.mark.parametrize("shrink", [0.8, 1.0])
def test_gives_up_towards_the_boundary(shrink):
    """A term whose group means vary less than chance: the map creeps towards theta = 0
    (or jumps there when the means are equal), so the iteration stops unconverged at its best
    point for the quasi-Newton method."""
    rng = np.random.default_rng(11)
    n, m = 200, 10
    codes = rng.integers(0, m, n)
    y = 1.0 + rng.normal(size=n)
    y -= shrink * np.bincount(codes, y, m)[codes] / np.bincount(codes, minlength=m)[codes]
    pb = lmm_problem(y, np.ones((n, 1)), [Indicator(codes.astype(np.int64), np.ones(n), m)])
    dev = ProfiledDeviance(pb, True)
    res = iterate_profiled(dev, np.ones(1), THETA_FLOOR, max_eval=12)
    assert not res.converged and res.n_eval <= 12
    assert dev.objective(res.theta) <= dev.objective(np.ones(1))
    assert _lbfgsb(dev, res.theta).x[0] < 1e-4
