"""``hglm2`` on a Dask DataFrame: the partitions (:mod:`.frame`), the partitioned EQL
fit (``fit.partitioned``) and its result with per-row Dask Series; method "ML" or
"REML" (lmer) goes to :mod:`.marginal`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..fit import Options, PartitionedFit, fit_partitioned, row_report
from ..results import PartitionedHGLMResult, PartitionedMarginalResult, RowVectors
from ..spec import EngineHooks, ResponseFamily, check_calc_like, check_controls
from .frame import PartitionedFrame, partition_frame
from .marginal import NOT_ON_DASK, fit_marginal_dask, float_rows
from .ranef import eql_effects

_IN_MEMORY_ONLY = {
    **NOT_ON_DASK,
    "startval": "starting values (startval=)",
    "vcovmat": "the marginal covariance matrix (vcovmat=True)",
    "bigrr": "the n-space solver (bigrr=True)",
}


def fit_hglm2_dask(
    formula: str,
    ddf: Any,
    *,
    weights: str | None,
    offset: str | None,
    family: ResponseFamily,
    controls: dict,
    given: dict,
    engine: EngineHooks,
    max_m: int | None = None,
    disp: str | None = None,
    persist: bool = True,
) -> PartitionedHGLMResult | PartitionedMarginalResult:
    """Fit ``formula`` by EQL on the rows of the Dask DataFrame ``ddf``.

    Parameters
    ----------
    formula : str
    ddf : dask.dataframe.DataFrame
    weights, offset : str or None
        Column names.
    family : ResponseFamily
    controls : dict
        hglm2's controls (defaults filled in).
    given : dict
        The arguments the user gave that only an in-memory fit has (named errors).
    engine : EngineHooks
    max_m : int, optional
        The largest Schur complement (p + the levels of the terms other than the
        partitioning one); default ``frame.MAX_M``.
    disp : str, optional
        The residual-dispersion model (log link, with an intercept).
    persist : bool
        Keep the encoded partitions and the per-row state in the workers' memory
        between passes (True), or read and encode the partitions from their source at
        every pass, recomputing the per-row state from (beta, v) (False: data larger
        than the cluster's memory).

    Raises
    ------
    ValueError
        For an argument only an in-memory fit supports, and the refusals of
        :func:`~.frame.partition_frame`.
    """
    if controls["method"] in ("ML", "REML"):
        return fit_marginal_dask(formula, ddf, weights=weights, offset=offset, family=family,
                                 controls=controls, given={**given, "disp": disp},
                                 engine=engine, max_m=max_m, persist=persist)
    _refuse(controls, given)
    check_controls(controls["method"], controls["conv"], controls["maxit"],
                   controls["dev_floor"])
    check_calc_like(controls["calc_like"], family, controls["fix_disp"])
    frame = partition_frame(ddf, formula, weights=weights, offset=offset, family=family,
                            controls=controls, engine=engine, max_m=max_m, disp=disp,
                            persist=persist)
    options = Options.from_controls(controls)
    fit, eql = fit_partitioned(frame.model, frame.parts, options)
    likelihood = eql.likelihoods(fit).as_dict() if controls["calc_like"] else None
    rows = _row_vectors(fit, frame, options.dev_floor)
    return PartitionedHGLMResult(
        fit, frame.problem, frame.names, eql_effects(fit, frame), rows, "EQL", likelihood,
        frame.design,
    )


def _refuse(controls: dict, given: dict) -> None:
    for name, what in _IN_MEMORY_ONLY.items():
        if given.get(name) not in (None, False):
            raise ValueError(f"{name}: {what} is not supported with a Dask DataFrame yet; "
                             "fit a pandas DataFrame")
    if controls["method"] not in ("EQL",):
        raise ValueError(f"method: {controls['method']!r} is not supported with a Dask "
                         "DataFrame yet: EQL, or ML/REML of a linear mixed model (lmer); "
                         "fit a pandas DataFrame")


def _rows(chunk: Any, state: Any, factor: tuple, *args: Any) -> pd.DataFrame:
    return row_report(chunk, state, *factor, *args)


def _row_vectors(fit: PartitionedFit, frame: PartitionedFrame, floor_mode: str) -> RowVectors:
    """The per-row vectors as Dask Series (lazy: computed when used)."""
    md, last = fit.model, fit.last
    scale = float(np.sqrt(last.dev_total / (md.n - md.p)))
    shared = frame.parts.share((last.chol, last.s_inverse))
    parts = frame.parts.frames(_rows, last.states, shared, last.phi, last.lam, fit.phi,
                               scale, floor_mode)
    columns = ("fitted", "linear_predictor", "deviances", "hat_values", "resid",
               "disp_fitted")
    rows = float_rows(parts, columns)
    return RowVectors(*(rows[c] for c in columns))
