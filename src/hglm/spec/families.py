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

from .links import Link, get_link
from .unit_functions import (
    CheckPositive,
    beta_dev,
    binomial_dev,
    binomial_dvariance,
    binomial_mustart,
    binomial_variance,
    check_nonnegative,
    check_real,
    check_unit_interval,
    cube,
    gamma_dev,
    gamma_random_dev,
    gaussian_dev,
    identity,
    inverse_gamma_random_dev,
    inverse_gaussian_dev,
    mustart_y,
    poisson_dev,
    poisson_mustart,
    square,
    thrice_square,
    twice,
    unit_variance,
)

Array = np.ndarray


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

    @property
    def mean_derivative_is_variance(self) -> bool:
        """Whether dmu/deta is V(mu): the binomial's logit, whose dmu/deta and variance are
        mu (1 - mu) of the same mean (to the last bit where the mean is the link's inverse
        at eta: it keeps the means in [1e-13, 1 - 1e-13], eta clipped to +-30, where
        neither the floor of dmu/deta nor :meth:`clip_mu` binds)."""
        return self.name == "binomial" and self.link.name == "logit"

    def fisher_weight(self, mu: Array, mu_eta: Array) -> Array:
        """mu'^2 / V(mu), the IWLS weight of an observation with unit prior weight and
        dispersion (``mu`` the clipped mean, ``mu_eta`` = dmu/deta at it)."""
        if self.mean_derivative_is_variance:
            return mu_eta
        return mu_eta**2 / self.variance(mu)

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
    dvariance : callable
        V_r'(u), for the observed information of d(psi, u) in v (:attr:`canonical`).
    spatial : object or None
        The CAR/SAR structure (eigen-rotation) for spatial families, else None.
    """

    name: str
    link: Link
    psi: float
    variance: Callable[[Array], Array]
    deviance: Callable[[Array], Array]
    dvariance: Callable[[Array], Array]
    spatial: object | None = field(default=None, compare=False)

    @property
    def is_gaussian(self) -> bool:
        return self.variance is unit_variance and self.link.name == "identity"

    @property
    def canonical(self) -> bool:
        """Whether v is the canonical parameter of V_r (dv/du = 1 / V_r(u)): the observed
        information of d(psi, u) in v is then its expected information."""
        return self.is_gaussian or _CANONICAL_RANDOM_LINK.get(self.name) == self.link.name


# the random families' canonical links (the conjugate HGLMs of Lee & Nelder)
_CANONICAL_RANDOM_LINK = {"Gamma": "log", "Beta": "logit", "inverse.gamma": "inverse"}


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
            unit_variance,
            np.zeros_like,
            gaussian_dev,
            check_real,
            mustart_y,
        )

    def as_random(self, argument: str = "rand_family") -> RandomFamily:
        link = self._resolve_link(self.random_links, "random-effect", argument)
        return RandomFamily("gaussian", link, 0.0, unit_variance, square, np.zeros_like)


class Binomial(Family):
    """Binomial family (0/1 or proportions r/n with prior weights n)."""

    name = "binomial"
    response_links = ("logit", "probit", "cloglog")

    def as_response(self, argument: str = "family") -> ResponseFamily:
        return ResponseFamily(
            "binomial",
            self._resolve_link(self.response_links, "response", argument),
            binomial_variance,
            binomial_dvariance,
            binomial_dev,
            check_unit_interval,
            binomial_mustart,
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
            identity,
            np.ones_like,
            poisson_dev,
            check_nonnegative,
            poisson_mustart,
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
            square,
            twice,
            gamma_dev,
            CheckPositive("Gamma"),
            mustart_y,
        )

    def as_random(self, argument: str = "rand_family") -> RandomFamily:
        link = self._resolve_link(self.random_links, "random-effect", argument)
        return RandomFamily("Gamma", link, 1.0, identity, gamma_random_dev, np.ones_like)


class InverseGaussian(Family):
    """Inverse Gaussian response family."""

    name = "inverse.gaussian"
    response_links = ("1/mu^2", "inverse", "log", "identity")

    def as_response(self, argument: str = "family") -> ResponseFamily:
        return ResponseFamily(
            "inverse.gaussian",
            self._resolve_link(self.response_links, "response", argument),
            cube,
            thrice_square,
            inverse_gaussian_dev,
            CheckPositive("inverse_gaussian"),
            mustart_y,
        )


class Beta(Family):
    """Beta random-effect family (conjugate to the binomial), logit link."""

    name = "Beta"
    random_links = ("logit",)

    def as_random(self, argument: str = "rand_family") -> RandomFamily:
        link = self._resolve_link(self.random_links, "random-effect", argument)
        return RandomFamily("Beta", link, 0.5, binomial_variance, beta_dev, binomial_dvariance)


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
            square,
            inverse_gamma_random_dev,
            twice,
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
