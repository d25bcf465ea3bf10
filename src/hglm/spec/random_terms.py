"""The random-effect terms of parsed bars on a frame (lme4's ``mkReTrms``).

Each bar ``(covariates|group)`` gives terms per grouping factor (``a/b`` is ``a`` and
``a:b``; ``factor(g)`` and ``as.factor(g)`` have ``g``'s levels), with lme4's meaning:

* ``(1 + x|g)``, ``(x|g)`` (the intercept is implicit), ``(0 + x + z|g)``: a covariate
  formula of two or more columns is one vector-valued term
  (:class:`~.encoding.VectorTerm`), its effects correlated within a level;
* ``(1 + x||g)``: one independent scalar term (:class:`~.encoding.RandomTerm`) per
  column, ``(1|g) + (0 + x|g)``;
* ``(1|g)``, ``(0 + x|g)``: a single column is a scalar term.

A factor covariate is expanded into its model-matrix columns as lme4 does (treatment
contrasts after an intercept, one column per level without one).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from formulaic import ModelSpec

from .bars import Bar, group_columns
from .encoding import FormulaTerm, RandomTerm, VectorTerm
from .levels import levels_and_codes
from .model_matrix import PlainSpec, formulaic_matrix, plain_columns
from .variables import INTERCEPT, R_INTERCEPT

Covariate = tuple[str, np.ndarray | None, ModelSpec | PlainSpec | None]
"""A column of a covariate formula: R's name, its values (None for the intercept) and
the spec that rebuilds it."""


def make_random_terms(frame: pd.DataFrame, bars: Sequence[Bar]) -> list[FormulaTerm]:
    """All random terms of the bars: per grouping factor, one vector-valued term for a
    ``|`` bar of several columns, else one scalar term per covariate column.

    Raises
    ------
    ValueError
        For a covariate formula without columns, or one formulaic cannot evaluate.
    """
    terms = []
    for bar in bars:
        covariates = _covariates(frame, bar.covariates)
        if not covariates:
            raise ValueError(f"random term ({bar.covariates}|...) has no covariate")
        for group in bar.groups:
            levels, codes = levels_and_codes(frame, group_columns(group))
            if len(covariates) > 1 and not bar.independent:
                terms.append(_vector_term(covariates, group, levels, codes))
                continue
            terms += [
                _random_term(column, values, spec, group, levels, codes)
                for column, values, spec in covariates
            ]
    return terms


def _covariates(frame: pd.DataFrame, formula: str) -> list[Covariate]:
    """The columns of a random term's covariate formula: (R's name, values, spec), values
    and spec None for the intercept."""
    plain = plain_columns(frame, formula)
    if plain is not None:
        intercept, names = plain
        spec = PlainSpec(formula, tuple((name, frame[name].dtype.str) for name in names))
        return [(INTERCEPT, None, None)] * intercept + [
            (name, frame[name].to_numpy(dtype=float), spec) for name in names
        ]
    matrix = formulaic_matrix(formula, frame, "random term")
    return [
        (INTERCEPT, None, None)
        if column == INTERCEPT
        else (column, matrix[column].to_numpy(dtype=float, na_value=np.nan), matrix.model_spec)
        for column in matrix.columns
    ]


def _random_term(
    column: str,
    values: np.ndarray | None,
    spec: ModelSpec | PlainSpec | None,
    group: tuple[str, ...],
    levels: list[str],
    codes: np.ndarray,
) -> RandomTerm:
    """One term: the level indicators of ``group`` times covariate ``column``."""
    group_name = ":".join(group)
    if values is None:
        label, prefix, covariate = f"(1|{group_name})", R_INTERCEPT, None
    else:
        label, prefix, covariate = f"(0 + {column}|{group_name})", str(column), str(column)
    start = f"{prefix}|{group_name}:"
    return RandomTerm(
        label=label,
        group=group_name,
        columns=group_columns(group),
        levels=levels,
        names=[start + level for level in levels],
        codes=codes,
        values=values,
        covariate=covariate,
        _covariate_spec=spec,
    )


def _vector_term(
    covariates: list[Covariate], group: tuple[str, ...], levels: list[str], codes: np.ndarray
) -> VectorTerm:
    """The vector-valued term of the columns ``covariates`` on ``group``."""
    group_name = ":".join(group)
    effects = tuple(R_INTERCEPT if values is None else str(column)
                    for column, values, _ in covariates)
    slopes = [column for column, values, _ in covariates if values is not None]
    written = (["1"] if effects[0] == R_INTERCEPT else ["0"]) + slopes
    values = np.column_stack([
        np.ones(codes.shape[0]) if v is None else v for _, v, _ in covariates
    ])
    spec = next((s for _, v, s in covariates if v is not None), None)
    return VectorTerm(
        label=f"({' + '.join(written)}|{group_name})",
        group=group_name,
        columns=group_columns(group),
        levels=levels,
        effects=effects,
        names=[f"{effect}|{group_name}:{level}" for level in levels for effect in effects],
        codes=codes,
        values=values,
        _covariate_spec=spec,
    )
