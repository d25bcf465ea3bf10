"""The unit functions of the families: deviances, variance functions and their
derivatives, starting means and support checks.

Module-level functions (and a small class for the parametrized check), not lambdas, so
that a family, and every fitted model holding one, pickles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

Array = np.ndarray


def xlogy_ratio(y: Array, mu: Array) -> Array:
    """y * log(y / mu), with 0 * log(0) = 0."""
    return special.xlogy(y, y / mu)


# --- unit deviances and variance functions of the response families -----------------


def gaussian_dev(y: Array, mu: Array) -> Array:
    return (y - mu) ** 2


def binomial_dev(y: Array, mu: Array) -> Array:
    if _binary(y):  # -2 log of the probability of what was seen: one log, no xlogy
        return -2.0 * np.log(np.where(y > 0.5, mu, 1.0 - mu))
    return 2.0 * (xlogy_ratio(y, mu) + xlogy_ratio(1.0 - y, 1.0 - mu))


def _binary(y: Array) -> bool:
    """Whether every y is 0 or 1 (a test ten times cheaper than the xlogy it saves)."""
    return bool(np.all((y == 0.0) | (y == 1.0)))


def poisson_dev(y: Array, mu: Array) -> Array:
    return 2.0 * (xlogy_ratio(y, mu) - (y - mu))


def gamma_dev(y: Array, mu: Array) -> Array:
    return 2.0 * (-np.log(y / mu) + (y - mu) / mu)


def inverse_gaussian_dev(y: Array, mu: Array) -> Array:
    return (y - mu) ** 2 / (y * mu**2)


# module-level functions, not lambdas: a fitted model holding its families pickles


def identity(x: Array) -> Array:
    return x


def square(x: Array) -> Array:
    return x**2


def twice(x: Array) -> Array:
    return 2.0 * x


def cube(x: Array) -> Array:
    return x**3


def thrice_square(x: Array) -> Array:
    return 3.0 * x**2


def binomial_variance(mu: Array) -> Array:
    return mu * (1.0 - mu)


def binomial_dvariance(mu: Array) -> Array:
    return 1.0 - 2.0 * mu


def mustart_y(y: Array, w: Array) -> Array:
    return y.astype(float)


def binomial_mustart(y: Array, w: Array) -> Array:
    return (w * y + 0.5) / (w + 1.0)


def poisson_mustart(y: Array, w: Array) -> Array:
    return y + 0.1


def check_real(y: Array) -> str | None:
    return None if np.all(np.isfinite(y)) else "must be finite"


def check_unit_interval(y: Array) -> str | None:
    if np.any((y < 0) | (y > 1)):
        return "must lie in [0, 1] for the binomial family (proportions with weights=n)"
    return None


def check_nonnegative(y: Array) -> str | None:
    return "must be non-negative for the poisson family" if np.any(y < 0) else None


@dataclass(frozen=True)
class CheckPositive:
    """The support check of a positive response (a class, not a closure: it pickles)."""

    name: str

    def __call__(self, y: Array) -> str | None:
        return f"must be positive for the {self.name} family" if np.any(y <= 0) else None


def unit_variance(u: Array) -> Array:
    return np.ones_like(u)


def gamma_random_dev(u: Array) -> Array:
    return -2.0 * (np.log(u) + 1.0 - u)


def inverse_gamma_random_dev(u: Array) -> Array:
    return -2.0 * (np.log(1.0 / u) - (1.0 - u) / u)


def beta_dev(u: Array) -> Array:
    psi = 0.5
    return 2.0 * (psi * np.log(psi / u) + (1.0 - psi) * np.log((1.0 - psi) / (1.0 - u)))
