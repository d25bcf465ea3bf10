"""The fitted HGLM (:class:`HGLMResult`): R's hglm components read from the EQL engine.

Presentation only: this module turns the engine's arrays into named pandas objects and
never computes estimates itself.  The result hands itself to its summary, plots and export
(modules that read it through :class:`~hglm.results.view.HGLMView`, not this class).
"""

from __future__ import annotations

import os
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import sparse

from .._distributions import t_sf
from ..fit import EngineFit, fit_likelihoods, glm_loglik
from ..spec import ModelDesign, Names
from .base import MixedModelResult
from .export import to_dict
from .lme4_summary import SINGULAR_NOTE
from .plots import plot_fit
from .prediction import linear_predictor, new_linear_predictor
from .summary import Summary
from .term_layout import term_layouts
from .varcorr import varcorr_frame
from .variances import marginal_vcov, ranef_variances

Array = np.ndarray


def _coef_frame(coef: Array, se: Array, index: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"estimate": coef, "std_error": se}, index=pd.Index(index))


class HGLMResult(MixedModelResult):
    """A fitted hierarchical GLM (API.md, "The fitted model"), the result of EQL.

    Attributes are those of API.md: ``fixef``, ``se_fixef``, ``ranef``, ``se_ranef``,
    ``var_fix``, ``var_ranef``, ``disp_coef``, ``rand_disp_coef``, ``n_iter``,
    ``converged``, ``df_resid``, ``hat_values``, ``deviances``, ``fitted``, ``resid``,
    ``disp_fitted``, ``likelihood``, ``car_rho``, ``car_tau``, ``sar_rho``, ``sar_tau``,
    ``vcov`` and ``disp_fit``; ``singular``: lme4's isSingular (a theta, the relative
    Cholesky factor's diagonal or a scalar term's relative standard deviation, below
    1e-4: a variance at 0 or a correlation at +-1; warned about for a vector-valued
    term).
    """

    def __init__(
        self,
        engine: EngineFit,
        names: Names,
        method: str = "EQL",
        calc_like: bool = False,
        vcovmat: bool = False,
    ) -> None:
        self._engine = engine
        self.names = names
        self.method = method
        pb, last = engine.problem, engine.last
        n, p = pb.X.shape
        self.family = pb.family
        self.rand_families = [t.family for t in pb.terms]
        self.n_obs = n
        # diag(C^-1); with the n-space solver (bigRR) its random-effect part, O(n^2 q), is
        # computed on first use of se_ranef, and so are the random rows of hat_values
        self._diag_inv = last.factor.diag_inverse()
        self.n_iter = engine.n_iter
        self.converged = engine.converged
        self.singular = engine.singular
        self.deviances = last.dev
        self.fitted = last.mu
        self.linear_predictor = last.eta + pb.offset
        self.df_resid = int(round(n - last.observation_leverage_sum))
        self.disp_fitted = engine.phi
        self.var_fix = _residual_variance(engine)
        self.var_ranef = _random_variances(engine)
        self.likelihood: dict[str, float] | None = (
            fit_likelihoods(engine).as_dict() if calc_like else None
        )
        self.car_rho, self.car_tau, self.sar_rho, self.sar_tau = _spatial_parameters(engine)
        self.vcov = marginal_vcov(engine) if vcovmat else None
        self.disp_fit: HGLMResult | None = None
        self.design: ModelDesign | None = None

    # the tables are formed on first use: a fit in a loop seldom reads them all, and the
    # first labelled pandas index of a process starts pyarrow (5 MB) for string labels

    @cached_property
    def fixef(self) -> pd.Series:
        """The fixed effects."""
        return pd.Series(self._engine.beta, index=pd.Index(self.names.fixed), name="fixef")

    @cached_property
    def se_fixef(self) -> pd.Series:
        """Standard errors of the fixed effects."""
        p = self._engine.problem.X.shape[1]
        return pd.Series(np.sqrt(self._diag_inv[:p]), index=self.fixef.index,
                         name="se_fixef")

    @cached_property
    def ranef(self) -> pd.Series:
        """The random effects u (on the scale of the random effects' family)."""
        return pd.Series(_random_u(self._engine), index=pd.Index(self.names.random),
                         name="ranef")

    @cached_property
    def disp_coef(self) -> pd.DataFrame | None:
        """R's SummVC1: the residual dispersion model's table (None when it was fixed)."""
        return _residual_dispersion_table(self._engine, self.names.disp)

    @cached_property
    def rand_disp_coef(self) -> list[pd.DataFrame | None]:
        """R's SummVC2: each random term's dispersion table (None for a vector term)."""
        return _random_dispersion_tables(self._engine, self.names.rand_disp)

    @cached_property
    def se_ranef(self) -> pd.Series:
        """Standard errors of the random effects (computed on first use)."""
        return pd.Series(
            np.sqrt(ranef_variances(self._engine, self._diag_inv)), index=self.ranef.index,
            name="se_ranef",
        )

    @cached_property
    def hat_values(self) -> Array:
        """Leverages of the n observations and the q random-effect rows (the random rows
        of a bigRR fit are computed on first use)."""
        return np.asarray(self._engine.last.hat)

    def predict(
        self,
        newdata: object | None = None,
        type: str = "response",
        *,
        X: object | None = None,
        Z: object | None = None,
        offset: object | None = None,
        unseen: str = "mean",
    ) -> Array:
        """Predictions of the mean model.

        Parameters
        ----------
        newdata : DataFrame, optional
            New data for a formula fit; the design is rebuilt from the stored formulas.
            Levels of a grouping factor not seen in fitting get the random-effect mean
            (``unseen="mean"``) or raise ValueError (``unseen="raise"``).
        type : {"response", "link"}
            Means, or the linear predictor (including the offset).
        X, Z : array-like, optional
            New designs for a matrix-interface fit (Z with the fitted model's columns).
        offset : array-like, optional
            Offset for the new rows (default: the formula's offset terms, else 0).

        Returns
        -------
        ndarray
        """
        if type not in ("response", "link"):
            raise ValueError(f"type: must be 'response' or 'link', got {type!r}")
        if newdata is None and X is None and Z is None:
            eta = self.linear_predictor
        else:
            eta = self._new_linear_predictor(newdata, X, Z, offset, unseen)
        return eta if type == "link" else self.family.link.inverse(eta)

    def _new_linear_predictor(
        self, newdata: object, X: object, Z: object, offset: object, unseen: str
    ) -> Array:
        """X beta + Z u (+ offset) of new rows: ``newdata`` of a formula fit, or the
        matrices X and Z of the matrix interface."""
        pb = self._engine.problem
        beta, v = self._engine.beta, self._engine.v
        if newdata is not None:
            if self.design is None:
                raise ValueError("newdata: needs a formula fit; pass X= and Z= instead")
            return new_linear_predictor(pb, self.design, beta, v, newdata, False, offset,
                                        unseen)
        if X is None or Z is None:
            raise ValueError("X, Z: give both for a matrix-interface prediction")
        X_new = np.asarray(X, dtype=float)
        Zm = sparse.csr_matrix(Z)
        if Zm.shape[1] != v.shape[0] or X_new.shape[1] != beta.shape[0]:
            raise ValueError(
                f"X, Z: need {beta.shape[0]} and {v.shape[0]} columns as in the fit"
            )
        blocks = [Zm[:, sl] for sl in self._engine.fitter.term_slices]
        return linear_predictor(pb, X_new, blocks, beta, v,
                                None if offset is None else np.asarray(offset, dtype=float))

    def null_loglik(self) -> float:
        """Log-likelihood of the GLM without random effects (R's null model of ``lrt``)."""
        pb = self._engine.problem
        return glm_loglik(pb.y, pb.X, pb.family, pb.weights, pb.offset)

    @cached_property
    def resid(self) -> Array:
        """(y - mu) / sqrt(sum(d) / (n - p)) / sqrt(1 - h), R's studentized residuals
        (computed on first use, with the leverages)."""
        pb = self._engine.problem
        n, p = pb.X.shape
        scale = np.sqrt(np.sum(self.deviances) / (n - p))
        return (pb.y - self.fitted) / scale / np.sqrt(1.0 - self._engine.last.hat[:n])

    # --- tables ------------------------------------------------------------------------

    def fixef_table(self) -> pd.DataFrame:
        """Estimates, standard errors, t-values and p-values on ``df_resid`` df."""
        t = self.fixef / self.se_fixef
        p = 2.0 * t_sf(np.abs(t), self.df_resid)
        return pd.DataFrame(
            {"estimate": self.fixef, "std_error": self.se_fixef, "t_value": t, "p_value": p}
        )

    def ranef_frame(self) -> pd.DataFrame:
        """One row per random effect: term, group, level, name, estimate (u scale) and
        std_error (of v, as R's SeRe; for a known covariance, of u).

        For formula fits group and level come from the grouping factor; for the matrix
        interface the group is the term's label and the level the column name of Z.
        """
        sizes = [len(s) for s in self._term_index()]
        term = np.repeat(self.names.terms, sizes)
        if self.design is not None:
            layouts = term_layouts(self.design, self.names, [])
            group = np.concatenate([[t.group] * len(t.levels) * len(t.effects)
                                    for t in layouts])
            level = np.concatenate([np.repeat(t.levels, len(t.effects)) for t in layouts])
        else:
            group, level = term, self.ranef.index.to_numpy()
        return pd.DataFrame(
            {
                "term": term,
                "group": group,
                "level": level,
                "name": self.ranef.index,
                "estimate": self.ranef.to_numpy(),
                "std_error": self.se_ranef.to_numpy(),
            }
        )

    @property
    def varcorr(self) -> pd.DataFrame:
        """The random effects' variances, and for a vector-valued term ``(1 + x|g)`` the
        covariances and correlations of its effects, in the layout of lme4's
        ``as.data.frame(VarCorr(fit))`` (grp, var1, var2, vcov, sdcor), with the
        residual dispersion (grp "Residual") when it has no model."""
        slices = [slice(r.start, r.stop) for r in self._term_index()]
        layouts = term_layouts(self.design, self.names, slices)
        covariances = _term_covariances(self._engine)
        return varcorr_frame([t.group for t in layouts], [t.effects for t in layouts],
                             covariances, self.var_fix)

    def _term_index(self) -> list[range]:
        return [range(sl.start, sl.stop) for sl in self._engine.fitter.term_slices]

    def summary(self, n_ranef: int = 3) -> Summary:
        """The R-style report; ``n_ranef`` random effects per term are shown (all: -1)."""
        return Summary(self, n_ranef)

    def __repr__(self) -> str:
        return self._short_report()

    def _short_report(self) -> str:
        lines = ["HGLM fit by " + self.method, "", "Fixed effects:"]
        lines.append(self.fixef.to_string())
        if self.var_fix is not None:
            lines += ["", f"Residual dispersion: {self.var_fix:.7g}"]
        lines += ["Random-effect dispersions: " + ", ".join(f"{x:.7g}" for x in self.var_ranef)]
        state = "converged" if self.converged else "did NOT converge"
        lines += ["", f"EQL estimation {state} in {self.n_iter} iterations."]
        if self.singular:
            lines.append(SINGULAR_NOTE)
        return "\n".join(lines)

    # --- plots and export (hglm.results.plots, hglm.results.export) -------------------

    def plot(self, path: str | os.PathLike[str] | None = None) -> list:
        """Diagnostic figures (matplotlib); see :func:`hglm.results.plots.plot_fit`."""
        return plot_fit(self, path)

    def to_dict(self) -> dict:
        """Every estimate as a JSON-safe dict; see :func:`hglm.results.export.to_dict`."""
        return to_dict(self)


