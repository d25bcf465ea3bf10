"""Distribution families for the response and for the random effects.

A user names a family with a class (``hglm.Binomial(link="probit")``) or a lower-case
string (``"binomial"``).  The same class may serve in two roles with different
defaults: ``Gamma()`` is a response family with R's inverse link, and a random-effect
family with the log link (DESIGN.md, "The model").  The engine works with the resolved
:class:`ResponseFamily` and :class:`RandomFamily`, which are vectorized.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from scipy import special

from .links import Link, get_link

Array = np.ndarray


def _xlogy_ratio(y: Array, mu: Array) -> Array:
    """y * log(y / mu), with 0 * log(0) = 0."""
    return special.xlogy(y, y / mu)


# --- unit deviances and variance functions of the response families -----------------


def _gaussian_dev(y: Array, mu: Array) -> Array:
    return (y - mu) ** 2


def _binomial_dev(y: Array, mu: Array) -> Array:
    return 2.0 * (_xlogy_ratio(y, mu) + _xlogy_ratio(1.0 - y, 1.0 - mu))


def _poisson_dev(y: Array, mu: Array) -> Array:
    return 2.0 * (_xlogy_ratio(y, mu) - (y - mu))


def _gamma_dev(y: Array, mu: Array) -> Array:
    return 2.0 * (-np.log(y / mu) + (y - mu) / mu)


def _inverse_gaussian_dev(y: Array, mu: Array) -> Array:
    return (y - mu) ** 2 / (y * mu**2)


# module-level functions, not lambdas: a fitted model holding its families pickles


def _identity(x: Array) -> Array:
    return x


def _square(x: Array) -> Array:
    return x**2


def _twice(x: Array) -> Array:
    return 2.0 * x


def _cube(x: Array) -> Array:
    return x**3


def _thrice_square(x: Array) -> Array:
    return 3.0 * x**2


def _binomial_variance(mu: Array) -> Array:
    return mu * (1.0 - mu)


def _binomial_dvariance(mu: Array) -> Array:
    return 1.0 - 2.0 * mu


def _mustart_y(y: Array, w: Array) -> Array:
    return y.astype(float)


def _binomial_mustart(y: Array, w: Array) -> Array:
    return (w * y + 0.5) / (w + 1.0)


def _poisson_mustart(y: Array, w: Array) -> Array:
    return y + 0.1


def _check_real(y: Array) -> str | None:
    return None if np.all(np.isfinite(y)) else "must be finite"


def _check_unit_interval(y: Array) -> str | None:
    if np.any((y < 0) | (y > 1)):
        return "must lie in [0, 1] for the binomial family (proportions with weights=n)"
    return None


def _check_nonnegative(y: Array) -> str | None:
    return "must be non-negative for the poisson family" if np.any(y < 0) else None


@dataclass(frozen=True)
class _CheckPositive:
    """The support check of a positive response (a class, not a closure: it pickles)."""

    name: str

    def __call__(self, y: Array) -> str | None:
        return f"must be positive for the {self.name} family" if np.any(y <= 0) else None


@dataclass(frozen=True)
class ResponseFamily:
    """A response family with its link, resolved for the engine.

    Attributes
    ----------
    name : str
        R's family name ("gaussian", "binomial", "poisson", "Gamma", "inverse.gaussian").
    link : Link
    variance : callable
        V(mu).
    dvariance : callable
        V'(mu), used by the EQL1 correction.
    unit_deviance : callable
        d(y, mu) without prior weights.
    support_error : callable
        Returns a message when y is outside the support, else None.
    mustart : callable
        Starting means (y, weights) -> mu, as in R's family initialisation.
    fixed_dispersion : bool
        True for binomial and Poisson (dispersion 1 in the true model).
    """

    name: str
    link: Link
    variance: Callable[[Array], Array]
    dvariance: Callable[[Array], Array]
    unit_deviance: Callable[[Array, Array], Array]
    support_error: Callable[[Array], str | None]
    mustart: Callable[[Array, Array], Array]
    fixed_dispersion: bool = False

    def clip_mu(self, mu: Array) -> Array:
        """Keep means inside the family's parameter space."""
        if self.name == "binomial":
            return np.clip(mu, 1e-15, 1.0 - 1e-15)
        if self.name in ("poisson", "Gamma", "inverse.gaussian"):
            return np.maximum(mu, 1e-300)
        return mu


