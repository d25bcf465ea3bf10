"""``lmer`` (and ``hglm2`` with method "ML" or "REML") on a Dask DataFrame: the
partitions of :mod:`.frame`, the exact ML/REML fit of ``fit.partitioned_lmm`` (one pass
per evaluation of the profiled deviance) and a ``MarginalResult`` whose per-row vectors
are Dask Series.

A linear mixed model with scalar random terms only: ``glmer`` (Laplace, a non-Gaussian
family), vector-valued terms ``(1 + x | g)``, dispersion models and known covariances
are refused by name.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd

from ..engine import Indicator
from ..fit import fit_partitioned_lmm
from ..results import PartitionedMarginalResult, start_in_term_order
from ..spec import EngineHooks, ModelDesign, Problem, ResponseFamily
from .frame import PartitionedFrame, partition_frame

_NOT_WITH_LMM = {
    "rand_disp": "random-effect dispersion models (rand_disp=)",
    "x_rand_disp": "random-effect dispersion models (x_rand_disp=)",
    "cov": "known covariances or precisions (cov=)",
    "disp": "a residual-dispersion model (disp=)",
}


def fit_marginal_dask(
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
    persist: bool = True,
) -> PartitionedMarginalResult:
    """Fit ``formula`` by ML or REML (``controls["method"]``) on the rows of ``ddf``.

    Parameters
    ----------
    formula : str
    ddf : dask.dataframe.DataFrame
    weights, offset : str or None
        Column names.
    family : ResponseFamily
        Gaussian with the identity link (lmer).
    controls : dict
        hglm2's controls (defaults filled in, checked for ML/REML).
    given : dict
        The arguments the user gave that this route does not take (named errors).
    engine : EngineHooks
    max_m : int, optional
        As for :func:`~.frame.partition_frame`.
    persist : bool
        Keep the encoded partitions and their level statistics in the workers' memory
        (True), or read and encode the partitions again at every pass.

    Raises
    ------
    ValueError
        For glmer's families, a term or argument the route does not support, and the
        refusals of :func:`~.frame.partition_frame`.
    """
    _refuse(family, controls, given)
    if not isinstance(persist, bool):
        raise ValueError(f"persist: must be True or False, got {persist!r}")
    frame = partition_frame(ddf, formula, weights=weights, offset=offset, family=family,
                            controls=controls, engine=engine, max_m=max_m, persist=persist)
    _check_model(frame)
    problem = _described(frame)
    start = start_in_term_order(controls["start"], problem)
    fit = fit_partitioned_lmm(
        problem, frame.model, frame.parts, frame.levels[frame.model.a_term],
        reml=controls["method"] == "REML", start=None if start is None else start["theta"],
        persist=persist,
    )
    meta = pd.DataFrame({c: pd.Series(dtype=float)
                         for c in ("fitted", "linear_predictor", "resid", "pearson")})
    rows = dd.from_delayed(fit.deviance.row_parts(fit.theta), meta=meta, verify_meta=False)
    return PartitionedMarginalResult(fit, frame.names, _full_levels(frame), formula,
                                     frame.model.n, rows)


def _refuse(family: ResponseFamily, controls: dict, given: dict) -> None:
    if family.name != "gaussian" or family.link.name != "identity":
        raise ValueError(
            f"family: {family.name}({family.link.name}) by ML (glmer: Laplace, adaptive "
            "quadrature) is not supported with a Dask DataFrame yet: lmer (a Gaussian "
            "linear mixed model) or hglm2's EQL only; fit a pandas DataFrame"
        )
    for name, what in _NOT_WITH_LMM.items():
        if given.get(name) is not None:
            raise ValueError(f"{name}: {what} is not supported by lmer on a Dask DataFrame; "
                             "fit a pandas DataFrame")
    if controls["fix_disp"] is not None:
        raise ValueError("fix_disp: ML/REML estimates the residual variance; drop fix_disp")


def _check_model(frame: PartitionedFrame) -> None:
    """Gaussian random effects and more rows than fixed effects (the rows are known
    only once partitioned)."""
    for term, label in zip(frame.problem.terms, frame.names.terms, strict=True):
        if not term.family.is_gaussian:
            raise ValueError(f"rand_family: {label} must have Gaussian random effects for "
                             f"lmer, not {term.family.name}")
    if frame.model.n <= frame.model.p:
        raise ValueError("y: needs more observations than fixed effects")


def _described(frame: PartitionedFrame) -> Problem:
    """The model without rows: its family and terms, each block with all its levels
    (lme4's order of the terms and the result's slices read them)."""
    empty = np.zeros(0)
    blocks = [Indicator.from_codes(np.zeros(0, dtype=np.int64), None, len(lv))
              for lv in frame.levels]
    return replace(frame.problem, y=empty, X=np.zeros((0, frame.model.p)), blocks=blocks,
                   weights=empty, offset=empty)


def _full_levels(frame: PartitionedFrame) -> ModelDesign:
    """The first partition's design with each term's levels over all partitions (the
    names of ranef and varcorr); its rows are not used."""
    ends = np.cumsum([len(lv) for lv in frame.levels])
    random = [
        replace(t, levels=list(lv), names=list(frame.names.random[e - len(lv): e]),
                codes=np.zeros(0, dtype=np.int64), values=None)
        for t, lv, e in zip(frame.design.random, frame.levels, ends, strict=True)
    ]
    return replace(frame.design, random=random)
