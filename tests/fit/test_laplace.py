"""The Laplace deviances (hglm.fit.laplace) against a dense computation, finite
differences and the exact LMM likelihoods of hglm.fit.lmm."""

from __future__ import annotations

import weakref

import numpy as np
import pytest
from scipy import optimize

from hglm.engine import Indicator, block_width
from hglm.fit.laplace import LaplaceDeviance
from hglm.fit.likelihood import conditional_loglik
from hglm.fit.profiled_deviance import ProfiledDeviance

from .glmm_problems import gaussian_lmm, glmm_problem, vector_problem


def _dense_z(pb):
    return np.hstack([b.toarray() if isinstance(b, Indicator) else b for b in pb.blocks])


def _dense_laplace(pb, sd, beta, phi):
    """-2 log L by the Laplace approximation from dense algebra: the mode of h by BFGS,
    D by second differences of -h."""
    Z = _dense_z(pb)
    lam = np.concatenate([np.full(block_width(b), s**2) for b, s in zip(pb.blocks, sd,
                                                                       strict=True)])

    def minus_h(v):
        eta = pb.offset + pb.X @ beta + Z @ v
        mu = pb.family.clip_mu(pb.family.link.inverse(eta))
        return (-conditional_loglik(pb.y, mu, pb.family, phi, pb.weights)
                + 0.5 * np.sum(np.log(2 * np.pi * lam) + v**2 / lam))

    v = optimize.minimize(minus_h, np.zeros(Z.shape[1]), method="BFGS",
                          options={"gtol": 1e-11}).x
    q, h = v.shape[0], 1e-4
    D = np.empty((q, q))
    for i in range(q):
        for j in range(q):
            ei, ej = h * np.eye(q)[i], h * np.eye(q)[j]
            D[i, j] = (minus_h(v + ei + ej) - minus_h(v + ei - ej) - minus_h(v - ei + ej)
                       + minus_h(v - ei - ej)) / (4 * h * h)
    return 2.0 * minus_h(v) + np.linalg.slogdet(D / (2 * np.pi))[1]


@pytest.mark.parametrize(("family", "link", "disp_model"), [
    ("binomial", "logit", False), ("poisson", "log", False), ("Gamma", "log", True),
])
def test_ml_objective_is_the_laplace_approximation(family, link, disp_model):
    pb = glmm_problem(family, link, seed=4, levels=(6,), n=40, disp_model=disp_model)
    dev = LaplaceDeviance(pb, "ML")
    sd, beta = np.array([0.7]), np.array([0.2, 0.4])
    gamma = np.array([-0.8, 0.3]) if disp_model else None
    x = dev.params.pack(sd, beta, gamma)
    expected = _dense_laplace(pb, sd, beta, dev.params.phi(x))
    assert dev.objective(x) == pytest.approx(expected, rel=1e-7)


@pytest.mark.parametrize("reml", [True, False])
def test_gaussian_identity_objectives_are_the_exact_lmm_likelihoods(reml):
    """At the residual variance and fixed effects profiled by fit/lmm.py, the Laplace
    deviance is exact ML and the Laplace-REML criterion exact REML."""
    pb = gaussian_lmm()
    profiled = ProfiledDeviance(pb, reml)
    dev = LaplaceDeviance(pb, "REML" if reml else "ML")
    for theta in ([0.8, 0.4], [1.5, 0.05]):
        theta = np.array(theta)
        st = profiled.state(theta)
        sigma = np.sqrt(st.sigma2)
        beta = st.delta[: pb.X.shape[1]]
        x = dev.params.pack(theta * sigma, beta, np.array([np.log(st.sigma2)]))
        assert dev.objective(x) == pytest.approx(st.objective, rel=1e-10)


def test_nagq0_objective_is_the_ml_objective_at_the_joint_mode():
    pb = glmm_problem("binomial", "logit", seed=6, levels=(9, 5), trials=2)
    joint, ml = LaplaceDeviance(pb, "nAGQ0"), LaplaceDeviance(pb, "ML")
    sd = np.array([0.6, 0.9])
    x0 = joint.params.pack(sd, None, None)
    beta = joint.state(x0).mode.delta[: pb.X.shape[1]]
    assert joint.objective(x0) == pytest.approx(ml.objective(ml.params.pack(sd, beta, None)),
                                                rel=1e-10)