@dataclass(frozen=True)
class RandomFamily:
    """A random-effect family u ~ f_r(psi, lambda) with link v = v(u) (DESIGN.md table).

    Attributes
    ----------
    name : str
        "gaussian", "Gamma", "Beta", "inverse.gamma", "CAR" or "SAR".
    link : Link
        v = link(u).
    psi : float
        E(u), the pseudo-response of the augmented rows.
    variance : callable
        V_r(u).
    deviance : callable
        d(psi, u).
    spatial : object or None
        The CAR/SAR structure (eigen-rotation) for spatial families, else None.
    """

    name: str
    link: Link
    psi: float
    variance: Callable[[Array], Array]
    deviance: Callable[[Array], Array]
    spatial: object | None = field(default=None, compare=False)

    @property
    def is_gaussian(self) -> bool:
        return self.variance is _unit_variance and self.link.name == "identity"


def _unit_variance(u: Array) -> Array:
    return np.ones_like(u)


def _gamma_random_dev(u: Array) -> Array:
    return -2.0 * (np.log(u) + 1.0 - u)


def _inverse_gamma_random_dev(u: Array) -> Array:
    return -2.0 * (np.log(1.0 / u) - (1.0 - u) / u)


def _beta_dev(u: Array) -> Array:
    psi = 0.5
    return 2.0 * (psi * np.log(psi / u) + (1.0 - psi) * np.log((1.0 - psi) / (1.0 - u)))


# --- user-facing family classes -----------------------------------------------------


class Family:
    """Base class of the user-facing families.

    Parameters
    ----------
    link : str, optional
        R's link name; the default depends on the role (response or random effect).
    """

    name: ClassVar[str]
    response_links: ClassVar[tuple[str, ...]] = ()
    random_links: ClassVar[tuple[str, ...]] = ()

    def __init__(self, link: str | None = None) -> None:
        if link is not None and not isinstance(link, str):
            raise ValueError(f"link: expected a link name, got {link!r}")
        self.link = link

    def __repr__(self) -> str:
        return f"{type(self).__name__}(link={self.link!r})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.link == other.link  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.link))

    def _resolve_link(self, allowed: tuple[str, ...], role: str, argument: str) -> Link:
        if not allowed:
            raise ValueError(f"{argument}: {type(self).__name__} cannot be used as a {role} family")
        name = allowed[0] if self.link is None else self.link
        if name not in allowed:
            raise ValueError(
                f"{argument}: link {name!r} is not available for {type(self).__name__} "
                f"as a {role} family; choose one of {list(allowed)}"
            )
        return get_link(name, argument)

    def as_response(self, argument: str = "family") -> ResponseFamily:
        """Resolve this family as the response family."""
        raise ValueError(f"{argument}: {type(self).__name__} cannot be used as a response family")

    def as_random(self, argument: str = "rand_family") -> RandomFamily:
        """Resolve this family as a random-effect family."""
        raise ValueError(
            f"{argument}: {type(self).__name__} cannot be used as a random-effect family"
        )


class Gaussian(Family):
    """Gaussian (normal) family: response or random effect."""

    name = "gaussian"
    response_links = ("identity", "log", "inverse")
    random_links = ("identity",)

    def as_response(self, argument: str = "family") -> ResponseFamily:
        return ResponseFamily(
            "gaussian",
            self._resolve_link(self.response_links, "response", argument),
            _unit_variance,
            np.zeros_like,
            _gaussian_dev,
            _check_real,
            _mustart_y,
        )

    def as_random(self, argument: str = "rand_family") -> RandomFamily:
        link = self._resolve_link(self.random_links, "random-effect", argument)
        return RandomFamily("gaussian", link, 0.0, _unit_variance, _square)


class Binomial(Family):
    """Binomial family (0/1 or proportions r/n with prior weights n)."""

    name = "binomial"
    response_links = ("logit", "probit", "cloglog")

    def as_response(self, argument: str = "family") -> ResponseFamily:
        return ResponseFamily(
            "binomial",
            self._resolve_link(self.response_links, "response", argument),
            _binomial_variance,
            _binomial_dvariance,
            _binomial_dev,
            _check_unit_interval,
            _binomial_mustart,
            fixed_dispersion=True,
        )


