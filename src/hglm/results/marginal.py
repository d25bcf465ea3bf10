"""The fitted model of a marginal-likelihood estimator (:class:`MarginalResult`): exact
ML/REML of a linear mixed model, Laplace, adaptive Gauss-Hermite quadrature and
nAGQ = 0 fits of a GLMM, with lme4's verbs.

Presentation only: the estimator's result (``LMMFit`` or ``GLMMFit``, whose shared
interface is :class:`~.marginal_view.MarginalFit`) holds the estimates; this class names
them, derives the statistics lme4 reports (deviance, AIC, BIC, residuals, fitted values)
and hands itself to its summary, variance components, confidence intervals, simulation
and plots.

The verbs follow lme4 (``logLik``, ``deviance``, ``REMLcrit``, ``fixef``, ``vcov``,
``ranef(condVar = TRUE)``, ``VarCorr``, ``getME(, "theta")``, ``sigma``, ``isSingular``,
``fitted``, ``residuals``, ``predict``, ``simulate``, ``confint``) with two deliberate
differences, both documented on the members: ``deviance`` of a REML fit is the ML
deviance at the REML estimates (lme4 1.1 returns the REML criterion with a deprecation
warning and points to this value), and ``loglik`` of an adaptive-quadrature fit is the
true marginal log-likelihood (lme4's leaves out the binomial coefficients).
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from ..spec import ModelDesign, Names
from .base import MixedModelResult
from .confint import confidence_intervals
from .lme4_summary import LMMSummary
from .lmm_criteria import criterion, log_determinants
from .marginal_export import marginal_dict
from .marginal_plots import plot_marginal
from .marginal_view import MarginalFit
from .prediction import (
    mean_v,
    new_linear_predictor,
    random_part,
    re_form_population,
    term_slices,
)
from .simulate import simulate_responses
from .term_layout import (
    TermLayout,
    lme4_term_order,
    ranef_by_group,
    ranef_long,
    reorder_theta,
    term_covariances,
    term_layouts,
)
from .varcorr import varcorr_frame

Array = np.ndarray


class MarginalResult(MixedModelResult):
    """A mixed model fitted by maximising a (restricted) marginal likelihood.

    Parameters
    ----------
    fit : MarginalFit
        The estimator's result.
    names : Names
        Labels of the fixed effects, random effects and terms.
    design : ModelDesign, optional
        The formula layer's design (formula fits): grouping factors, levels and the
        encoding that ``predict`` applies to new data.
    formula : str, optional
        The model formula as the user wrote it (shown by ``print`` and ``summary``).

    Attributes
    ----------
    fixef, se_fixef : Series
        Fixed effects and their standard errors (lme4's ``fixef``, ``sqrt(diag(vcov))``).
    vcov : DataFrame
        The covariance matrix of the fixed effects (lme4's ``vcov``).
    theta : ndarray
        lme4's theta, in lme4's order of the terms: one per scalar term, sd(v_k) / sigma
        for families with a scale parameter, sd(v_k) for binomial and Poisson; for a
        vector-valued term the lower triangle of its relative Cholesky factor, column by
        column.
    term_order : ndarray of int
        lme4's order of the random terms (by decreasing number of levels, ties in formula
        order), which ``theta``, ``varcorr``, ``ranef`` and the reports follow.
    sigma : float
        The residual standard deviation (lme4's ``sigma``: sqrt(phi); 1 for binomial and
        Poisson).
    method : str
        "REML", "ML", "Laplace", "AGQ" or "nAGQ0".
    nAGQ : int
        Quadrature points per random effect (1: Laplace; 0: fixed effects in PIRLS).
    reml : bool
    converged, singular : bool
        The optimiser's verdict, and a theta below 1e-4 (lme4's ``isSingular``).
    message : str
        The optimiser's message.
    n_iter : int
        Evaluations of the objective.
    disp_coef : Series or None
        The residual-dispersion model's coefficients (on its link's scale), when it has
        one.
    """

    def __init__(self, fit: MarginalFit, names: Names, design: ModelDesign | None = None,
                 formula: str | None = None) -> None:
        self._fit = fit
        self.problem = fit.problem
        self.names = names
        self.design = design
        self.formula = formula
        self.method = fit.method
        self.nAGQ = int(fit.nAGQ)
        self.reml = bool(fit.reml)
        self.family = self.problem.family
        self.n_obs = int(self.problem.X.shape[0])
        self.term_order = lme4_term_order(self.problem)
        self.theta = reorder_theta(fit.theta, [t.n_theta for t in self.problem.terms],
                                   self.term_order)
        self.sigma = float(np.sqrt(fit.sigma2))
        self.converged = bool(fit.converged)
        self.singular = bool(fit.singular)
        self.message = str(fit.message)
        self.n_iter = int(fit.n_eval)

    # the tables are formed on first use (as HGLMResult's: the first labelled pandas
    # index of a process starts pyarrow, 4-5 MB, for string labels)

    @cached_property
    def fixef(self) -> pd.Series:
        """The fixed effects."""
        return pd.Series(self._fit.beta, index=pd.Index(self.names.fixed), name="fixef")

    @cached_property
    def vcov(self) -> pd.DataFrame:
        """The fixed effects' covariance."""
        index = self.fixef.index
        return pd.DataFrame(np.asarray(self._fit.vcov_beta, dtype=float), index=index,
                            columns=index)

    @cached_property
    def se_fixef(self) -> pd.Series:
        """Standard errors of the fixed effects."""
        return pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.fixef.index,
                         name="se_fixef")

    @cached_property
    def disp_coef(self) -> pd.Series | None:
        """The residual-dispersion model's coefficients, when it has one."""
        if self._fit.disp_coef is None:
            return None
        return pd.Series(np.asarray(self._fit.disp_coef, dtype=float),
                         index=pd.Index(self.names.disp or ["(Intercept)"]), name="disp_coef")

    # --- likelihood verbs ----------------------------------------------------------

    @property
    def loglik(self) -> float:
        """lme4's ``logLik``: the maximised log-likelihood, or for a REML fit the REML
        log-likelihood (-REMLcrit / 2).  For adaptive quadrature it is the true marginal
        log-likelihood with every normalising constant (lme4's ``logLik`` of an
        nAGQ > 1 binomial fit leaves out the binomial coefficients)."""
        return float(self._fit.loglik)

    @property
    def n_params(self) -> int:
        """Parameters counted by AIC and BIC: fixed effects, variance parameters and
        dispersion parameters (the ``df`` of lme4's ``logLik``)."""
        return int(self._fit.n_params)

    @property
    def df_resid(self) -> int:
        """lme4's ``df.residual``: nobs - n_params."""
        return self.n_obs - self.n_params

    @property
    def is_lmm(self) -> bool:
        """A linear mixed model: Gaussian identity response with Gaussian random effects
        and one residual variance."""
        return self.problem.is_linear and self._fit.disp_coef is None

    @property
    def reml_criterion(self) -> float:
        """lme4's ``REMLcrit``: the REML criterion (-2 REML log-likelihood) at the
        estimates; for an ML fit of an LMM, evaluated at the ML estimates."""
        if not self.is_lmm:
            raise ValueError("reml_criterion: is defined for linear mixed models only")
        return self._lmm_criterion(reml=True)

    @property
    def deviance(self) -> float:
        """lme4's ``deviance``.

        An LMM: -2 log-likelihood; for a REML fit the ML deviance at the REML estimates
        (lme4's ``deviance(fit, REML = FALSE)``, which lme4 1.1's deprecation warning
        recommends; the REML criterion is :attr:`reml_criterion`).  A GLMM: the sum of
        the squared deviance residuals at the conditional modes, lme4's "relative
        conditional" deviance; its summaries show -2 log-likelihood instead.
        """
        if self.is_lmm:
            return self._lmm_criterion(reml=False)
        return float(np.sum(self.residuals("deviance") ** 2))

    def _lmm_criterion(self, reml: bool) -> float:
        """The ML deviance or the REML criterion of an LMM at the fitted theta, from the
        fit's own pieces (:mod:`.lmm_criteria`): r^2 = sigma^2 dof and
        log|R_X|^2 = p log sigma^2 - log|vcov(beta)|."""
        fit = self._fit
        n, p = self.n_obs, len(self.fixef)
        dof = n - p if fit.reml else n
        r2 = fit.sigma2 * dof
        log_rx2 = p * np.log(fit.sigma2) - np.linalg.slogdet(fit.vcov_beta)[1]
        log_dets = log_determinants(fit.objective, r2, dof, log_rx2 if fit.reml else None)
        return criterion(log_dets, r2, n - p if reml else n, log_rx2 if reml else None)

    # --- random effects ------------------------------------------------------------

    def _layouts(self) -> list[TermLayout]:
        """Per term, in lme4's order: grouping factor, effects and level labels."""
        layouts = term_layouts(self.design, self.names, term_slices(self.problem.blocks))
        return [layouts[k] for k in self.term_order]

    @cached_property
    def ranef(self) -> pd.DataFrame:
        """The conditional modes with their conditional standard deviations, in the layout
        of R's ``as.data.frame(ranef(fit, condVar = TRUE))``: grpvar, term, grp, condval,
        condsd; per term, per effect (column), one row per level.

        Values are on the scale of v (for a Gamma random effect, log u).  A term with a
        known covariance is reported on its original (correlated) scale, without
        conditional SDs (NaN).  :attr:`ranef_by_group` is lme4's ``ranef(fit)``.
        """
        v, cond_var = self._fit.v, np.asarray(self._fit.cond_var, dtype=float)
        slices = term_slices(self.problem.blocks)
        parts = []
        for layout, k in zip(self._layouts(), self.term_order, strict=True):
            sl, transform = slices[k], self.problem.terms[k].transform
            value = v[sl] if transform is None else transform @ v[sl]
            sd = np.sqrt(cond_var[sl]) if transform is None else np.full(len(value), np.nan)
            parts.append(ranef_long(layout, value, sd))
        return pd.concat(parts, ignore_index=True)

    @property
    def ranef_by_group(self) -> dict[str, pd.DataFrame]:
        """lme4's ``ranef(fit)``: per grouping factor, a DataFrame indexed by its levels
        with one column per effect (``(Intercept)``, ``x``, ...)."""
        return ranef_by_group(self.ranef)

    @property
    def varcorr(self) -> pd.DataFrame:
        """The variance components in the layout of R's ``as.data.frame(VarCorr(fit))``:
        grp, var1, var2, vcov, sdcor (per term its variances, then for a vector-valued
        term its covariances with sdcor the correlation); the residual row (grp
        "Residual") for families with a scale parameter and no dispersion model."""
        layouts = self._layouts()
        residual = None
        if not self.family.fixed_dispersion and self._fit.disp_coef is None:
            residual = float(self._fit.sigma2)
        covariances = term_covariances(self._fit, self._fit.lam)
        return varcorr_frame([t.group for t in layouts], [t.effects for t in layouts],
                             [covariances[k] for k in self.term_order], residual)

    # --- fitted values, residuals, prediction --------------------------------------

    @cached_property
    def linear_predictor(self) -> Array:
        """X beta + Z v + offset at the conditional modes."""
        pb = self.problem
        return pb.X @ self._fit.beta + random_part(pb.blocks, self._fit.v) + pb.offset

    @property
    def fitted(self) -> Array:
        """Fitted means at the conditional modes (lme4's ``fitted``)."""
        return self.family.link.inverse(self.linear_predictor)

    def residuals(self, type: str | None = None, scaled: bool = False) -> Array:
        """lme4's ``residuals``.

        Parameters
        ----------
        type : {"response", "pearson", "deviance", "working"}, optional
            Default: "response" for an LMM, "deviance" for a GLMM (as lme4).
        scaled : bool
            Divide by the residual standard deviation (lme4's ``scaled = TRUE``): sigma,
            or sqrt(phi_i) of a dispersion model.

        Returns
        -------
        ndarray
        """
        pb, mu = self.problem, self.fitted
        kind = type or ("response" if self.is_lmm else "deviance")
        raw = pb.y - mu
        if kind == "response":
            out = raw
        elif kind == "pearson":
            out = raw * np.sqrt(pb.weights / self.family.variance(mu))
        elif kind == "deviance":
            out = np.sign(raw) * np.sqrt(pb.weights * self.family.unit_deviance(pb.y, mu))
        elif kind == "working":
            out = raw / self.family.link.mu_eta(self.linear_predictor)
        else:
            raise ValueError(
                f"type: must be 'response', 'pearson', 'deviance' or 'working', got {kind!r}"
            )
        return out / np.sqrt(self.dispersion()) if scaled else out

    @property
    def resid(self) -> Array:
        """The default residuals (:meth:`residuals`)."""
        return self.residuals()

    def residual_quantiles(self, probs: list[float]) -> Array:
        """Quantiles of the scaled Pearson residuals (the summary's "Scaled residuals")."""
        return np.quantile(self.residuals("pearson", scaled=True), probs)

    def predict(self, newdata: object | None = None, type: str = "link", *,
                re_form: object = None, offset: object | None = None) -> Array:
        """lme4's ``predict``.

        Parameters
        ----------
        newdata : DataFrame, optional
            New data for a formula fit (None: the fitted data).  Levels of a grouping
            factor not seen in fitting are predicted at the random effect's mean (lme4's
            ``allow.new.levels = TRUE``).
        type : {"link", "response"}
            The linear predictor (lme4's default) or the mean.
        re_form : None, "NA" or "~0"
            None includes the random effects; "NA" (or "~0", or NaN) predicts at the
            population level, the random effects at their mean (v = 0 for Gaussian,
            Gamma-log and Beta-logit ones), and ``newdata`` needs no grouping columns.
        offset : array-like, optional
            Offset of the new rows (default: the formula's ``offset()`` terms, else 0).

        Returns
        -------
        ndarray
        """
        if type not in ("link", "response"):
            raise ValueError(f"type: must be 'link' or 'response', got {type!r}")
        population = re_form_population(re_form)
        if newdata is None:
            pb = self.problem
            eta = self.linear_predictor
            if population:
                eta = pb.X @ self._fit.beta + pb.offset + random_part(pb.blocks, mean_v(pb))
        else:
            if self.design is None:
                raise ValueError("newdata: needs a formula fit (lmer, glmer, hglm2)")
            eta = new_linear_predictor(self.problem, self.design, self._fit.beta,
                                       self._fit.v, newdata, population, offset)
        return eta if type == "link" else self.family.link.inverse(eta)

    def simulate(self, nsim: int = 1, seed: int | None = None) -> pd.DataFrame:
        """lme4's ``simulate``: responses drawn from the fitted model with new random
        effects (``use.u = FALSE``).

        Parameters
        ----------
        nsim : int
            Number of simulated responses.
        seed : int, optional
            Seed of numpy's random generator.

        Returns
        -------
        DataFrame
            n rows, columns ``sim_1``, ..., on the response's scale (proportions for a
            binomial response with trials as weights).
        """
        return simulate_responses(self.problem, self._fit.beta, self._fit.lam,
                                  self.dispersion(), nsim, seed)

    def dispersion(self) -> Array:
        """The residual dispersion phi of each observation (before prior weights): 1 for
        binomial and Poisson, sigma^2, or the dispersion model's fitted values."""
        pb, fit = self.problem, self._fit
        if self.family.fixed_dispersion:
            return np.ones(self.n_obs)
        if fit.disp_coef is None:
            return np.full(self.n_obs, float(fit.sigma2))
        x_disp = np.ones((self.n_obs, 1)) if pb.x_disp is None else pb.x_disp
        return pb.link_disp.inverse(x_disp @ np.asarray(fit.disp_coef, dtype=float))

    def confint(self, method: str = "profile", level: float = 0.95,
                signames: bool = True) -> pd.DataFrame:
        """lme4's ``confint``: intervals for the standard deviations and the fixed
        effects (see :func:`hglm.results.confint.confidence_intervals`)."""
        return confidence_intervals(self, self._fit, method, level, signames)

    # --- presentation --------------------------------------------------------------

    def summary(self) -> LMMSummary:
        """lme4's ``summary``: ``str()`` is its report, ``tables`` its DataFrames."""
        return LMMSummary(self)

    def __repr__(self) -> str:
        return LMMSummary(self).short()

    def plot(self, path: str | os.PathLike[str] | None = None) -> list:
        """Residuals against fitted values and the conditional modes against normal
        quantiles (see :func:`hglm.results.marginal_plots.plot_marginal`)."""
        return plot_marginal(self, path)

    def to_dict(self) -> dict[str, Any]:
        """Every estimate as JSON-safe Python objects (see
        :func:`hglm.results.marginal_export.marginal_dict`)."""
        return marginal_dict(self)
