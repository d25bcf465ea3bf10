"""The log-densities that the marginal-likelihood estimators differentiate: the response
given its linear predictor, and the random effects on the scale of v.

For observation i with prior weight w_i and dispersion phi_i, l_i(eta) = log f(y_i | eta)
= -w_i d(y_i, mu_i) / (2 phi_i) + c_i(phi_i), where d is the family's unit deviance and
c_i does not depend on mu (the saturated log-likelihood for binomial and Poisson).  The
Laplace approximation needs its score s = dl/deta, its observed curvature W = -d^2l/deta^2
and, for the gradient of log|D|, W' = dW/deta.  With mu' = dmu/deta, V = V(mu) and
k = mu'/V (so that s = w (y - mu) k / phi),

    W  = (w / phi) (mu' k - (y - mu) k'),
    W' = (w / phi) (mu'' k + 2 mu' k' - (y - mu) k'').

For a canonical link k is constant, W is the Fisher weight w mu'^2 / (phi V) and
W' = (w / phi) mu'' k; otherwise W' is taken by central differences of W in eta.
mu'' = -g''(mu) mu'^3 comes from the link's second derivative.  With the canonical link
and dispersion 1 (binomial logit, Poisson log) the value is taken in the natural form
l = sum w (y eta - b(eta)) + K, b the cumulant function, which costs one transcendental
function per observation where the deviance costs four.

The random effects' curvature r = -d^2 log f_v(v) / dv^2 (f_v with the Jacobian of
u = u(v), as :func:`.likelihood.random_loglik`) is 1 / lambda for Gaussian effects; for the
conjugate families it is the derivative chain f_u'' u'^2 + f_u' u'' + (log|u'|)''.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import special

from ..spec import RandomFamily, ResponseFamily
from .likelihood import conditional_loglik

Array = np.ndarray

# (family, link) pairs whose link is the canonical one: mu' / V is a constant
CANONICAL = {
    ("binomial", "logit"),
    ("poisson", "log"),
    ("gaussian", "identity"),
    ("Gamma", "inverse"),
    ("inverse.gaussian", "1/mu^2"),
}

# relative step of the central difference of W in eta (non-canonical links)
_DW_STEP = 1e-5


def _softplus(eta: Array) -> Array:
    """log(1 + e^eta), without overflow."""
    return np.maximum(eta, 0.0) + np.log1p(np.exp(-np.abs(eta)))


# the cumulant function b(eta) of the canonical links whose dispersion is 1
CUMULANTS = {("binomial", "logit"): _softplus, ("poisson", "log"): np.exp}


class ResponseDerivatives(NamedTuple):
    """The response's log-density at eta: the mean, the score s, the observed curvature W
    and its derivative W' (all per observation)."""

    mu: Array
    score: Array
    curvature: Array
    dcurvature: Array