class Poisson(Family):
    """Poisson family for counts."""

    name = "poisson"
    response_links = ("log", "identity", "sqrt")

    def as_response(self, argument: str = "family") -> ResponseFamily:
        return ResponseFamily(
            "poisson",
            self._resolve_link(self.response_links, "response", argument),
            _identity,
            np.ones_like,
            _poisson_dev,
            _check_nonnegative,
            _poisson_mustart,
            fixed_dispersion=True,
        )


class Gamma(Family):
    """Gamma family: response (default link inverse) or random effect (default log)."""

    name = "Gamma"
    response_links = ("inverse", "log", "identity")
    random_links = ("log", "inverse", "identity")

    def as_response(self, argument: str = "family") -> ResponseFamily:
        return ResponseFamily(
            "Gamma",
            self._resolve_link(self.response_links, "response", argument),
            _square,
            _twice,
            _gamma_dev,
            _CheckPositive("Gamma"),
            _mustart_y,
        )

    def as_random(self, argument: str = "rand_family") -> RandomFamily:
        link = self._resolve_link(self.random_links, "random-effect", argument)
        return RandomFamily("Gamma", link, 1.0, _identity, _gamma_random_dev)


class InverseGaussian(Family):
    """Inverse Gaussian response family."""

    name = "inverse.gaussian"
    response_links = ("1/mu^2", "inverse", "log", "identity")

    def as_response(self, argument: str = "family") -> ResponseFamily:
        return ResponseFamily(
            "inverse.gaussian",
            self._resolve_link(self.response_links, "response", argument),
            _cube,
            _thrice_square,
            _inverse_gaussian_dev,
            _CheckPositive("inverse_gaussian"),
            _mustart_y,
        )


class Beta(Family):
    """Beta random-effect family (conjugate to the binomial), logit link."""

    name = "Beta"
    random_links = ("logit",)

    def as_random(self, argument: str = "rand_family") -> RandomFamily:
        link = self._resolve_link(self.random_links, "random-effect", argument)
        return RandomFamily("Beta", link, 0.5, _binomial_variance, _beta_dev)


class InverseGamma(Family):
    """Inverse-Gamma random-effect family, inverse link."""

    name = "inverse.gamma"
    random_links = ("inverse", "log")

    def as_random(self, argument: str = "rand_family") -> RandomFamily:
        link = self._resolve_link(self.random_links, "random-effect", argument)
        return RandomFamily(
            "inverse.gamma",
            link,
            1.0,
            _square,
            _inverse_gamma_random_dev,
        )


_BY_NAME: dict[str, type[Family]] = {
    "gaussian": Gaussian,
    "normal": Gaussian,
    "binomial": Binomial,
    "poisson": Poisson,
    "gamma": Gamma,
    "inverse_gaussian": InverseGaussian,
    "inverse.gaussian": InverseGaussian,
    "beta": Beta,
    "inverse_gamma": InverseGamma,
    "inverse.gamma": InverseGamma,
}


def as_family(spec: str | Family, argument: str) -> Family:
    """Turn a family name or instance into a :class:`Family`.

    Raises
    ------
    ValueError
        For an unknown name, naming ``argument``.
    """
    if isinstance(spec, Family):
        return spec
    if isinstance(spec, type) and issubclass(spec, Family):
        return spec()
    if isinstance(spec, str) and spec.lower() in _BY_NAME:
        return _BY_NAME[spec.lower()]()
    raise ValueError(
        f"{argument}: unknown family {spec!r}; use one of "
        f"{sorted(k for k in _BY_NAME if '.' not in k)} or a family object such as "
        "hglm.Binomial(link='logit')"
    )


def response_family(spec: str | Family) -> ResponseFamily:
    """Resolve the ``family`` argument."""
    return as_family(spec, "family").as_response("family")


def random_family(spec: str | Family, argument: str = "rand_family") -> RandomFamily:
    """Resolve one entry of the ``rand_family`` argument."""
    return as_family(spec, argument).as_random(argument)
