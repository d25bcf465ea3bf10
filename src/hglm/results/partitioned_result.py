"""The fitted HGLM of a partitioned (Dask) fit: :class:`HGLMResult`'s components, with
the per-row vectors left where the rows are.

Small components are pandas objects as in memory (fixed effects, dispersion tables,
likelihoods); the vectors of the n rows (``fitted``, ``linear_predictor``,
``deviances``, ``hat_values``, ``resid``) are Series of the caller's lazy frame type
(Dask Series), indexed by the rows used, and so are the random effects (``ranef``,
``se_ranef``, indexed by their names; ``ranef_frame()`` a lazy DataFrame): the
partitioning term's, possibly millions, are computed on the partitions when asked for,
the other terms' come from the client.  ``summary()`` and ``to_dict()`` compute them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..fit import PartitionedFit
from ..spec import ModelDesign, Names, Problem
from .export import to_dict
from .hglm_result import HGLMResult, _residual_variance
from .summary import Summary

Array = np.ndarray


@dataclass
class _FitterView:
    term_slices: list[slice]
    marginal: None = None


@dataclass
class PartitionedEngineView:
    """What the summary reads of an engine: the model (a partition's problem, whose
    arrays are that partition's rows only), the last round and each term's effects."""

    problem: Problem
    last: object
    fitter: _FitterView = field(default_factory=lambda: _FitterView([]))


@dataclass
class RowVectors:
    """The per-row vectors of a partitioned fit (lazy Series)."""

    fitted: object
    linear_predictor: object
    deviances: object
    hat_values: object
    resid: object
    disp_fitted: object


class PartitionedHGLMResult(HGLMResult):
    """A fitted HGLM whose rows live on partitions (see the module docstring).

    Parameters
    ----------
    fit : PartitionedFit
    problem : Problem
        The model (a partition's problem: its family, terms, dispersion links).
    names : Names
        The names of the fixed effects and of every random effect.
    effects : dask.dataframe.DataFrame
        The random effects' table (:meth:`ranef_frame`), lazy, indexed by the
        effects' positions in names order.
    rows : RowVectors
    method : str
    likelihood : dict or None
    design : ModelDesign
        The encoding (built on the first partition).
    """

    def __init__(
        self,
        fit: PartitionedFit,
        problem: Problem,
        names: Names,
        effects: object,
        rows: RowVectors,
        method: str,
        likelihood: dict[str, float] | None,
        design: ModelDesign,
    ) -> None:
        md, last = fit.model, fit.last
        ends = np.cumsum(md.sizes)
        slices = [slice(int(e - s), int(e)) for s, e in zip(md.sizes, ends, strict=True)]
        self._engine = PartitionedEngineView(problem, last, _FitterView(slices))
        self.names = names
        self.method = method
        self.family = md.family
        self.rand_families = [t.family for t in md.terms]
        self.n_obs = md.n
        p = md.p
        self.fixef = pd.Series(fit.beta, index=pd.Index(names.fixed), name="fixef")
        se_b = np.sqrt(np.diag(last.s_inverse))[-p:] if p else np.zeros(0)
        self.se_fixef = pd.Series(se_b, index=self.fixef.index, name="se_fixef")
        self._effects = effects
        self.ranef = _named(effects, "estimate", "ranef")
        self.se_ranef = _named(effects, "std_error", "se_ranef")
        self.n_iter = fit.n_iter
        self.converged = fit.converged
        self.singular = False  # scalar terms only, checked by their collapse warning
        self.fitted = rows.fitted
        self.linear_predictor = rows.linear_predictor
        self.deviances = rows.deviances
        self.hat_values = rows.hat_values
        self.resid = rows.resid
        self.df_resid = int(round(md.n - last.observation_leverage_sum))
        # phi_i of a dispersion model (a lazy Series), else the one phi
        self.disp_fitted = rows.disp_fitted if np.ndim(fit.phi) else fit.phi
        self.var_fix = _residual_variance(self._engine)  # the tables as HGLMResult's
        self.var_ranef = np.array([np.exp(f.coef[0]) for f in last.rand_disp_fits])
        self.likelihood = likelihood
        self.car_rho = self.car_tau = self.sar_rho = self.sar_tau = None
        self.vcov = None
        self.disp_fit = None
        self.design = design

    def ranef_frame(self) -> object:
        """One row per random effect (the columns of :meth:`HGLMResult.ranef_frame`), a
        lazy DataFrame indexed by the effects' positions: ``.compute().sort_index()``
        is the in-memory fit's table."""
        return self._effects

    def summary(self, n_ranef: int = 3) -> Summary:
        """The R-style report (:meth:`HGLMResult.summary`); computes the random effects
        (a pass over the partitions for the partitioning term's)."""
        return Summary(_Computed(self), n_ranef)

    def to_dict(self) -> dict:
        """Every estimate as JSON-safe objects (:meth:`HGLMResult.to_dict`), the random
        effects computed (all of them, partitioning term's included)."""
        return to_dict(_Computed(self))

    def predict(self, *args: object, **kwargs: object) -> Array:
        raise NotImplementedError(
            "predict: not available for a fit on a Dask DataFrame yet; use "
            "result.fitted / result.linear_predictor for the rows fitted"
        )

    def null_loglik(self) -> float:
        raise NotImplementedError(
            "null_loglik (lrt): not available for a fit on a Dask DataFrame yet"
        )


def _named(effects: object, column: str, name: str) -> object:
    """A column of the lazy table as a lazy Series indexed by the effects' names."""
    meta = pd.Series(dtype=float, name=name, index=pd.Index([], dtype=object))
    return effects.map_partitions(_by_name, column, name, meta=meta)


def _by_name(part: pd.DataFrame, column: str, name: str) -> pd.Series:
    return pd.Series(part[column].to_numpy(), index=pd.Index(part["name"]), name=name)


def computed(table: object) -> pd.DataFrame:
    """A lazy table of random effects computed, in the in-memory fit's order and with
    its text columns of pandas' own text type (Dask's are Arrow strings)."""
    frame = table.compute().sort_index()
    text = [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c])]
    return frame.astype(dict.fromkeys(text, str))


class _Computed:
    """A partitioned result whose random effects are computed (what the summary and the
    export read); everything else is the result's."""

    def __init__(self, fit: PartitionedHGLMResult) -> None:
        self._fit = fit
        self._frame = computed(fit.ranef_frame())

    def ranef_frame(self) -> pd.DataFrame:
        return self._frame

    @property
    def ranef(self) -> pd.Series:
        return pd.Series(self._frame["estimate"].to_numpy(), index=self._frame["name"],
                         name="ranef")

    @property
    def se_ranef(self) -> pd.Series:
        return pd.Series(self._frame["std_error"].to_numpy(), index=self._frame["name"],
                         name="se_ranef")

    def __getattr__(self, name: str) -> object:
        return getattr(self._fit, name)
