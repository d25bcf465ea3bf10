"""The gradient of the ML/REML profiled deviance (hglm.fit.profiled_gradient) against
finite differences of the objective and the systems' products."""

from __future__ import annotations

import numpy as np
import pytest

from hglm.fit.differences import value_gradient
from hglm.fit.profiled_deviance import ProfiledDeviance

from .glmm_problems import vector_problem
from .lmm_problems import crossed_lmm


@pytest.mark.parametrize("reml", [True, False])
def test_gradient_matches_finite_differences(reml):
    pb, _ = crossed_lmm(seed=3)
    dev = ProfiledDeviance(pb, reml)
    theta = np.array([0.8, 0.4])
    g = dev.gradient(theta)
    eps = 1e-6
    fd = [
        (dev.objective(theta + eps * e) - dev.objective(theta - eps * e)) / (2 * eps)
        for e in np.eye(2)
    ]
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7)


def test_vector_term_gradient_matches_finite_differences():
    pb = vector_problem(scalar_levels=5)
    dev = ProfiledDeviance(pb, True)
    theta = np.array([1.3, -0.6, 0.4, 0.5])
    g = dev.gradient(theta)
    eps = 1e-6
    fd = [(dev.objective(theta + eps * e) - dev.objective(theta - eps * e)) / (2 * eps)
          for e in np.eye(4)]
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("theta", [[0.9, -0.3, 0.6], [0.9, -0.3, 1e-4], [0.9, 0.4, 0.0],
                                   [1e-4, 0.3, 0.5]])
def test_a_lone_vector_terms_gradient_is_analytic_down_to_a_singular_lambda(
        reml, theta, monkeypatch):
    import hglm.fit.profiled_gradient as gradient_module

    def refuse(*args, **kwargs):
        raise AssertionError("the gradient was differenced")

    pb = vector_problem(n=120, m=12)
    dev = ProfiledDeviance(pb, reml)
    theta = np.array(theta)
    expected = value_gradient(dev.objective, theta)
    monkeypatch.setattr(gradient_module, "value_gradient", refuse)
    np.testing.assert_allclose(dev.gradient(theta), expected, rtol=1e-5, atol=1e-6)


def test_a_lone_vector_terms_level_products_are_the_systems():
    pb = vector_problem(n=120, m=12)
    dev = ProfiledDeviance(pb, True)
    assert dev._products is not None  # the structured system: its products are used
    gram, cross = dev._lone_products()
    block, w = pb.blocks[0], pb.weights
    Z = block.toarray().reshape(120, 12, 2)
    np.testing.assert_allclose(gram, np.einsum("n,nli,nlj->lij", w, Z, Z), rtol=1e-12)
    np.testing.assert_allclose(cross, np.einsum("n,np,nlj->lpj", w, pb.X, Z), rtol=1e-12,
                               atol=1e-12)