class ResponseDensity:
    """log f(y | eta) of a response family with prior weights and its derivatives in eta.

    Parameters
    ----------
    y : ndarray
        The response (proportions for a binomial response with weights = trials).
    family : ResponseFamily
    weights : ndarray
        Prior weights.
    fixed_phi : ndarray, optional
        The dispersion when it is not estimated (binomial, Poisson, ``fix_disp``): the
        constant sum c_i(phi) is then computed once.
    """

    def __init__(
        self, y: Array, family: ResponseFamily, weights: Array, fixed_phi: Array | None = None
    ) -> None:
        self.y = y
        self.family = family
        self.weights = weights
        self.canonical = (family.name, family.link.name) in CANONICAL
        self.fixed_phi = fixed_phi
        self._constant: float | None = None  # at fixed_phi, formed when first asked for
        self.cumulant = CUMULANTS.get((family.name, family.link.name))
        self._natural = None
        if self.cumulant is not None and fixed_phi is not None and np.all(fixed_phi == 1.0):
            # log f less its natural part w (y eta - b(eta)), which depends on neither
            mu0 = family.mustart(y, weights)
            eta0 = family.link.link(mu0)
            self._natural = conditional_loglik(y, mu0, family, fixed_phi, weights) - float(
                np.sum(weights * (y * eta0 - self.cumulant(eta0))))

    def constant(self, phi: Array) -> float:
        """sum c_i(phi_i): the log-likelihood less its deviance part, which does not
        depend on mu (with the dispersion fixed, at ``fixed_phi`` whatever ``phi``)."""
        if self.fixed_phi is None:
            return self._constant_at(phi)
        if self._constant is None:
            self._constant = self._constant_at(self.fixed_phi)
        return self._constant

    def _constant_at(self, phi: Array) -> float:
        """:meth:`constant` evaluated at the family's starting means."""
        mu = self.family.mustart(self.y, self.weights)
        ll = conditional_loglik(self.y, mu, self.family, phi, self.weights)
        return ll + 0.5 * float(np.sum(self.deviances(mu, phi)))

    def deviances(self, mu: Array, phi: Array) -> Array:
        """w_i d(y_i, mu_i) / phi_i: -2 l_i up to the constant."""
        return self.weights * self.family.unit_deviance(self.y, mu) / phi

    def minus_two_loglik(self, eta: Array, phi: Array, mu: Array | None = None) -> float:
        """-2 log f(y | eta) with every constant (``mu`` = g^{-1}(eta) when known; with
        the dispersion fixed, at ``fixed_phi`` whatever ``phi``)."""
        if self._natural is not None:
            ll = float(np.sum(self.weights * (self.y * eta - self.cumulant(eta))))
            return -2.0 * (ll + self._natural)
        mu = self.mean(eta)[0] if mu is None else mu
        if self.fixed_phi is not None:
            return (float(np.sum(self.deviances(mu, self.fixed_phi)))
                    - 2.0 * self.constant(self.fixed_phi))
        return -2.0 * conditional_loglik(self.y, mu, self.family, phi, self.weights)

    def mean(self, eta: Array) -> tuple[Array, Array]:
        """mu = g^{-1}(eta) (kept inside the family's space) and dmu/deta."""
        mu, mu_eta = self.family.link.inverse_and_mu_eta(eta)
        return self.family.clip_mu(mu), mu_eta

    def curvature(self, eta: Array, phi: Array) -> Array:
        """The observed curvature W alone at ``eta`` (offset included)."""
        mu, mu_eta = self.mean(eta)
        a = self.weights / phi
        if self.canonical:
            return a * self.family.fisher_weight(mu, mu_eta)
        return self._observed_curvature(mu, mu_eta, a)

    def score(self, eta: Array, phi: Array) -> Array:
        """d log f(y | eta) / d eta at ``eta`` (offset included)."""
        mu, mu_eta = self.mean(eta)
        return self._score(mu, mu_eta, self.weights / phi)[0]

    def _score(self, mu: Array, mu_eta: Array, a: Array) -> tuple[Array, Array | None]:
        """The score a (y - mu) k and k = mu' / V(mu) (None where it is 1, the logit's:
        :attr:`~hglm.spec.ResponseFamily.mean_derivative_is_variance`)."""
        if self.family.mean_derivative_is_variance:
            return a * (self.y - mu), None
        k = mu_eta / self.family.variance(mu)
        return a * (self.y - mu) * k, k

    def derivatives(self, eta: Array, phi: Array) -> ResponseDerivatives:
        """The mean, score, observed curvature and its derivative at ``eta`` (offset
        included)."""
        fam = self.family
        mu, mu_eta = self.mean(eta)
        a = self.weights / phi
        score, k = self._score(mu, mu_eta, a)
        if fam.mean_derivative_is_variance:  # k = 1: W = a mu' = a V(mu), W' = a V'(mu) mu'
            curvature = a * mu_eta
            return ResponseDerivatives(mu, score, curvature, curvature * fam.dvariance(mu))
        if self.canonical:
            mu2 = -fam.link.d2eta_dmu2(mu) * mu_eta**3
            return ResponseDerivatives(mu, score, a * mu_eta * k, a * mu2 * k)
        curvature = self._observed_curvature(mu, mu_eta, a)
        h = _DW_STEP * (1.0 + np.abs(eta))
        up = self._observed_curvature(*self.mean(eta + h), a)
        down = self._observed_curvature(*self.mean(eta - h), a)
        return ResponseDerivatives(mu, score, curvature, (up - down) / (2.0 * h))

    def _observed_curvature(self, mu: Array, mu_eta: Array, a: Array) -> Array:
        """W = a (mu'^2 / V - (y - mu) k') with k' = mu'' / V - mu'^2 V' / V^2."""
        fam = self.family
        var = fam.variance(mu)
        mu2 = -fam.link.d2eta_dmu2(mu) * mu_eta**3
        dk = mu2 / var - mu_eta**2 * fam.dvariance(mu) / var**2
        return a * (mu_eta**2 / var - (self.y - mu) * dk)

    def dispersion_score(self, mu: Array, phi: Array) -> Array:
        """dl_i / dlog phi_i: half the scaled deviance plus the derivative of c_i."""
        half_dev = 0.5 * self.deviances(mu, phi)
        name = self.family.name
        if name in ("gaussian", "inverse.gaussian"):
            return half_dev - 0.5
        if name == "Gamma":
            shape = self.weights / phi
            return half_dev - shape * (np.log(shape) - special.digamma(shape))
        raise ValueError(f"family: the {name} family has no dispersion to estimate")


def _log_density_derivatives(u: Array, family: RandomFamily, lam: Array) -> tuple[Array, Array]:
    """The first and second derivatives of log f_u(u; lambda) in u (no Jacobian)."""
    name = family.name
    if name == "Gamma":  # shape a = 1/lambda, rate a
        a = 1.0 / lam
        return (a - 1.0) / u - a, -(a - 1.0) / u**2
    if name == "Beta":  # Beta(psi / lambda, (1 - psi) / lambda)
        a, b = family.psi / lam, (1.0 - family.psi) / lam
        return (a - 1.0) / u - (b - 1.0) / (1.0 - u), -(a - 1.0) / u**2 - (b - 1.0) / (1.0 - u) ** 2
    if name == "inverse.gamma":  # shape 1 + 1/lambda, scale 1/lambda
        a, s = 1.0 + 1.0 / lam, 1.0 / lam
        return -(a + 1.0) / u + s / u**2, (a + 1.0) / u**2 - 2.0 * s / u**3
    raise ValueError(f"rand_family: no curvature for the {name} family")


def _log_jacobian_curvature(v: Array, u: Array, link_name: str) -> Array:
    """(log|du/dv|)'' of the random link: 0 for identity and log, 2/v^2 for the inverse
    (u = 1/v), -2u(1 - u) for the logit."""
    if link_name in ("identity", "log"):
        return np.zeros_like(v)
    if link_name == "inverse":
        return 2.0 / v**2
    if link_name == "logit":
        return -2.0 * u * (1.0 - u)
    raise ValueError(f"rand_family: no curvature for the {link_name} link")


def random_curvature(v: Array, family: RandomFamily, lam: Array) -> Array:
    """r = -d^2 log f_v(v; lambda) / dv^2 per effect (module docstring)."""
    if family.is_gaussian:
        return 1.0 / lam
    link = family.link
    u = link.inverse(v)
    du = link.mu_eta(v)
    d2u = -link.d2eta_dmu2(u) * du**3
    f1, f2 = _log_density_derivatives(u, family, lam)
    return -(f2 * du**2 + f1 * d2u + _log_jacobian_curvature(v, u, link.name))