def test_nagq0_gradient_factors_the_joint_system_once_and_the_covariance_not(monkeypatch):
    """A state's gradient is formed when asked for; nAGQ = 0's gradient factors the joint
    system at the mode's curvatures once, and the fixed effects' covariance there comes
    from the factor of D (no factorization of the joint system)."""
    pb = glmm_problem("binomial", "logit", seed=6, levels=(9, 5), trials=2)
    dev = LaplaceDeviance(pb, "nAGQ0")
    x = dev.params.pack(np.array([0.6, 0.9]), None, None)
    st = dev.state(x)
    assert st.gradient is None and st.joint_factor is None
    joint = dev.modes.system
    calls = []
    factorize = joint.factorize
    monkeypatch.setattr(joint, "factorize", lambda *a, **k: calls.append(1) or factorize(*a, **k))
    g = dev.gradient(x)
    assert len(calls) == 1 and st.joint_factor is not None
    np.testing.assert_array_equal(dev.gradient(x), g)
    dev.fixed_covariance(x)
    assert len(calls) == 1


@pytest.mark.parametrize("kind", ["ML", "nAGQ0", "REML"])
def test_an_older_state_forms_its_factor_and_derivatives_again(kind):
    """Before an evaluation the kept states let go of their factors and derivatives; an
    older state's gradient and covariances are then formed again from its mode."""
    pb = glmm_problem("binomial", "logit", seed=6, levels=(9, 5), trials=2)
    dev, fresh = LaplaceDeviance(pb, kind), LaplaceDeviance(pb, kind)
    par = dev.params
    beta = None if kind != "ML" else np.array([0.1, 0.3])
    x1, x2 = par.pack(np.array([0.6, 0.9]), beta, None), par.pack(np.array([0.5, 1.1]),
                                                                    beta, None)
    st1 = dev.state(x1)
    dev.state(x2)
    assert st1.factor is None and st1.deriv is None and st1.joint_factor is None
    fresh.state(x1)
    np.testing.assert_allclose(dev.gradient(x1), fresh.gradient(x1), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dev.fixed_covariance(x1), fresh.fixed_covariance(x1),
                               rtol=1e-10)
    np.testing.assert_allclose(dev.random_factor(x1).diag_inverse(),
                               fresh.random_factor(x1).diag_inverse(), rtol=1e-10)


@pytest.mark.parametrize("kind", ["ML", "nAGQ0", "REML"])
def test_curvature_covariances_are_the_dense_inverses(kind):
    pb = glmm_problem("poisson", "log", seed=7, levels=(8, 4))
    dev = LaplaceDeviance(pb, kind)
    par = dev.params
    x = par.pack(np.array([0.5, 0.8]), np.array([0.2, 0.4]), None)
    st = dev.state(x)
    Z = _dense_z(pb)
    W = st.deriv.curvature
    lam = par.lam_effects(st.lam)
    D = Z.T @ (W[:, None] * Z) + np.diag(1.0 / lam)
    T = np.hstack([pb.X, Z])
    C = T.T @ (W[:, None] * T) + np.diag(np.concatenate([np.zeros(2), 1.0 / lam]))
    np.testing.assert_allclose(dev.random_factor(x).diag_inverse(),
                               np.diag(np.linalg.inv(D)), rtol=1e-10)
    np.testing.assert_allclose(dev.fixed_covariance(x), np.linalg.inv(C)[:2, :2], rtol=1e-10)


def test_vector_term_laplace_is_the_dense_laplace_on_z_lambda():
    """With (1 + x | g), the Laplace deviance is that of independent unit-variance
    effects b on the design Z Lambda (lme4's spherical form)."""
    from hglm.engine import Grouped
    from hglm.spec import Problem

    pb = vector_problem("binomial", n=60, m=6)
    dev = LaplaceDeviance(pb, "ML")
    L = np.array([[0.9, 0.0], [-0.3, 0.6]])
    beta = np.array([0.2, 0.4])
    x = dev.params.pack(np.array([0.9, -0.3, 0.6]), beta, None)
    np.testing.assert_allclose(dev.params.factors(x)[0], L)
    block = pb.blocks[0]
    spherical = Grouped(block.index, block.values @ L, block.n_levels).toarray()
    dense = Problem(pb.y, pb.X, [spherical], pb.terms, pb.family, pb.weights, pb.offset,
                    None, pb.link_disp, None)
    expected = _dense_laplace(dense, np.array([1.0]), beta, np.ones(60))
    assert dev.objective(x) == pytest.approx(expected, rel=1e-7)


