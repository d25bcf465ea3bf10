"""Formulas and a data frame -> :class:`~.ordinal.OrdinalDesign`.

npmlt's surface: ``formula`` (response and proportional-odds covariates),
``formula_npo`` (one-sided: the covariates with category-specific coefficients),
``random`` (one-sided: the random covariates, ``~ 1 + trt``) and ``id`` (the cluster
column).  clmm's surface: one formula with a single bar ``(1 | id)``.  The intercept of
each right-hand side gives way to the thresholds; a covariate named in ``formula_npo``
leaves the proportional part.  Rows with a missing value in a used column are dropped,
except in ``id``, where a missing cluster is an error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .bars import group_columns, parse_formula, parse_lme4
from .levels import levels_and_codes
from .model_matrix import fixed_matrix, response_values
from .ordinal import OrdinalDesign, ordinal_response
from .ordinal_encoding import OrdinalEncoding
from .r_syntax import to_python
from .variables import R_INTERCEPT


def _one_sided(formula: str, argument: str) -> str:
    text = formula.strip()
    if not text.startswith("~"):
        raise ValueError(f"{argument} must be a one-sided formula such as '~ 1 + trt', "
                         f"not {formula!r}")
    return to_python(text[1:].strip())


def _matrix(frame: pd.DataFrame, rhs: str, where: str,
            intercept: bool = False) -> tuple[pd.DataFrame, object]:
    """The columns of ``rhs`` and formulaic's spec; the intercept dropped unless asked
    (the thresholds take its place)."""
    X, spec = fixed_matrix(frame, rhs, where)
    return (X if intercept else X.drop(columns=[R_INTERCEPT], errors="ignore")), spec


def _response(frame: pd.DataFrame, expr: str) -> pd.Series:
    if expr in frame.columns:
        return frame[expr]
    return pd.Series(response_values(frame, expr, False))


def _cluster(frame: pd.DataFrame, id: str, argument: str) -> tuple[list[str], np.ndarray]:
    if id not in frame.columns:
        raise ValueError(f"{argument}: no column {id!r} in data")
    if frame[id].isna().any():
        raise ValueError(f"{argument}: column {id!r} has missing values; every row needs "
                         "its cluster (drop those rows)")
    return levels_and_codes(frame, (id,))


def ordinal_design(
    formula: str,
    data: pd.DataFrame,
    *,
    id: str,
    random: str | None = None,
    formula_npo: str | None = None,
    cumulative: bool = True,
    link: str = "logit",
    id_argument: str = "id",
) -> OrdinalDesign:
    """The arrays of an ordinal model from npmlt-style formulas.

    Parameters
    ----------
    formula : str
        ``y ~ covariates``; the intercept becomes the thresholds.
    data : DataFrame
    id : str
        The column naming each row's cluster.
    random : str, optional
        One-sided formula of the random covariates (``"~ 1"``, ``"~ 1 + trt"``); None for
        no random effects.
    formula_npo : str, optional
        One-sided formula of the covariates with category-specific coefficients.
    cumulative, link : the model (cumulative with a link, or baseline-category logit).
    id_argument : str
        The argument's name used in error messages.
    """
    if not isinstance(data, pd.DataFrame):
        raise ValueError("data must be a pandas DataFrame")
    data = data.reset_index(drop=True)
    model = parse_formula(formula)
    labels, cluster = _cluster(data, id, id_argument)
    X, fixed_spec = _matrix(data, model.fixed, "formula")
    npo, npo_spec = pd.DataFrame(index=data.index), None
    if formula_npo is not None:
        npo, npo_spec = _matrix(data, _one_sided(formula_npo, "formula_npo"), "formula_npo")
        X = X.drop(columns=[c for c in npo.columns if c in X.columns])
    Z, random_spec = pd.DataFrame(index=data.index), None
    if random is not None:
        Z, random_spec = _matrix(data, _one_sided(random, "random"), "random", True)
    y = _response(data, model.response)
    keep = ~(y.isna().to_numpy() | X.isna().any(axis=1).to_numpy()
             | npo.isna().any(axis=1).to_numpy() | Z.isna().any(axis=1).to_numpy())
    rows = np.flatnonzero(keep)
    response = ordinal_response(y.iloc[rows].reset_index(drop=True), "response")
    if rows.size < len(data):
        labels, cluster = levels_and_codes(data.iloc[rows].reset_index(drop=True), (id,))
    return OrdinalDesign(
        response=response,
        X=X.to_numpy(dtype=float)[rows],
        x_names=tuple(X.columns),
        X_npo=npo.to_numpy(dtype=float)[rows],
        npo_names=tuple(npo.columns),
        Z=Z.to_numpy(dtype=float)[rows],
        z_names=tuple(Z.columns),
        cluster=cluster,
        cluster_labels=tuple(labels),
        cumulative=cumulative,
        link=link,
        encoding=OrdinalEncoding(fixed_spec, tuple(X.columns), npo_spec, tuple(npo.columns),
                                 random_spec, tuple(Z.columns), id),
    )


def clmm_design(formula: str, data: pd.DataFrame, link: str) -> OrdinalDesign:
    """The arrays of a clmm formula ``y ~ covariates + (terms | id)``: one random term of
    one grouping column, ``(1 | id)`` or ``(1 + x | id)`` (as in lme4, ``(x | id)``
    includes the intercept and ``(0 + x | id)`` does not)."""
    model = parse_lme4(formula)
    if len(model.bars) != 1 or len(model.bars[0].groups) != 1:
        raise ValueError("formula: clmm here takes exactly one random-effects term "
                         "(terms | group), e.g. 'y ~ trt + (1 | id)'")
    bar = model.bars[0]
    if len(bar.groups[0]) != 1 or bar.independent:
        raise ValueError("formula: the random term must be (terms | group) with one grouping "
                         "column (no a:b groups, no ||)")
    fixed = f"{model.response} ~ {model.fixed}"
    return ordinal_design(fixed, data, id=group_columns(bar.groups[0])[0],
                          random=f"~ {bar.covariates}", link=link, id_argument="formula")
