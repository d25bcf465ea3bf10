"""``lmer`` and ``glmer`` (and ``hglm2`` with method "ML" or "REML") on a Dask
DataFrame: the partitions of :mod:`.frame`, the exact ML/REML fit of a linear mixed
model by ``fit.partitioned_lmm`` (one pass per evaluation of the profiled deviance) or
the Laplace fit of a binomial (logit) or Poisson (log) GLMM by
``fit.partitioned_laplace`` (glmer's stages, its conditional modes one pass per IRLS
step), and a ``MarginalResult`` whose per-row vectors are Dask Series and whose
``ranef`` is a Dask DataFrame (the partitioning term's effects computed on the
partitions when asked for, :mod:`.ranef`).

Scalar Gaussian random terms only: other families and links, adaptive quadrature
(nAGQ > 1) and nAGQ = 0, vector-valued terms ``(1 + x | g)``, dispersion models and
known covariances are refused by name.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd

from ..engine import Indicator
from ..fit import count_check, fit_partitioned_glmm, fit_partitioned_lmm, laplace_row_report
from ..results import PartitionedMarginalResult, start_in_term_order
from ..spec import EngineHooks, ModelDesign, Problem, ResponseFamily
from .frame import PartitionedFrame, partition_frame
from .ranef import lme4_effects

# glmer's families on a Dask DataFrame and their (canonical) links
GLMER_FAMILIES = {"binomial": "logit", "poisson": "log"}
ROW_COLUMNS = ("fitted", "linear_predictor", "resid", "pearson", "deviance", "working")
# the arguments that no fit on a Dask DataFrame takes
NOT_ON_DASK = {
    "rand_disp": "random-effect dispersion models (rand_disp=)",
    "x_rand_disp": "random-effect dispersion models (x_rand_disp=)",
    "cov": "known covariances or precisions (cov=)",
}
_NOT_WITH_LMM = {**NOT_ON_DASK, "disp": "a residual-dispersion model (disp=)"}


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
    frame = partition_frame(ddf, formula, weights=weights, offset=offset, family=family,
                            controls=controls, engine=engine, max_m=max_m, persist=persist)
    _check_model(frame)
    problem = _described(frame)
    start = start_in_term_order(controls["start"], problem)
    if family.name in GLMER_FAMILIES:
        return _fit_glmer(frame, problem, start, formula)
    fit = fit_partitioned_lmm(
        problem, frame.model, frame.parts, reml=controls["method"] == "REML",
        start=None if start is None else start["theta"], persist=persist,
    )
    rows = float_rows(fit.deviance.row_parts(fit.theta),
                      ("fitted", "linear_predictor", "resid", "pearson"))
    design = _full_levels(frame)
    effects = lme4_effects(problem, design, fit.v, fit.cond_var, frame,
                           fit.deviance.level_reports(fit.theta), fit.sigma2)
    return PartitionedMarginalResult(fit, frame.names, design, formula, frame.model.n, rows,
                                     effects)


def _fit_glmer(frame: PartitionedFrame, problem: Problem, start: dict | None,
               formula: str) -> PartitionedMarginalResult:
    """glmer's Laplace fit on the partitions and its result."""
    if problem.family.name == "binomial":
        bad = frame.parts.total(count_check, None)["bad"]
        if bad:
            raise ValueError("weights: a binomial response needs whole numbers of successes "
                             "y * weights (proportions y with the numbers of trials as "
                             "weights); round the counts or use another family")
    fit, deviance = fit_partitioned_glmm(problem, frame.model, frame.parts, start)
    states = deviance.row_states(fit.theta, fit.beta)
    rows = float_rows(frame.parts.frames(laplace_row_report, states), ROW_COLUMNS)
    design = _full_levels(frame)
    effects = lme4_effects(problem, design, fit.v, fit.cond_var, frame,
                           deviance.level_reports(fit.theta, fit.beta), 1.0)
    return PartitionedMarginalResult(fit, frame.names, design, formula, frame.model.n, rows,
                                     effects)


def float_rows(parts: list, columns: tuple[str, ...]) -> dd.DataFrame:
    """The per-row vectors (lazy pandas frames of float ``columns``, one per partition)
    as one Dask DataFrame."""
    meta = pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    return dd.from_delayed(parts, meta=meta, verify_meta=False)


def _refuse(family: ResponseFamily, controls: dict, given: dict) -> None:
    lmm = family.name == "gaussian" and family.link.name == "identity"
    if not lmm and GLMER_FAMILIES.get(family.name) != family.link.name:
        raise ValueError(
            f"family: {family.name}({family.link.name}) by ML is not supported with a Dask "
            "DataFrame yet: lmer (a Gaussian linear mixed model), glmer with "
            "binomial(logit) or poisson(log), or hglm2's EQL; fit a pandas DataFrame"
        )
    if not lmm and controls["nAGQ"] != 1:
        raise ValueError(
            f"nAGQ: glmer on a Dask DataFrame is the Laplace approximation (nAGQ = 1), got "
            f"{controls['nAGQ']}; adaptive quadrature and nAGQ = 0 need a pandas DataFrame"
        )
    if not lmm and controls["method"] == "REML":
        raise ValueError("method: Laplace-REML of a GLMM is not available on a Dask DataFrame; "
                         "use method='ML' (glmer) or fit a pandas DataFrame")
    for name, what in _NOT_WITH_LMM.items():
        if given.get(name) is not None:
            raise ValueError(f"{name}: {what} is not supported by lmer or glmer on a Dask "
                             "DataFrame; "
                             "fit a pandas DataFrame")
    if controls["fix_disp"] not in ((None,) if lmm else (None, 1.0)):
        raise ValueError("fix_disp: ML/REML estimates the residual variance (binomial and "
                         "Poisson have dispersion 1); drop fix_disp")


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