@pytest.mark.parametrize(("family", "link", "levels", "disp_model"), [
    ("binomial", "logit", (9, 5), False), ("poisson", "log", (9,), False),
    ("Gamma", "log", (9,), True),
])
def test_difference_gradient_is_the_gradient_at_the_solved_mode(family, link, levels,
                                                                disp_model):
    """A difference step's gradient at the mode predicted from the base's (no IWLS) is the
    gradient at the IWLS mode to the IWLS's own accuracy, in the sds and beta; a step in
    the dispersion parameters takes the IWLS mode."""
    pb = glmm_problem(family, link, seed=6, levels=levels, disp_model=disp_model)
    dev = LaplaceDeviance(pb, "ML")
    par = dev.params
    base = par.pack(np.linspace(0.5, 0.9, par.n_terms), np.array([0.25, 0.45]),
                    np.linspace(-1.0, 0.3, par.n_disp))
    dev.gradient(base)
    solved = LaplaceDeviance(pb, "ML", dev.density)
    for j in range(base.shape[0]):
        x = base.copy()
        x[j] += 1e-4 * max(abs(x[j]), 0.1)
        steps_before = dev.modes.n_steps
        [near] = dev.difference_gradients([x], base)
        in_dispersion = j >= par.disp_slice.start
        assert (dev.modes.n_steps > steps_before) == in_dispersion
        np.testing.assert_allclose(near, solved.gradient(x), rtol=1e-9, atol=1e-9)


def test_difference_gradients_keep_one_factorization_alive(monkeypatch):
    """The steps' modes are predicted before the base's factor goes: each step's
    factorization is formed with no other alive (the base's included)."""
    pb = glmm_problem("binomial", "logit", seed=6, levels=(9, 5))
    dev = LaplaceDeviance(pb, "ML")
    base = dev.params.pack(np.array([0.5, 0.8]), np.array([0.25, 0.45]), None)
    dev.gradient(base)
    alive = [weakref.ref(dev.factor(dev.state(base)))]
    alive_at_each = []
    factorize = dev.inner.factorize

    def counting_factorize(*args, **kwargs):
        alive_at_each.append(sum(ref() is not None for ref in alive))
        factor = factorize(*args, **kwargs)
        alive.append(weakref.ref(factor))
        return factor

    monkeypatch.setattr(dev.inner, "factorize", counting_factorize)
    points = [base + 1e-4 * np.eye(base.shape[0])[j] for j in range(base.shape[0])]
    gradients = dev.difference_gradients(points, base)
    assert alive_at_each == [0] * len(points)
    solved = LaplaceDeviance(pb, "ML", dev.density)
    for x, g in zip(points, gradients, strict=True):
        np.testing.assert_allclose(g, solved.gradient(x), rtol=1e-9, atol=1e-9)


def test_difference_gradient_of_other_kinds_is_the_gradient():
    pb = glmm_problem("binomial", "logit", seed=6, levels=(9,))
    dev = LaplaceDeviance(pb, "nAGQ0")
    x = dev.params.pack(np.array([0.6]), None, None)
    base = x.copy()
    x[0] += 1e-4
    np.testing.assert_array_equal(dev.difference_gradients([x], base)[0], dev.gradient(x))


@pytest.mark.parametrize("kind", ["ML", "nAGQ0", "REML"])
def test_a_state_let_go_forms_its_linear_predictor_again(kind):
    """A kept state lets its linear predictor go when the next one is evaluated; formed
    again from (beta, v) it is the IWLS's, and so are the gradient and factor from it."""
    pb = glmm_problem("binomial", "logit", seed=6, levels=(9, 5))
    dev = LaplaceDeviance(pb, kind)
    beta = np.array([0.25, 0.45]) if kind == "ML" else None
    x = dev.params.pack(np.array([0.5, 0.8]), beta, None)
    st = dev.state(x)
    eta, gradient, logdet = st.mode.eta.copy(), dev.gradient(x).copy(), st.factor.logdet()
    dev.state(x + 0.1)
    assert st.mode.eta is None and st.factor is None
    np.testing.assert_allclose(dev.mode(st).eta, eta, rtol=1e-12, atol=1e-12)
    st.gradient = None
    np.testing.assert_allclose(dev.gradient(x), gradient, rtol=1e-10, atol=1e-12)
    assert dev.factor(st).logdet() == pytest.approx(logdet, rel=1e-12)
