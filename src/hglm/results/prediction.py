"""Predictions of a fit: the random part Z v of the linear predictor, the random effects'
means, the linear predictor of new data, and lme4's ``re.form``: with the random effects,
or at the population level, where new data need no grouping columns.

The formula layer rebuilds the fixed design and the random blocks of new data together
(``spec.new_design``), and a level it has not seen (or a missing one) gets an empty row,
the random effect's mean.  A population-level prediction therefore hands it the new data
with every grouping column set to a missing level (and the slope covariates it lacks as
zeros): every random row is empty, and the random effects are at their mean.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import sparse

from ..engine import block_matvec, block_width
from ..spec import ModelDesign, Problem, new_design, new_offset

Array = np.ndarray

_POPULATION = {"NA", "~0", "~ 0", "~-1", "~ -1"}


def term_slices(blocks: list[object]) -> list[slice]:
    """The slice of v (term order) that belongs to each block of Z."""
    ends = np.cumsum([block_width(b) for b in blocks])
    return [slice(int(e - block_width(b)), int(e)) for b, e in zip(blocks, ends, strict=True)]


def random_part(blocks: list[object], v: Array) -> Array:
    """Z v for the engine's blocks of Z (one per term, in order) and v in term order."""
    parts = [block_matvec(block, v[sl])
             for block, sl in zip(blocks, term_slices(blocks), strict=True)]
    return np.sum(parts, axis=0)


def re_form_population(re_form: object) -> bool:
    """Whether ``re_form`` asks for population-level predictions.

    Parameters
    ----------
    re_form : None, str or float
        None (lme4's ``re.form = NULL``): with the random effects; ``"NA"``, ``"~0"``
        or NaN (lme4's ``re.form = NA`` or ``~0``): without them.

    Returns
    -------
    bool

    Raises
    ------
    ValueError
        For any other value (lme4's partial formulas are not supported).
    """
    if re_form is None:
        return False
    if isinstance(re_form, float) and math.isnan(re_form):
        return True
    if isinstance(re_form, str) and re_form.strip() in _POPULATION:
        return True
    raise ValueError(
        f"re_form: must be None (with the random effects) or 'NA' / '~0' (population "
        f"level), got {re_form!r}"
    )


def population_frame(newdata: object, design: ModelDesign) -> pd.DataFrame:
    """``newdata`` with every grouping column of the random terms set to a missing level
    (added where it lacks one), and the slope covariates it lacks added as zeros.

    Parameters
    ----------
    newdata : DataFrame or dict of columns
    design : ModelDesign
        The fitted model's design.

    Returns
    -------
    DataFrame
        A copy.
    """
    frame = newdata if isinstance(newdata, pd.DataFrame) else pd.DataFrame(dict(newdata))
    added: dict[str, object] = {}
    for term in design.random:
        for column in term.columns:
            added[column] = [None] * len(frame)
        spec = term.covariate_spec
        for column in () if spec is None else spec.required_variables:
            if column not in frame.columns and column not in added:
                added[column] = 0.0
    return frame.assign(**added)


def mean_v(problem: Problem) -> Array:
    """The mean of each random effect on the v scale, v(psi): 0 but for an inverse-Gamma
    term with the inverse link (v = 1/u, E(u) = 1)."""
    return np.concatenate([
        np.full(block_width(b), float(t.family.link.link(np.array(t.family.psi))))
        for b, t in zip(problem.blocks, problem.terms, strict=True)
    ])


def linear_predictor(problem: Problem, X: Array, blocks: list[object], beta: Array,
                     v: Array, offset: Array | None) -> Array:
    """The linear predictor of rows given by their fixed design and blocks of Z.

    Parameters
    ----------
    problem : Problem
        The fitted model's arrays (its terms' transforms and random families).
    X : ndarray
        The rows' fixed design (the fitted model's columns).
    blocks : list
        The rows' columns of Z of each term, as given (before a known covariance's or a
        spatial term's transform).
    beta, v : ndarray
        Fixed effects and conditional modes (fitted scale).
    offset : ndarray or None
        The rows' offset.

    Returns
    -------
    ndarray
        X beta + Z u (+ offset), u = T v for a correlated term fitted on independent
        effects v (``RandomTermModel.transform``); a row without a level of a term (no
        entry in its block: a new, missing or population-level level) gets the random
        effect's mean.
    """
    eta = X @ beta
    means = mean_v(problem)
    for block, sl, term in zip(blocks, term_slices(problem.blocks), problem.terms, strict=True):
        rows = sparse.csr_matrix(block)
        vk = v[sl] if term.transform is None else term.transform @ v[sl]
        eta = eta + rows @ vk + means[sl.start] * (np.diff(rows.indptr) == 0)
    return eta if offset is None else eta + offset


def new_linear_predictor(problem: Problem, design: ModelDesign, beta: Array, v: Array,
                         newdata: object, population: bool, offset: object | None,
                         unseen: str = "mean") -> Array:
    """The linear predictor of new rows of a formula fit.

    Parameters
    ----------
    problem : Problem
        The fitted model's arrays.
    design : ModelDesign
        Its formula layer's design.
    beta, v : ndarray
        Fixed effects and conditional modes (fitted scale).
    newdata : DataFrame or dict of columns
    population : bool
        Random effects at their mean (:func:`population_frame`).
    offset : array-like or None
        The rows' offset; None: the formula's ``offset()`` terms, else 0.
    unseen : {"mean", "raise"}
        A level not seen in fitting gets the random effect's mean, or raises ValueError.

    Returns
    -------
    ndarray
        :func:`linear_predictor` of the rows the design encodes from ``newdata``.
    """
    frame = population_frame(newdata, design) if population else newdata
    X, blocks = new_design(design, frame, unseen=unseen)
    rows_offset = new_offset(design, frame) if offset is None else np.asarray(offset,
                                                                               dtype=float)
    return linear_predictor(problem, X, blocks, beta, v, rows_offset)
