"""The analytic gradient of the Laplace deviances (hglm.fit.laplace_gradient) against
finite differences of their objectives."""

from __future__ import annotations

import numpy as np
import pytest

from hglm.fit.laplace import LaplaceDeviance

from .glmm_problems import glmm_problem, vector_problem

GRADIENT_CASES = [
    ("binomial", "logit", (9, 5), False, 3),
    ("binomial", "probit", (9,), False, 1),
    ("poisson", "log", (9, 5), False, 1),
    ("Gamma", "log", (9,), True, 1),
    ("gaussian", "log", (9,), False, 1),
    ("inverse.gaussian", "log", (9,), True, 1),
]


@pytest.mark.parametrize("kind", ["ML", "nAGQ0", "REML"])
@pytest.mark.parametrize(("family", "link", "levels", "disp_model", "trials"), GRADIENT_CASES)
def test_gradient_matches_finite_differences(kind, family, link, levels, disp_model, trials):
    pb = glmm_problem(family, link, seed=5, levels=levels, disp_model=disp_model,
                      trials=trials)
    dev = LaplaceDeviance(pb, kind)
    par = dev.params
    x = par.pack(np.linspace(0.5, 0.9, par.n_terms), np.array([0.25, 0.45]),
                 np.linspace(-1.0, 0.3, par.n_disp))
    g = dev.gradient(x)
    h = 1e-6
    fd = np.array([(dev.objective(x + h * e) - dev.objective(x - h * e)) / (2 * h)
                   for e in np.eye(x.shape[0])])
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["ML", "nAGQ0"])
def test_vector_term_gradient_matches_differences(kind):
    from hglm.fit.differences import value_gradient

    pb = vector_problem("binomial", n=80, m=8, scalar_levels=4)
    dev = LaplaceDeviance(pb, kind)
    x = dev.params.pack(np.array([0.9, -0.3, 0.6, 0.5]),
                        np.array([0.2, 0.4]) if kind == "ML" else None, None)
    np.testing.assert_allclose(dev.gradient(x), value_gradient(dev.objective, x),
                               rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", ["ML", "nAGQ0"])
@pytest.mark.parametrize("diagonal", [0.6, 1e-4, 0.0])
def test_a_lone_vector_terms_gradient_is_analytic_at_a_singular_lambda(kind, diagonal):
    """The only random term: the gradient in Lambda needs no Lambda^{-1}, so it is
    analytic (not differenced) down to a zero diagonal."""
    from hglm.fit.differences import value_gradient

    pb = vector_problem("binomial", n=80, m=8)
    dev = LaplaceDeviance(pb, kind)
    x = dev.params.pack(np.array([0.9, -0.3, diagonal]),
                        np.array([0.2, 0.4]) if kind == "ML" else None, None)
    g = dev.gradient(x)
    assert dev.state(x).vector_gradient
    # at the floor (a zero diagonal) the value is flat below x and differences straddle it
    moving = ~dev.params.at_floor(x)
    columns = np.r_[np.flatnonzero(moving), np.arange(moving.size, x.size)]
    np.testing.assert_allclose(g[columns], value_gradient(dev.objective, x)[columns],
                               rtol=1e-5, atol=1e-7)
    assert np.all(g[:3][~moving] == 0.0)
