"""The random terms as the reports lay them out: each term's grouping factor, effects
(columns) and levels, its covariance matrix, theta in lme4's order of the terms, and the
conditional modes per grouping factor.

A scalar term has one effect per level; a vector-valued term ``(1 + x|g)`` has q effects
per level, stored level-major in v (level 1's intercept and slope, then level 2's, ...)
with a q x q covariance.  The estimators give (the contract of issue 15) ``theta`` flat
in lme4's order within a term (the lower triangle of its relative Cholesky factor,
column by column) concatenated over the terms in model order, and ``covariances``: per
term, the absolute covariance matrix of its effects (1 x 1 for a scalar term).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..engine import Grouped, block_width
from ..spec import ModelDesign, Names, Problem, VectorTerm

Array = np.ndarray
INTERCEPT = "(Intercept)"


@dataclass(frozen=True)
class TermLayout:
    """One random term as reported: grouping factor, effects, levels (model order)."""

    group: str
    effects: list[str]
    levels: list[str]


def term_layouts(design: ModelDesign | None, names: Names,
                 slices: Sequence[slice]) -> list[TermLayout]:
    """The layout of every term: from the formula layer's terms when there are any, else
    (the matrix interface) the term's label as its group, one ``(Intercept)`` effect per
    column of Z, named by the column names."""
    if design is not None:
        return [TermLayout(t.group, list(t.effects) if isinstance(t, VectorTerm)
                           else [t.covariate or INTERCEPT], list(t.levels))
                for t in design.random]
    return [TermLayout(label, [INTERCEPT], list(names.random[sl]))
            for label, sl in zip(names.terms, slices, strict=True)]


def term_covariances(fit: object, variances: Array) -> list[Array]:
    """Each term's covariance matrix: the estimator's ``covariances``, or for an estimator
    of scalar terms only their ``variances`` (one per term) as 1 x 1 matrices."""
    covariances = getattr(fit, "covariances", None)
    if covariances is not None:
        return [np.atleast_2d(np.asarray(c, dtype=float)) for c in covariances]
    return [np.array([[x]]) for x in np.asarray(variances, dtype=float)]


def reorder_theta(theta: Array, sizes: Sequence[int], order: Sequence[int]) -> Array:
    """Flat theta whose terms have ``sizes`` entries each (``n_theta``), with its terms
    taken in ``order``: lme4's order from the model's (``order`` = lme4_term_order), or
    back (the sizes in lme4's order, ``order`` = its inverse permutation)."""
    theta = np.asarray(theta, dtype=float)
    if theta.size != sum(sizes):
        raise ValueError(f"theta needs {sum(sizes)} values (one per scalar random term, "
                         f"q (q + 1) / 2 per vector-valued term of q effects), got "
                         f"{theta.size}")
    parts = np.split(theta, np.cumsum(sizes)[:-1])
    return np.concatenate([parts[k] for k in order]) if len(parts) else theta


def ranef_long(layout: TermLayout, value: Array, sd: Array) -> pd.DataFrame:
    """R's ``as.data.frame(ranef(fit, condVar = TRUE))`` rows of one term: per effect,
    all levels (grpvar, term, grp, condval, condsd); ``value`` and ``sd`` level-major."""
    q, m = len(layout.effects), len(layout.levels)
    value = np.asarray(value, dtype=float).reshape(m, q)
    sd = np.asarray(sd, dtype=float).reshape(m, q)
    return pd.concat([pd.DataFrame({
        "grpvar": layout.group, "term": effect, "grp": layout.levels,
        "condval": value[:, j], "condsd": sd[:, j],
    }) for j, effect in enumerate(layout.effects)], ignore_index=True)


def ranef_by_group(long: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """lme4's ``ranef(fit)``: per grouping factor a DataFrame indexed by its levels, one
    column per effect (the terms of one factor side by side, ``(1|g) + (0 + x|g)`` as
    ``(1 + x|g)``)."""
    out = {}
    for group, rows in long.groupby("grpvar", sort=False):
        wide = rows.pivot(index="grp", columns="term", values="condval")
        levels = list(dict.fromkeys(rows["grp"]))
        effects = list(dict.fromkeys(rows["term"]))
        out[str(group)] = wide.loc[levels, effects].rename_axis(index=None, columns=None)
    return out


def lme4_term_order(problem: Problem) -> Array:
    """lme4's order of the random terms: by decreasing number of levels of the grouping
    factor (of random effects, for a matrix term), ties in formula order; lme4's i-th
    term is term ``order[i]``."""
    sizes = np.array([b.n_levels if isinstance(b, Grouped) else block_width(b)
                      for b in problem.blocks])
    return np.argsort(-sizes, kind="stable")


def start_in_term_order(start: object, problem: Problem) -> dict | None:
    """lme4's ``start`` (theta in lme4's order of the terms, or a dict with "theta" and
    "disp_coef") as a dict whose theta follows the model's terms."""
    if start is None:
        return None
    out = dict(start) if isinstance(start, dict) else {"theta": start}
    if out.get("theta") is not None:
        order = lme4_term_order(problem)
        sizes = [problem.terms[k].n_theta for k in order]
        try:
            out["theta"] = reorder_theta(np.ravel(out["theta"]), sizes, np.argsort(order))
        except ValueError as err:
            raise ValueError(f"start: {err}") from err
    return out