def _residual_variance(engine: EngineFit) -> float | None:
    """R's varFix: the residual dispersion (None when it has a model with covariates)."""
    pb = engine.problem
    if pb.fix_disp is not None:
        return float(pb.fix_disp)
    if pb.x_disp is not None:
        return None
    return float(pb.link_disp.inverse(np.array(engine.last.disp_fit.coef[0])))


def _residual_dispersion_table(engine: EngineFit,
                               labels: list[str] | None) -> pd.DataFrame | None:
    """R's SummVC1: the table of the residual dispersion's model (None when fixed)."""
    if engine.problem.fix_disp is not None:
        return None
    fit = engine.last.disp_fit
    return _coef_frame(fit.coef, fit.std_error, ["(Intercept)"] if labels is None else labels)


def _random_dispersion_tables(
    engine: EngineFit, labels: list[list[str] | None]
) -> list[pd.DataFrame]:
    """R's SummVC2: the table of each random term's dispersion model (None for a
    vector-valued term, whose covariance has no dispersion GLM)."""
    tables: list[pd.DataFrame | None] = []
    for k, fit in enumerate(engine.last.rand_disp_fits):
        rows = labels[k] if k < len(labels) else None
        tables.append(None if fit is None else _coef_frame(
            fit.coef, fit.std_error, ["(Intercept)"] if rows is None else rows))
    return tables


