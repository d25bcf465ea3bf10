"""The layout of the marginal-likelihood parameters (hglm.fit.outer_parameters)."""

from __future__ import annotations

import numpy as np
import pytest

from hglm.fit.outer_parameters import SD_FLOOR, OuterParameters

from .glmm_problems import glmm_problem


def test_binomial_has_no_dispersion_and_beta_only_when_outer():
    pb = glmm_problem("binomial", "logit", levels=(6, 4))
    outer, inner = OuterParameters(pb, beta_outer=True), OuterParameters(pb, beta_outer=False)
    assert (outer.size, inner.size, outer.n_disp) == (4, 2, 0)
    np.testing.assert_array_equal(outer.phi(np.zeros(4)), np.ones(pb.y.shape[0]))
    x = outer.pack(np.array([0.5, 2.0]), np.array([0.1, -0.3]), None)
    np.testing.assert_allclose(outer.sd(x), [0.5, 2.0])
    np.testing.assert_allclose(outer.lam(x), [0.25, 4.0])
    np.testing.assert_allclose(outer.beta(x), [0.1, -0.3])
    np.testing.assert_allclose(outer.lam_effects(outer.lam(x)), [0.25] * 6 + [4.0] * 4)


def test_dispersion_model_gives_log_linear_phi():
    pb = glmm_problem("Gamma", "log", levels=(6,), disp_model=True)
    par = OuterParameters(pb, beta_outer=True)
    gamma = np.array([-1.0, 0.5])
    x = par.pack(np.array([0.3]), np.array([0.0, 0.0]), gamma)
    np.testing.assert_allclose(par.gamma(x), gamma)
    np.testing.assert_allclose(par.phi(x), np.exp(pb.x_disp @ gamma))


def test_fix_disp_holds_the_dispersion():
    pb = glmm_problem("Gamma", "log", levels=(6,))
    pb.fix_disp = 0.5
    par = OuterParameters(pb, beta_outer=False)
    assert par.n_disp == 0
    np.testing.assert_array_equal(par.phi(np.zeros(1)), np.full(pb.y.shape[0], 0.5))


def test_a_zero_sd_goes_to_the_floor_where_the_gradient_vanishes():
    pb = glmm_problem("Gamma", "log", levels=(6, 3))
    par = OuterParameters(pb, beta_outer=False)
    x = par.pack(np.array([0.0, 0.4]), None, np.array([np.log(4.0)]))
    assert par.floor(x) == pytest.approx(SD_FLOOR * 2.0)
    np.testing.assert_array_equal(par.at_floor(x), [True, False])
    np.testing.assert_allclose(par.sd(x), [SD_FLOOR * 2.0, 0.4])
    np.testing.assert_allclose(par.sd_gradient(x, np.array([3.0, 3.0])), [0.0, 2 * 0.16 * 3])


def test_to_floor_puts_the_named_sds_where_their_value_is_zero():
    pb = glmm_problem("Gamma", "log", levels=(6, 3))
    par = OuterParameters(pb, beta_outer=False)
    x = par.pack(np.array([0.3, 0.4]), None, np.array([np.log(4.0)]))
    y = par.to_floor(x, np.array([False, True]))
    np.testing.assert_array_equal(par.at_floor(y), [False, True])
    np.testing.assert_allclose(par.covariance(y), [0.3, 0.0])
    np.testing.assert_array_equal(np.delete(y, 1), np.delete(x, 1))
