"""The random-effect terms of parsed bars on a frame (lme4's ``mkReTrms``).

Each bar ``(covariates|group)`` gives, per grouping factor (``a/b`` is ``a`` and
``a:b``; ``factor(g)`` and ``as.factor(g)`` have ``g``'s levels), one
:class:`~.encoding.RandomTerm` per column of its covariate formula: the intercept
``(1|g)``, or a slope ``(0 + x|g)``.  hglm has no correlated random effects
within a group, so the intercept and slope of ``(x|g)`` are independent terms.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from formulaic import ModelSpec

from .bars import Bar, group_columns
from .encoding import RandomTerm
from .levels import levels_and_codes
from .model_matrix import PlainSpec, formulaic_matrix, plain_columns
from .variables import INTERCEPT, R_INTERCEPT


def make_random_terms(frame: pd.DataFrame, bars: Sequence[Bar]) -> list[RandomTerm]:
    """All random terms of the bars: per grouping factor, one term per covariate column.

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
            terms += [
                _random_term(column, values, spec, group, levels, codes)
                for column, values, spec in covariates
            ]
    return terms


def _covariates(
    frame: pd.DataFrame, formula: str
) -> list[tuple[str, np.ndarray | None, ModelSpec | PlainSpec | None]]:
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
