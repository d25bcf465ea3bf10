"""The NPML mixture log-likelihood (hglm.fit.npml_likelihood): gradient and Hessian
against central differences, the mean-0 constraint restored."""

from __future__ import annotations

import numpy as np
import pytest

from hglm.fit.npml_likelihood import MixtureLikelihood

from .ordinal_problems import ordinal_problem


def _phi(lik: MixtureLikelihood, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    phi = rng.normal(scale=0.1, size=lik.size)
    n_thresholds = int(np.sum(lik.free < lik.design.q))  # the first may be held at 0
    low = 0.0 if n_thresholds < lik.design.q else -1.0
    phi[:n_thresholds] = np.linspace(low + 1.0, low + 1.0 * n_thresholds, n_thresholds)
    return phi


@pytest.mark.parametrize(("random", "npo", "cumulative", "k"), [
    ("~ 1", None, True, 3),
    ("~ 1 + t", "~ t", True, 2),
    ("~ 1 + t", None, False, 2),
    (None, None, True, 1),
])
def test_gradient_and_hessian_match_differences(random, npo, cumulative, k) -> None:
    lik = MixtureLikelihood(ordinal_problem(random, npo, cumulative=cumulative), k)
    phi = _phi(lik)
    v = lik.value(phi, order=2)
    h = 1e-6
    num_grad, num_hess = np.empty(lik.size), np.empty((lik.size, lik.size))
    for j in range(lik.size):
        e = np.zeros(lik.size)
        e[j] = h
        up, down = lik.value(phi + e, order=1), lik.value(phi - e, order=1)
        num_grad[j] = (up.loglik - down.loglik) / (2 * h)
        num_hess[:, j] = (up.gradient - down.gradient) / (2 * h)
    np.testing.assert_allclose(v.gradient, num_grad, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(v.hessian, num_hess, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(v.scores.sum(axis=0), v.gradient, rtol=1e-12, atol=1e-12)


def test_constrained_points_have_mean_zero_and_same_predictors() -> None:
    design = ordinal_problem("~ 1 + t", "~ t")
    lik = MixtureLikelihood(design, 3)
    phi = _phi(lik)
    fixed, points, masses = lik.constrained(phi)
    np.testing.assert_allclose(masses @ points, 0.0, atol=1e-14)
    theta, free_points, _ = lik.split(phi)
    J = design.fixed_jacobian()
    for c in range(3):
        eta_free = J[:, :, lik.free] @ theta + (design.Z @ free_points[c])[:, None]
        eta = J @ fixed + (design.Z @ points[c])[:, None]
        np.testing.assert_allclose(eta, eta_free, rtol=1e-12, atol=1e-12)


def test_random_covariate_outside_the_fixed_part_is_refused() -> None:
    design = ordinal_problem("~ 1 + t")
    bad = design.__class__(**{**design.__dict__, "X": design.X[:, :1], "x_names": ("x",)})
    with pytest.raises(ValueError, match="random covariate 't' is not in formula"):
        MixtureLikelihood(bad, 2)
