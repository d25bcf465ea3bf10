"""The fitted model of an ML/REML or Laplace fit on partitioned (Dask) rows: a
:class:`~.marginal.MarginalResult` whose per-row vectors stay where the rows are.

Every small component is what the in-memory fit gives (fixed effects, vcov, theta,
sigma, varcorr, the likelihoods, summary, Wald and profile confidence intervals);
``fitted``, ``linear_predictor``, ``resid`` and ``residuals()`` are lazy Series (Dask
Series) indexed by the rows used, and ``ranef`` is a lazy DataFrame (Dask) whose
partitioning term's rows, possibly millions, are computed on the partitions when
asked for.  ``summary()``, ``to_dict()`` and ``ranef_by_group`` compute them.
``predict`` and ``simulate`` are not available yet.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..spec import ModelDesign, Names
from .lme4_summary import LMMSummary
from .marginal import MarginalResult
from .marginal_export import marginal_dict
from .marginal_view import MarginalFit
from .partitioned_result import computed
from .term_layout import ranef_by_group

Array = np.ndarray

# the column of the rows' table holding each kind of residuals, and where an LMM's
# table has no such column, the one that equals it
_COLUMNS = {"response": "resid", "pearson": "pearson", "deviance": "deviance",
            "working": "working"}
_LMM_COLUMNS = {"deviance": "pearson", "working": "resid"}


class PartitionedMarginalResult(MarginalResult):
    """An ML/REML (lmer) or Laplace (glmer) fit whose rows live on partitions (see the
    module docstring).

    Parameters
    ----------
    fit : MarginalFit
        The estimator's result (its problem describes the model; its row arrays are
        empty).
    names : Names
    design : ModelDesign
        The encoding, with each term's levels over all partitions.
    formula : str
    n_obs : int
        The rows used.
    rows : dask.dataframe.DataFrame
        Columns ``fitted``, ``linear_predictor``, ``resid`` (y - mu) and ``pearson``
        (sqrt(w) (y - mu) / sqrt(V(mu))), and for a GLMM ``deviance`` and ``working``,
        indexed by the rows' labels.
    effects : dask.dataframe.DataFrame
        :attr:`ranef`: the conditional modes and SDs of every term, lazy; the fit's
        ``v`` and ``cond_var`` are NaN at the partitioning term's effects.
    """

    def __init__(self, fit: MarginalFit, names: Names, design: ModelDesign, formula: str,
                 n_obs: int, rows: Any, effects: Any) -> None:
        super().__init__(fit, names, design=design, formula=formula)
        self.n_obs = int(n_obs)
        self._rows = rows
        self._effects = effects

    @property
    def ranef(self) -> Any:
        """The conditional modes and SDs in the layout of R's
        ``as.data.frame(ranef(fit, condVar = TRUE))`` (grpvar, term, grp, condval,
        condsd) as a lazy DataFrame (Dask) indexed by the rows' positions in the
        in-memory fit's table: ``.compute().sort_index()`` is that table.  The
        partitioning term's rows are computed on the partitions (one pass) when asked
        for."""
        return self._effects

    @property
    def ranef_by_group(self) -> dict[str, pd.DataFrame]:
        """lme4's ``ranef(fit)`` (:attr:`MarginalResult.ranef_by_group`), computed:
        pandas DataFrames holding every level, the partitioning term's included."""
        return ranef_by_group(computed(self._effects))

    def summary(self) -> LMMSummary:
        """lme4's ``summary`` (:meth:`MarginalResult.summary`); computes the conditional
        modes (its table ``ranef`` and its counts of levels read them)."""
        return LMMSummary(_Computed(self))

    def to_dict(self) -> dict[str, Any]:
        """Every estimate as JSON-safe objects (:meth:`MarginalResult.to_dict`), the
        conditional modes computed (all of them)."""
        return marginal_dict(_Computed(self))

    @property
    def linear_predictor(self) -> Any:
        """X beta + Z v + offset at the conditional modes (a lazy Series)."""
        return self._rows["linear_predictor"]

    @property
    def fitted(self) -> Any:
        """Fitted means at the conditional modes (a lazy Series)."""
        return self._rows["fitted"]

    def residuals(self, type: str | None = None, scaled: bool = False) -> Any:
        """lme4's ``residuals`` as a lazy Series: "response", "pearson", "deviance" or
        "working" (default "response" for an LMM, "deviance" for a GLMM; an LMM's
        working residuals are its response residuals, its deviance residuals its
        Pearson residuals sqrt(w) (y - mu)); ``scaled`` divides by sigma."""
        kind = type or ("response" if self.is_lmm else "deviance")
        if kind not in _COLUMNS:
            raise ValueError(
                f"type: must be 'response', 'pearson', 'deviance' or 'working', got {kind!r}"
            )
        column = _COLUMNS[kind]
        if column not in self._rows.columns:
            column = _LMM_COLUMNS[column]
        out = self._rows[column]
        return out / self.sigma if scaled else out

    @property
    def deviance(self) -> float:
        """lme4's ``deviance`` (:attr:`MarginalResult.deviance`), a GLMM's sum of
        squared deviance residuals reduced on the partitions."""
        if self.is_lmm:
            return super().deviance
        return float((self.residuals("deviance") ** 2).sum().compute())

    def residual_quantiles(self, probs: list[float]) -> Array:
        """Quantiles of the scaled Pearson residuals by Dask's ``quantile``: the minimum
        and maximum exact, the others approximate (merged per-partition percentiles)."""
        r = self.residuals("pearson", scaled=True)
        return np.asarray(r.quantile(list(probs)).compute(), dtype=float)

    def confint(self, method: str = "profile", level: float = 0.95,
                signames: bool = True) -> Any:
        """lme4's ``confint`` (:meth:`MarginalResult.confint`); for a GLMM Wald's
        intervals only (the profile of its Laplace deviance is not available on a Dask
        DataFrame yet)."""
        if not self.is_lmm and method != "wald":
            raise ValueError(f"method: {method!r} intervals of a glmer fit on a Dask "
                             "DataFrame are not available yet; use method='wald' or fit a "
                             "pandas DataFrame")
        return super().confint(method, level, signames)

    def dispersion(self) -> Array:
        raise NotImplementedError("dispersion: the residual variance of a fit on a Dask "
                                  "DataFrame is sigma ** 2 (one value)")

    def predict(self, *args: object, **kwargs: object) -> Array:
        raise NotImplementedError(
            "predict: not available for a fit on a Dask DataFrame yet; use "
            "result.fitted / result.linear_predictor for the rows fitted"
        )

    def simulate(self, *args: object, **kwargs: object) -> Any:
        raise NotImplementedError("simulate: not available for a fit on a Dask DataFrame yet")

    def plot(self, *args: object, **kwargs: object) -> list:
        raise NotImplementedError("plot: not available for a fit on a Dask DataFrame yet")


class _Computed:
    """A partitioned result whose conditional modes are computed (what its summary and
    export read); everything else is the result's."""

    def __init__(self, fit: PartitionedMarginalResult) -> None:
        self._fit = fit
        self.ranef = computed(fit.ranef)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fit, name)
