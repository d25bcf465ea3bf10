"""The log-densities and their derivatives (hglm.fit.densities) against finite
differences and the likelihoods of hglm.fit.likelihood."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from hglm.fit.densities import ResponseDensity, random_curvature
from hglm.fit.likelihood import conditional_loglik, random_loglik
from hglm.spec import Beta, Binomial, Gamma, Gaussian, InverseGamma, InverseGaussian, Poisson
from hglm.spec.families import response_family

RESPONSES = [
    (Binomial, "logit"), (Binomial, "probit"), (Binomial, "cloglog"),
    (Poisson, "log"), (Poisson, "sqrt"),
    (Gaussian, "identity"), (Gaussian, "log"), (Gaussian, "inverse"),
    (Gamma, "inverse"), (Gamma, "log"), (Gamma, "identity"),
    (InverseGaussian, "1/mu^2"), (InverseGaussian, "log"),
]


def _data(family_class, link, n=12, seed=3):
    """A response in the family's support, a linear predictor where the link is valid,
    prior weights and dispersions."""
    rng = np.random.default_rng(seed)
    family = family_class(link).as_response()
    if family.name == "binomial":
        weights = rng.integers(1, 6, n).astype(float)
        mu = rng.uniform(0.2, 0.8, n)
        y = rng.binomial(weights.astype(int), mu) / weights
    else:
        weights = rng.uniform(0.5, 2.0, n)
        mu = rng.uniform(0.5, 2.0, n)
        y = rng.poisson(mu).astype(float) if family.name == "poisson" else mu * rng.uniform(
            0.5, 1.5, n)
    eta = family.link.link(mu)
    phi = np.ones(n) if family.fixed_dispersion else rng.uniform(0.3, 1.5, n)
    return family, y, eta, weights, phi


def _per_observation(density, eta, phi):
    """-2 l_i up to its constant: the weighted deviances at eta."""
    return density.deviances(density.mean(eta)[0], phi)


@pytest.mark.parametrize(("family_class", "link"), RESPONSES)
def test_score_curvature_and_its_derivative_are_those_of_the_log_density(family_class, link):
    family, y, eta, w, phi = _data(family_class, link)
    density = ResponseDensity(y, family, w)
    d = density.derivatives(eta, phi)
    h = 1e-5 * (1.0 + np.abs(eta))
    up, down = density.derivatives(eta + h, phi), density.derivatives(eta - h, phi)
    fd_score = -0.25 * (_per_observation(density, eta + h, phi)
                        - _per_observation(density, eta - h, phi)) / h
    np.testing.assert_allclose(d.score, fd_score, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(d.curvature, -(up.score - down.score) / (2 * h), rtol=1e-5,
                               atol=1e-8)
    np.testing.assert_allclose(d.dcurvature, (up.curvature - down.curvature) / (2 * h),
                               rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(density.score(eta, phi), d.score, rtol=1e-14)


@pytest.mark.parametrize(("family_class", "link"), RESPONSES)
def test_minus_two_loglik_has_every_constant(family_class, link):
    """With the dispersion fixed (the natural form for binomial logit and Poisson log) and
    estimated alike."""
    family, y, eta, w, phi = _data(family_class, link)
    mu = ResponseDensity(y, family, w).mean(eta)[0]
    expected = -2.0 * conditional_loglik(y, mu, family, phi, w)
    fixed = ResponseDensity(y, family, w, fixed_phi=phi)
    assert fixed.minus_two_loglik(eta, phi) == pytest.approx(expected, rel=1e-12)
    assert fixed.minus_two_loglik(eta, phi, mu) == pytest.approx(expected, rel=1e-12)
    assert ResponseDensity(y, family, w).minus_two_loglik(eta, phi) == pytest.approx(
        expected, rel=1e-12)
    assert fixed.constant(phi) == pytest.approx(
        -0.5 * expected + 0.5 * float(np.sum(fixed.deviances(mu, phi))), rel=1e-12)


@pytest.mark.parametrize(("family_class", "link"),
                         [(Gaussian, "log"), (Gamma, "log"), (InverseGaussian, "log")])
def test_dispersion_score_is_the_derivative_in_log_phi(family_class, link):
    family, y, eta, w, phi = _data(family_class, link, n=5)
    density = ResponseDensity(y, family, w)
    mu = density.mean(eta)[0]
    score = density.dispersion_score(mu, phi)
    for i in range(y.shape[0]):
        step = np.zeros_like(phi)
        step[i] = 1e-6
        fd = -0.5 * (density.minus_two_loglik(eta, phi * np.exp(step), mu)
                     - density.minus_two_loglik(eta, phi * np.exp(-step), mu)) / 2e-6
        assert score[i] == pytest.approx(fd, rel=1e-6)


def test_dispersion_score_is_refused_without_a_dispersion():
    family, y, eta, w, phi = _data(Poisson, "log")
    density = ResponseDensity(y, family, w)
    with pytest.raises(ValueError, match="family"):
        density.dispersion_score(density.mean(eta)[0], phi)


@pytest.mark.parametrize(("family_class", "link", "v"), [
    (Gaussian, "identity", np.array([-0.7, 0.1, 1.3])),
    (Gamma, "log", np.array([-0.7, 0.1, 1.3])),
    (Gamma, "inverse", np.array([0.5, 1.0, 2.0])),
    (Gamma, "identity", np.array([0.5, 1.0, 2.0])),
    (Beta, "logit", np.array([-1.2, 0.2, 0.9])),
    (InverseGamma, "inverse", np.array([0.5, 1.0, 2.0])),
    (InverseGamma, "log", np.array([-0.7, 0.1, 1.3])),
])
def test_random_curvature_is_minus_the_second_derivative(family_class, link, v):
    family = family_class(link).as_random()
    lam = np.full(v.shape[0], 0.4)
    r = random_curvature(v, family, lam)
    h = 1e-4
    for j in range(v.shape[0]):
        def logf(t, j=j):
            return random_loglik(np.array([t]), family, lam[j : j + 1])
        fd = -(logf(v[j] + h) - 2.0 * logf(v[j]) + logf(v[j] - h)) / h**2
        assert r[j] == pytest.approx(fd, rel=1e-5)


@pytest.mark.parametrize("trials", [1, 7])
def test_binomial_loglik_is_the_sum_of_binomial_log_probabilities(trials):
    """log C(n, k) + k log mu + (n - k) log(1 - mu), summed: scipy's binom.logpmf."""
    rng = np.random.default_rng(3)
    n = rng.integers(1, trials + 1, 200).astype(float)
    mu = rng.uniform(1e-15, 1.0 - 1e-15, 200)
    y = rng.binomial(n.astype(int), 0.4) / n
    expected = np.sum(stats.binom.logpmf(np.round(n * y), n, mu))
    got = conditional_loglik(y, mu, response_family("binomial"), np.ones(200), n)
    assert got == pytest.approx(expected, rel=1e-13)


def test_bernoulli_loglik_is_minus_infinity_where_what_was_seen_is_impossible():
    """One trial each, a success at mu = 0: -inf without a warning (as xlogy's); the
    other observations' log-probabilities as scipy's."""
    y, mu = np.array([1.0, 0.0, 1.0]), np.array([0.0, 0.3, 0.9])
    family, ones = response_family("binomial"), np.ones(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert conditional_loglik(y, mu, family, ones, ones) == -np.inf
    expected = np.sum(stats.bernoulli.logpmf(y[1:], mu[1:]))
    got = conditional_loglik(y[1:], mu[1:], family, ones[1:], ones[1:])
    assert got == pytest.approx(expected, rel=1e-15)
