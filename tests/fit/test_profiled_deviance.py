"""The ML/REML profiled deviance of a linear mixed model (hglm.fit.profiled_deviance)
against a dense computation from V."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from hglm.fit.profiled_deviance import ProfiledDeviance

from .glmm_problems import vector_problem
from .lmm_problems import crossed_lmm, dense_objective, dense_vector_objective, lmm_problem


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("weights", [False, True])
def test_profiled_deviance_equals_the_dense_likelihood(reml, weights):
    pb, _ = crossed_lmm(weights=weights)
    dev = ProfiledDeviance(pb, reml)
    for theta in ([1.0, 1.0], [0.3, 2.0], [1e-3, 0.7]):
        theta = np.array(theta)
        assert dev.objective(theta) == pytest.approx(dense_objective(pb, theta, reml),
                                                     rel=1e-10)


def test_a_new_theta_releases_the_last_factorization():
    """One factorization alive: the last state's goes before the next one is formed."""
    pb, _ = crossed_lmm()
    dev = ProfiledDeviance(pb, True)
    theta = np.array([0.8, 0.4])
    dev.gradient(theta)
    dev.fixed_columns(dev.state(theta).factor)
    last = weakref.ref(dev.state(theta).factor)
    assert dev.state(theta).factor is last()  # the same theta: kept
    dev.objective(theta * 1.1)
    gc.collect()
    assert last() is None


@pytest.mark.parametrize("reml", [True, False])
def test_vector_term_deviance_equals_the_dense_likelihood(reml):
    pb = vector_problem(scalar_levels=5)
    dev = ProfiledDeviance(pb, reml)
    # lme4's start, a correlation, a singular Lambda (zero diagonal) and a zero scalar term
    for theta in ([1.0, 0.0, 1.0, 1.0], [1.3, -0.6, 0.4, 0.5], [0.8, 0.5, 0.0, 0.3],
                  [0.8, 0.5, 0.2, 0.0]):
        theta = np.array(theta)
        assert dev.objective(theta) == pytest.approx(
            dense_vector_objective(pb, theta, reml), rel=1e-10)


@pytest.mark.parametrize("noise", [1.0, 1e-6])
def test_residual_parts_from_the_products_equal_those_from_the_residuals(noise):
    # noise 1e-6: the random effects fit y almost exactly; r^2 from the products would
    # cancel beyond RSS_BUDGET, so it comes from the residuals
    pb, _ = crossed_lmm(seed=4)
    X, (a, b) = pb.X, pb.blocks
    rng = np.random.default_rng(4)
    y = 1e4 + X @ [2.0, -0.5] + 3.0 * rng.normal(size=a.n_levels)[a.index] \
        + 2.0 * rng.normal(size=b.n_levels)[b.index] + noise * rng.normal(size=X.shape[0])
    pb = lmm_problem(y, X, pb.blocks)
    dev = ProfiledDeviance(pb, True)
    for theta in ([1.0, 1.0], [0.3, 2.0], [3e3, 2e3]):
        st = dev.state(np.array(theta))
        resid = pb.y - dev.base.linear_predictor(st.delta)
        v = st.delta[dev.p :]
        assert st.r2 == pytest.approx(np.sum(resid**2) + np.sum(st.w2 * v**2), rel=1e-9)
        zeros = np.zeros(dev.base.q)
        # T1'Wr at y ~ 1e4: both carry rounding of ~1e-15 |T1'Wy| ~ 1e-9
        np.testing.assert_allclose(st.score, dev.base.rhs(pb.weights, resid, zeros, zeros),
                                   rtol=1e-6, atol=1e-8)
        if theta[0] < 10:  # beyond, V of the dense objective is too ill-conditioned
            assert dev.objective(np.array(theta)) == pytest.approx(
                dense_objective(pb, np.array(theta), True), rel=1e-12)
