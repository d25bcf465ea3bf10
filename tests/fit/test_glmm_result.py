"""What a GLMM fit's optimum gives (hglm.fit.glmm_result): the scale of theta and the
fixed effects' covariance from the Hessian."""

from __future__ import annotations

import numpy as np

from hglm.fit.glmm_result import beta_covariance, theta_scale
from hglm.fit.outer_parameters import OuterParameters

from .glmm_problems import glmm_problem


def test_theta_is_relative_to_sigma_only_for_a_single_dispersion():
    binomial = glmm_problem("binomial", "logit")
    gamma = glmm_problem("Gamma", "log")
    model = glmm_problem("Gamma", "log", disp_model=True)
    for pb, expected in ((binomial, 1.0), (gamma, 0.25), (model, 1.0)):
        par = OuterParameters(pb, beta_outer=True)
        x = par.pack(np.array([0.5]), np.zeros(2), np.log(np.full(par.n_disp, 0.25)))
        assert theta_scale(pb, par, x) == expected


def test_beta_covariance_is_twice_the_inverse_without_singular_terms():
    pb = glmm_problem("binomial", "logit", levels=(6, 4))
    par = OuterParameters(pb, beta_outer=True)
    x = par.pack(np.array([0.5, 0.0]), np.zeros(2), None)
    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 4))
    H = A @ A.T + 4 * np.eye(4)
    H[1, :] = H[:, 1] = 0.0  # the second term's log sd: flat at its floor
    keep = [0, 2, 3]
    expected = 2.0 * np.linalg.inv(H[np.ix_(keep, keep)])[1:, 1:]
    got = beta_covariance(H, par, x, np.array([False, True]))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert beta_covariance(-H, par, x, np.array([False, True])) is None
