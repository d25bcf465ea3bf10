"""The fitted HGLM of a partitioned (Dask) fit: :class:`HGLMResult`'s components, with
the per-row vectors left where the rows are.

Small components are pandas objects as in memory (fixed effects, random effects of every
term with their standard errors, dispersion tables, likelihoods); the vectors of the n
rows (``fitted``, ``linear_predictor``, ``deviances``, ``hat_values``, ``resid``) are
Series of the caller's lazy frame type (Dask Series), indexed by the rows used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..fit import PartitionedFit
from ..spec import ModelDesign, Names, Problem
from .hglm_result import HGLMResult, _random_dispersion_tables, _residual_dispersion

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
    ranef_v, se_v : ndarray
        Every random effect on the v scale and sqrt(diag C^{-1}) there, in names order.
    rows : RowVectors
    method : str
    likelihood : dict or None
    design : ModelDesign
        The encoding (built on the first partition).
    levels : list of list of str
        Each term's level labels, in the order of its effects.
    """

    def __init__(
        self,
        fit: PartitionedFit,
        problem: Problem,
        names: Names,
        ranef_v: Array,
        se_v: Array,
        rows: RowVectors,
        method: str,
        likelihood: dict[str, float] | None,
        design: ModelDesign,
        levels: list[list[str]],
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
        u = np.concatenate([
            md.terms[k].family.link.inverse(ranef_v[sl]) for k, sl in enumerate(slices)
        ])
        self.ranef = pd.Series(u, index=pd.Index(names.random), name="ranef")
        self.se_ranef = pd.Series(se_v, index=self.ranef.index, name="se_ranef")
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
        self.var_fix, self.disp_coef = _residual_dispersion(self._engine, names.disp)
        self.rand_disp_coef = _random_dispersion_tables(self._engine, names.rand_disp)
        self.var_ranef = np.array([np.exp(f.coef[0]) for f in last.rand_disp_fits])
        self.likelihood = likelihood
        self.car_rho = self.car_tau = self.sar_rho = self.sar_tau = None
        self.vcov = None
        self.disp_fit = None
        self.design = design
        self.levels = levels

    def ranef_frame(self) -> pd.DataFrame:
        """One row per random effect (as :meth:`HGLMResult.ranef_frame`), levels from
        the effects' names."""
        sizes = [sl.stop - sl.start for sl in self._engine.fitter.term_slices]
        term = np.repeat(self.names.terms, sizes)
        group = np.concatenate([[t.group] * n for t, n in zip(self.design.random, sizes,
                                                               strict=True)])
        level = np.concatenate(self.levels)
        return pd.DataFrame({
            "term": term, "group": group, "level": level, "name": self.ranef.index,
            "estimate": self.ranef.to_numpy(), "std_error": self.se_ranef.to_numpy(),
        })

    def predict(self, *args: object, **kwargs: object) -> Array:
        raise NotImplementedError(
            "predict: not available for a fit on a Dask DataFrame yet; use "
            "result.fitted / result.linear_predictor for the rows fitted"
        )

    def null_loglik(self) -> float:
        raise NotImplementedError(
            "null_loglik (lrt): not available for a fit on a Dask DataFrame yet"
        )
