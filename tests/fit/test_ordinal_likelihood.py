"""Per-observation ordinal likelihood pieces (hglm.fit.ordinal_likelihood): derivatives
against central differences, probabilities against the log-likelihood."""

from __future__ import annotations

import numpy as np
import pytest

from hglm.fit.ordinal_likelihood import (
    category_probabilities,
    interval,
    interval_derivatives,
    observation_likelihood,
    shift_likelihood,
    shift_loglik,
)
from hglm.spec.ordinal import latent_distribution

RNG = np.random.default_rng(7)
ETA = np.sort(RNG.normal(scale=2.0, size=(12, 3)), axis=1)
CODES = np.arange(12) % 4


def _category_bounds() -> tuple[np.ndarray, np.ndarray]:
    """The upper and lower linear predictors of each row's category (inf past the ends)."""
    rows = np.arange(12)
    u = np.where(CODES < 3, ETA[rows, np.minimum(CODES, 2)], np.inf)
    lo = np.where(CODES > 0, ETA[rows, np.maximum(CODES - 1, 0)], -np.inf)
    return u, lo


def _dists():
    return [latent_distribution(n) for n in ("logit", "probit", "cloglog")] + [None]


@pytest.mark.parametrize("dist", _dists(), ids=["logit", "probit", "cloglog", "baseline"])
def test_derivatives_match_central_differences(dist) -> None:
    obs = observation_likelihood(ETA, CODES, dist)
    h = 1e-6
    for r in range(3):
        e = np.zeros(3)
        e[r] = h
        up = observation_likelihood(ETA + e, CODES, dist)
        down = observation_likelihood(ETA - e, CODES, dist)
        np.testing.assert_allclose(obs.gradient[:, r], (up.loglik - down.loglik) / (2 * h),
                                   rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(obs.hessian[:, :, r],
                                   (up.gradient - down.gradient) / (2 * h), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dist", _dists(), ids=["logit", "probit", "cloglog", "baseline"])
def test_probabilities_sum_to_one_and_give_the_loglik(dist) -> None:
    probs = category_probabilities(ETA, dist)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
    obs = observation_likelihood(ETA, CODES, dist)
    np.testing.assert_allclose(np.exp(obs.loglik), probs[np.arange(12), CODES], rtol=1e-10)


def test_upper_tail_keeps_its_digits() -> None:
    dist = latent_distribution("logit")
    obs = observation_likelihood(np.array([[40.0, 41.0]]), np.array([1]), dist)
    exact = np.log(np.exp(-40.0) - np.exp(-41.0))  # 1 - F(l) - (1 - F(u)), to first order
    assert obs.loglik[0] == pytest.approx(exact, rel=1e-9)


@pytest.mark.parametrize("name", ["logit", "probit", "cloglog"])
def test_shift_derivatives_are_the_sums_of_the_predictor_ones(name) -> None:
    dist = latent_distribution(name)
    u, lo = _category_bounds()
    loglik, first, second = shift_likelihood(u, lo, dist)
    obs = observation_likelihood(ETA, CODES, dist)
    np.testing.assert_allclose(loglik, obs.loglik, rtol=1e-12)
    np.testing.assert_allclose(shift_loglik(u, lo, dist), obs.loglik, rtol=1e-12)
    np.testing.assert_allclose(first, obs.gradient.sum(axis=1), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(second, obs.hessian.sum(axis=(1, 2)), rtol=1e-9, atol=1e-14)


def test_interval_bounds_pick_the_category_cut_points() -> None:
    alpha = np.array([-1.0, 0.5, 2.0])
    iv = interval(np.broadcast_to(np.eye(3), (12, 3, 3)), CODES)
    u, lo = iv.bounds(alpha, shift=0.25)
    expected_u = np.append(alpha, np.inf)[CODES] + 0.25
    expected_lo = np.append(-np.inf, alpha)[CODES] + 0.25
    np.testing.assert_array_equal(u, expected_u)
    np.testing.assert_array_equal(lo, expected_lo)


@pytest.mark.parametrize("name", ["logit", "probit", "cloglog"])
def test_interval_derivatives_match_differences(name) -> None:
    dist = latent_distribution(name)
    u, lo = _category_bounds()
    d, h = interval_derivatives(u, lo, dist), 1e-5
    du_plus, du_minus = interval_derivatives(u + h, lo, dist), interval_derivatives(u - h, lo, dist)
    dl_plus, dl_minus = interval_derivatives(u, lo + h, dist), interval_derivatives(u, lo - h, dist)

    def diff(plus, minus, field):
        return (getattr(plus, field) - getattr(minus, field)) / (2 * h)

    for field, (plus, minus, source) in {
        "u": (du_plus, du_minus, "loglik"), "l": (dl_plus, dl_minus, "loglik"),
        "uu": (du_plus, du_minus, "u"), "ul": (dl_plus, dl_minus, "u"),
        "ll": (dl_plus, dl_minus, "l"), "uuu": (du_plus, du_minus, "uu"),
        "uul": (dl_plus, dl_minus, "uu"), "ull": (dl_plus, dl_minus, "ul"),
        "lll": (dl_plus, dl_minus, "ll"),
    }.items():
        np.testing.assert_allclose(getattr(d, field), diff(plus, minus, source),
                                   rtol=1e-5, atol=1e-8, err_msg=field)
    first, second, _ = d.shift
    loglik, g, hh = shift_likelihood(u, lo, dist)
    np.testing.assert_allclose(first, g, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(second, hh, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["logit", "probit", "cloglog"])
def test_second_derivative_of_the_density(name) -> None:
    dist, x, h = latent_distribution(name), np.linspace(-3, 2, 11), 1e-5
    slope = lambda z: dist.pieces(z)[3]  # noqa: E731 (f', from pieces)
    np.testing.assert_allclose(dist.d2pdf(x), (slope(x + h) - slope(x - h)) / (2 * h),
                               rtol=1e-5, atol=1e-9)
