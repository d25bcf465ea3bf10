"""The random effects of a fit on a Dask DataFrame as lazy Dask frames: the partitioning
term A's (possibly millions of levels) from the partitions' reports at the end, never
gathered while the result is built; the other terms' (m of them) from the client's
arrays.  Each row is indexed by its position in the in-memory fit's table, so that
``frame.compute().sort_index()`` is that table.
"""

from __future__ import annotations

from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd
from dask import delayed

from ..fit import PartitionedFit, level_report
from ..results import lme4_term_order, ranef_long, term_layouts
from ..spec import ModelDesign, Problem, ResponseFamily
from .frame import PartitionedFrame, name_prefix

EQL_COLUMNS = ("term", "group", "level", "name", "estimate", "std_error")
LME4_COLUMNS = ("grpvar", "term", "grp", "condval", "condsd")


def eql_effects(fit: PartitionedFit, frame: PartitionedFrame) -> Any:
    """hglm's table of the random effects (``HGLMResult.ranef_frame``'s columns: term,
    group, level, name, estimate on the u scale, std_error on the v scale), lazy."""
    md, names = fit.model, frame.names
    diag_b = np.diag(fit.last.s_inverse)
    starts = np.concatenate([[0], np.cumsum(md.sizes)]).astype(int)
    b_slices = dict(zip(md.other_terms, md.b_slices(), strict=True))
    pieces: list = []
    for k, term in enumerate(frame.design.random):
        label, start = names.terms[k], int(starts[k])
        if k == md.a_term:
            reports = fit.reports(level_report)
            pieces += [delayed(_eql_rows, pure=False)(
                rep, start + at, label, term.group, name_prefix(term), md.terms[k].family)
                for rep, at in zip(reports, frame.a_positions, strict=True)]
            continue
        sl = b_slices[k]
        pieces.append(delayed(pd.DataFrame({
            "term": label, "group": term.group, "level": frame.levels[k],
            "name": names.random[start : int(starts[k + 1])],
            "estimate": md.terms[k].family.link.inverse(fit.last.x_b[sl]),
            "std_error": np.sqrt(diag_b[sl]),
        }, index=np.arange(start, int(starts[k + 1]))), traverse=False))
    return _lazy(pieces, EQL_COLUMNS, ("estimate", "std_error"))


def _eql_rows(report: dict, at: np.ndarray, term: str, group: str, prefix: str,
              family: ResponseFamily) -> pd.DataFrame:
    labels = list(report["labels"])
    return pd.DataFrame({
        "term": term, "group": group, "level": labels, "name": [prefix + lab for lab in labels],
        "estimate": family.link.inverse(report["v"]), "std_error": np.sqrt(report["diag"]),
    }, index=at)


def lme4_effects(problem: Problem, design: ModelDesign, v: np.ndarray, cond_var: np.ndarray,
                 frame: PartitionedFrame, reports: list, scale: float) -> Any:
    """lme4's ``as.data.frame(ranef(fit, condVar = TRUE))`` (grpvar, term, grp, condval,
    condsd), lazy: ``v`` and ``cond_var`` (term order) give the other terms' rows, the
    partitions' ``reports`` A's (conditional variances ``scale`` times their "diag");
    ``design`` has each term's levels over all partitions."""
    a = frame.model.a_term
    sizes = [len(lv) for lv in frame.levels]
    ends = np.cumsum(sizes)
    layouts = term_layouts(design, frame.names, [])
    pieces: list = []
    start = 0
    for k in lme4_term_order(problem):
        layout, sl = layouts[k], slice(int(ends[k]) - sizes[k], int(ends[k]))
        if k == a:
            pieces += [delayed(_lme4_rows, pure=False)(
                rep, start + at, layout.group, layout.effects[0], scale)
                for rep, at in zip(reports, frame.a_positions, strict=True)]
        else:
            rows = ranef_long(layout, v[sl], np.sqrt(cond_var[sl]))
            rows.index = np.arange(start, start + sizes[k])
            pieces.append(delayed(rows, traverse=False))
        start += sizes[k]
    return _lazy(pieces, LME4_COLUMNS, ("condval", "condsd"))


def _lme4_rows(report: dict, at: np.ndarray, group: str, effect: str,
               scale: float) -> pd.DataFrame:
    return pd.DataFrame({
        "grpvar": group, "term": effect, "grp": list(report["labels"]),
        "condval": report["v"], "condsd": np.sqrt(scale * report["diag"]),
    }, index=at)


def _lazy(pieces: list, columns: tuple[str, ...], numbers: tuple[str, ...]) -> Any:
    """A Dask DataFrame of the pieces (lazy pandas frames) in order."""
    meta = pd.DataFrame({c: pd.Series(dtype=float if c in numbers else object)
                         for c in columns}, index=pd.Index([], dtype=np.int64))
    return dd.from_delayed(pieces, meta=meta, verify_meta=False)