def _term_covariances(engine: EngineFit) -> list[Array]:
    """Each term's covariance: 1 x 1, R's exp of a scalar term's dispersion intercept
    (inf for a CAR/SAR term), or a vector-valued term's q x q estimate."""
    out = []
    for fit, cov in zip(engine.last.rand_disp_fits, engine.covariances, strict=True):
        with np.errstate(over="ignore"):
            out.append(cov if fit is None else np.array([[np.exp(fit.coef[0])]]))
    return out


def _random_variances(engine: EngineFit) -> Array:
    """R's var_ranef: one per scalar term, and a vector-valued term's q variances (the
    diagonal of its covariance)."""
    return np.concatenate([np.diag(c) for c in _term_covariances(engine)])


def _spatial_parameters(
    engine: EngineFit,
) -> tuple[float | None, float | None, float | None, float | None]:
    """R's CAR.rho, CAR.tau, SAR.rho and SAR.tau (None without such a term)."""
    car_rho = car_tau = sar_rho = sar_tau = None
    for t, fit in zip(engine.problem.terms, engine.last.rand_disp_fits, strict=True):
        spatial = t.family.spatial if fit is not None else None
        if spatial is not None:
            rho, tau = spatial.parameters(fit.coef)
            if spatial.kind == "CAR":
                car_rho, car_tau = rho, tau
            else:
                sar_rho, sar_tau = rho, tau
    return car_rho, car_tau, sar_rho, sar_tau


def _random_u(engine: EngineFit) -> Array:
    """The random effects on the u scale, term by term."""
    v = engine.v
    out = np.empty_like(v)
    for sl, t in zip(engine.fitter.term_slices, engine.problem.terms, strict=True):
        out[sl] = t.transform @ v[sl] if t.transform is not None else t.family.link.inverse(v[sl])
    return out
