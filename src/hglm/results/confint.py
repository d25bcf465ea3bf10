"""Confidence intervals of a marginal-likelihood fit (lme4's ``confint``): Wald intervals
for the fixed effects, and likelihood-profile intervals for the standard deviations, the
residual standard deviation and the fixed effects.

The profile follows lme4's ``profile``: the ML deviance (a REML fit is profiled by ML, as
lme4 refits it) minimised over all other parameters with the profiled one held fixed;
the interval is where the deviance exceeds its minimum by the chi-square(1) quantile.
For a linear mixed model the ML deviance at (theta, sigma, beta) is, with the pieces of
the profiled deviance at theta (Bates et al. 2015, eqs. 30-34),

    -2 l = log|L|^2 - sum log w + n log(2 pi sigma^2)
           + [r^2(theta) + (beta - beta^(theta))' (C^{-1}_xx)^{-1} (beta - beta^(theta))] / sigma^2,

so that holding sigma_k = sigma theta_k, sigma or beta_j fixed leaves a smooth problem
in theta (and sigma) alone.  A GLMM fit (Laplace or adaptive quadrature) is profiled on
its own deviance (:mod:`hglm.fit.glmm_profile`); nAGQ = 0, Laplace-REML, dispersion
models and vector-valued terms offer Wald intervals.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import optimize

from .._distributions import chi2_ppf, norm_ppf
from ..fit.glmm_profile import GLMMProfile
from ..fit.glmm_result import GLMMFit
from .lmm_criteria import criterion, log_determinants
from .marginal_view import MarginalView

Array = np.ndarray

_LOG_2PI = float(np.log(2.0 * np.pi))


def _labels(fit: MarginalView, signames: bool) -> list[str]:
    """lme4's names of the standard deviations: ``.sig01``, ..., ``.sigma`` or
    ``sd_(Intercept)|g``, ..., ``sigma``."""
    vc = fit.varcorr
    terms = vc[vc["grp"] != "Residual"]
    names = []
    for g, rows in terms[terms["var2"].isna()].groupby("grp", sort=False):
        effects = list(rows["var1"])
        # lme4's order within a term: theta's, the lower triangle column by column
        names += [f"sd_{effects[j]}|{g}" if i == j else f"cor_{effects[i]}.{effects[j]}|{g}"
                  for j in range(len(effects)) for i in range(j, len(effects))]
    out = [f".sig{k + 1:02d}" for k in range(len(names))] if signames else names
    if len(terms) < len(vc):
        out.append(".sigma" if signames else "sigma")
    return out


def _frame(rows: list[str], bounds: Array, level: float) -> pd.DataFrame:
    tail = 100.0 * (1.0 - level) / 2.0
    names = [f"{tail:.3g} %", f"{100.0 - tail:.3g} %"]
    return pd.DataFrame(bounds, index=pd.Index(rows), columns=names)


def confidence_intervals(fit: MarginalView, estimator_fit: object,
                         method: str = "profile", level: float = 0.95,
                         signames: bool = True) -> pd.DataFrame:
    """lme4's ``confint``.

    Parameters
    ----------
    fit : MarginalView
    estimator_fit : LMMFit or GLMMFit
        The estimator's result behind ``fit``, whose deviance the profile minimises: the
        profiled deviance of an LMM (``fit.lmm``), the Laplace or quadrature deviance of
        a GLMM (``fit.glmm_profile``).
    method : {"profile", "wald"}
        Likelihood profile (lme4's default), or Wald intervals: estimate -/+ z se for
        the fixed effects, NaN for the standard deviations (as lme4).
    level : float
        Confidence level in (0, 1).
    signames : bool
        lme4's names ``.sig01``, ``.sigma`` (True) or ``sd_(Intercept)|g``, ``sigma``.

    Returns
    -------
    DataFrame
        One row per standard deviation, then per fixed effect; columns the lower and
        upper bounds ("2.5 %", "97.5 %").
    """
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level: must lie strictly between 0 and 1, got {level!r}")
    sd_rows = _labels(fit, signames)
    rows = sd_rows + list(fit.fixef.index)
    kind = str(method).lower()
    if kind == "wald":
        z = norm_ppf(0.5 + level / 2.0)
        beta, se = fit.fixef.to_numpy(), fit.se_fixef.to_numpy()
        fixed = np.column_stack([beta - z * se, beta + z * se])
        bounds = np.vstack([np.full((len(sd_rows), 2), np.nan), fixed])
        return _frame(rows, bounds, level)
    if kind != "profile":
        raise ValueError(f"method: must be 'profile' or 'wald', got {method!r}")
    if any(t.n_theta > 1 for t in fit.problem.terms):
        raise ValueError("method: 'profile' intervals of a model with a vector-valued "
                         "random term (1 + x|g) are not available; use method='wald'")
    order = np.asarray(fit.term_order)
    profile = _profile(fit, estimator_fit, order)
    if profile is None or profile.n_parameters != len(rows):
        raise ValueError("method: 'profile' intervals are not available for this fit; "
                         "use method='wald'")
    cutoff = float(chi2_ppf(level, 1))
    # the standard deviations in lme4's order of the terms, then sigma and beta
    params = [*order, *range(profile.k, profile.n_parameters)]
    bounds = [profile_interval(profile, int(j), cutoff) for j in params]
    return _frame(rows, np.array(bounds), level)


def _profile(fit: MarginalView, estimator_fit: object,
             order: Array) -> LMMProfile | GLMMProfile | None:
    """The profile of the estimator's deviance behind ``fit`` (None where it has none)."""
    if isinstance(estimator_fit, GLMMFit):
        return GLMMProfile(estimator_fit)
    profiled = getattr(estimator_fit, "deviance", None)
    if fit.is_lmm and callable(getattr(profiled, "state", None)):
        return LMMProfile(profiled, fit.theta[np.argsort(order)])
    return None


class LMMProfile:
    """The ML deviance of a linear mixed model profiled over each parameter in turn:
    the standard deviations sigma theta_k, sigma, then the fixed effects.

    Parameters
    ----------
    profiled : ProfiledDeviance
        The estimator's profiled deviance (``fit.lmm``), ML or REML: only the pieces
        common to both are used.
    theta : ndarray
        Where to start the search for the ML optimum (the fit's theta).
    """

    def __init__(self, profiled: object, theta: Array) -> None:
        self._dev = profiled
        self.n, self.p = profiled.n, profiled.p
        self.k = len(profiled.sizes)
        self.n_parameters = self.k + 1 + self.p
        bounds = [(0.0, None)] * self.k
        # central differences: the estimates are read from this optimum, which forward
        # differences (error ~1e-8 in the gradient) leave a few 1e-6 off in flat directions
        self.theta_hat = _argmin(self.ml_deviance, np.asarray(theta, dtype=float), bounds,
                                 jac="3-point")
        self.minimum = self.ml_deviance(self.theta_hat)
        _, r2, beta, cxx = self.pieces(self.theta_hat)
        sigma_hat = np.sqrt(r2 / self.n)
        self.estimates = np.concatenate([sigma_hat * self.theta_hat, [sigma_hat], beta])
        self._se_beta = np.sqrt(np.diag(cxx) * r2 / self.n)

    def pieces(self, theta: Array) -> tuple[float, float, Array, Array]:
        """log|L|^2 - sum log w, r^2, beta^ and C^{-1}_xx at theta."""
        dev = self._dev
        st = dev.state(np.asarray(theta, dtype=float))
        _, cxx = dev.fixed_columns(st.factor)
        log_rx2 = -np.linalg.slogdet(cxx)[1] if dev.reml else None
        core = log_determinants(st.objective, st.r2, dev.dof, log_rx2)
        return core, float(st.r2), st.delta[: self.p].copy(), cxx

    def ml_deviance(self, theta: Array) -> float:
        """-2 log-likelihood at theta with beta and sigma at their optimum."""
        core, r2, _, _ = self.pieces(theta)
        return criterion(core, r2, self.n)

    def _full(self, theta: Array, sigma: float, r2_extra: float = 0.0) -> float:
        core, r2, _, _ = self.pieces(theta)
        return core + self.n * (_LOG_2PI + 2.0 * np.log(sigma)) + (r2 + r2_extra) / sigma**2

    def _at_sd(self, k: int, s: float) -> float:
        """min over sigma and the other thetas with sigma theta_k = s."""
        def objective(x: Array) -> float:
            sigma = np.exp(x[0])
            theta = np.insert(x[1:], k, s / sigma)
            return self._full(theta, sigma)

        sigma0 = self.estimates[self.k]
        x0 = np.concatenate([[np.log(sigma0)], np.delete(self.theta_hat, k)])
        return _minimum(objective, x0, [(None, None)] + [(0.0, None)] * (self.k - 1))

    def _at_sigma(self, s: float) -> float:
        """min over theta with sigma = s."""
        return _minimum(lambda t: self._full(t, s), self.theta_hat, [(0.0, None)] * self.k)

    def _at_beta(self, j: int, b: float) -> float:
        """min over theta (sigma profiled) with beta_j = b."""
        def objective(theta: Array) -> float:
            core, r2, beta, cxx = self.pieces(theta)
            r2b = r2 + (b - beta[j]) ** 2 / cxx[j, j]
            return criterion(core, r2b, self.n)

        return _minimum(objective, self.theta_hat, [(0.0, None)] * self.k)

    def deviance_at(self, j: int, value: float) -> float:
        """The profiled ML deviance with parameter j (standard deviations, sigma, fixed
        effects) held at ``value``."""
        if j < self.k:
            return self._at_sd(j, value)
        if j == self.k:
            return self._at_sigma(value)
        return self._at_beta(j - self.k - 1, value)

    def initial_step(self, j: int) -> float:
        """The first step of the search for a bound: the standard error of a fixed
        effect, a quarter of a positive sd or sigma."""
        if j > self.k:
            return float(self._se_beta[j - self.k - 1])
        estimate = abs(float(self.estimates[j]))
        return 0.25 * estimate if estimate > 0.0 else 1.0

    def lower_limit(self, j: int) -> float | None:
        """0 for the standard deviations and sigma, none for a fixed effect."""
        return 0.0 if j <= self.k else None


def profile_interval(profile: LMMProfile | GLMMProfile, j: int,
                     cutoff: float) -> tuple[float, float]:
    """Where the profiled deviance of parameter j rises by ``cutoff`` on either side of
    its estimate; a standard deviation whose profile stays below it down to 0 has lower
    bound 0."""
    x_hat = float(profile.estimates[j])

    def rise(x: float) -> float:
        return profile.deviance_at(j, x) - profile.minimum - cutoff

    step = profile.initial_step(j)
    return (_root(rise, x_hat, -step, profile.lower_limit(j)), _root(rise, x_hat, step, None))


_OPTIONS = {"ftol": 1e-14, "gtol": 1e-9, "maxiter": 500}


def _argmin(objective: Callable[[Array], float], x0: Array, bounds: list,
            jac: str = "2-point") -> Array:
    """The minimiser of a smooth objective within bounds (L-BFGS-B, tight tolerances,
    its gradient by the difference scheme ``jac``)."""
    if len(x0) == 0:
        return np.asarray(x0, dtype=float)
    return optimize.minimize(objective, x0, method="L-BFGS-B", jac=jac, bounds=bounds,
                             options=_OPTIONS).x


def _minimum(objective: Callable[[Array], float], x0: Array, bounds: list) -> float:
    return float(objective(_argmin(objective, x0, bounds)))


def _root(rise: Callable[[float], float], x_hat: float, step: float,
          limit: float | None) -> float:
    """The crossing of ``rise`` from x_hat in the direction of ``step`` (doubling the
    step until bracketed); ``limit`` when the profile stays below the cutoff up to it."""
    inner, outer = x_hat, x_hat + step
    for _ in range(60):
        if limit is not None and outer <= limit:
            if rise(limit) < 0.0:
                return limit
            outer = limit
        if rise(outer) > 0.0:
            return float(optimize.brentq(rise, min(inner, outer), max(inner, outer),
                                         xtol=1e-10, rtol=1e-10))
        inner, step = outer, 2.0 * step
        outer = inner + step
    raise ValueError("confint: the likelihood profile does not reach the cutoff")
