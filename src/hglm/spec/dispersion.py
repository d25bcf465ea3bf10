"""The designs of the dispersion models: of the residual dispersion phi (R's X.disp) and
of each random term's dispersion lambda (R's X.rand.disp).

In the formula interfaces, ``disp="~ x2 + x3"`` is evaluated on the rows used by the mean
model (:func:`disp_design`; random terms in it make a double HGLM), and
``rand_disp="~ region"`` on one row per level of a random term, from covariates constant
within the level (:func:`level_designs`).  In the matrix interface, ``x_rand_disp`` is
checked here (:func:`rand_disp_designs`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from .bars import parse_disp
from .encoding import FormulaTerm, ModelDesign, VectorTerm
from .model_matrix import fixed_matrix
from .random_terms import make_random_terms
from .validation import check_full_rank, column_names, finite_matrix
from .variables import as_frame, check_known_columns, data_columns, formula_columns, model_columns

Array = np.ndarray


def disp_design(
    formula: str, data: Any, rows: np.ndarray
) -> tuple[pd.DataFrame, list[FormulaTerm]]:
    """Evaluate a dispersion formula on the rows used by the mean model.

    Parameters
    ----------
    formula : str
        One-sided formula, ``"~ x2 + x3"``, or with random terms (double HGLM),
        ``"~ 1 + (1|ID)"``.
    data : pandas.DataFrame or dict of columns
        The same data as given to the mean model.
    rows : numpy.ndarray
        ``ModelDesign.rows`` of the mean model.

    Returns
    -------
    X_disp : pandas.DataFrame
        The fixed-effect design of the dispersion model (``"(Intercept)"`` as in R).
    random : list of RandomTerm or VectorTerm
        Its random-effect terms (empty for an ordinary dispersion model).

    Raises
    ------
    ValueError
        For an empty formula, a left-hand side, ``offset()``, an unknown column, or missing
        values in the given rows (pass the formula's columns, :func:`dispersion_columns`,
        as ``extra_columns`` of the mean model so that such rows are dropped there).
    """
    X, _, random = disp_model_matrix(formula, data, rows)
    return X, random


def disp_model_matrix(
    formula: str, data: Any, rows: np.ndarray
) -> tuple[pd.DataFrame, Any, list[FormulaTerm]]:
    """:func:`disp_design` with the encoding of its fixed design (formulaic's
    ModelSpec, whose ``transform_state`` holds stateful transforms)."""
    frame = as_frame(data, "data")
    model = parse_disp(formula)
    check_known_columns(frame, model_columns(model), "disp formula")
    sub = frame.iloc[np.asarray(rows, dtype=int)].reset_index(drop=True)
    used = data_columns(sub, model_columns(model))
    incomplete = [c for c in used if sub[c].isna().any()]
    if incomplete:
        raise ValueError(
            f"disp formula: column(s) {', '.join(incomplete)} have missing values in the "
            "rows used by the mean model; give them as extra_columns to the mean model"
        )
    X, spec = fixed_matrix(sub, model.fixed, "disp formula")
    return X, spec, make_random_terms(sub, model.bars)


def dispersion_columns(disp: str | None, rand_disp: str | dict[str, str] | None) -> list[str]:
    """Columns of the dispersion formulas: rows missing them are dropped up front.

    Parameters
    ----------
    disp : str or None
        The residual-dispersion formula.
    rand_disp : str, dict or None
        The random-effect dispersion formula, or one per grouping factor.

    Returns
    -------
    list of str
        The columns, formula by formula (see :func:`~.variables.formula_columns`).
    """
    formulas = [disp] if disp is not None else []
    if isinstance(rand_disp, dict):
        formulas += list(rand_disp.values())
    elif rand_disp is not None:
        formulas.append(rand_disp)
    return [c for f in formulas for c in formula_columns(f)]


def level_designs(
    rand_disp: str | dict[str, str], data: object, design: ModelDesign
) -> list[pd.DataFrame | None]:
    """``x_rand_disp`` from the ``rand_disp`` formula(s): one row per level of each term,
    from covariates that must be constant within the level.

    Parameters
    ----------
    rand_disp : str or dict
        One formula for every term, or formulas by grouping factor (``{"school": "~ size"}``).
    data : pandas.DataFrame or dict of columns
        The data of the mean model.
    design : ModelDesign
        The mean model's design.

    Returns
    -------
    list of pandas.DataFrame or None
        One design per random term (None: intercept only).

    Raises
    ------
    ValueError
        For an unknown grouping factor, random terms in the formula, a level without rows
        or covariates that vary within a level.
    """
    groups = [t.group for t in design.random]
    if isinstance(rand_disp, dict):
        unknown = sorted(set(rand_disp) - set(groups))
        if unknown:
            raise ValueError(f"rand_disp: no random term is grouped by {unknown[0]!r}")
    out: list[pd.DataFrame | None] = []
    for t in design.random:
        formula = rand_disp.get(t.group) if isinstance(rand_disp, dict) else rand_disp
        if formula is None:
            out.append(None)
            continue
        if isinstance(t, VectorTerm):
            raise ValueError(f"rand_disp: random term {t.label} is vector-valued (correlated "
                             "effects), whose covariance has no dispersion model; write it "
                             "with '||' for independent terms")
        X_rows, terms = disp_design(formula, data, design.rows)
        if terms:
            raise ValueError("rand_disp: random effects in a random-effect dispersion model "
                             "are not supported")
        Zr = sparse.csr_matrix(t.Z)
        has = np.diff(Zr.indptr) > 0
        level = np.full(Zr.shape[0], -1)
        level[has] = Zr.indices[Zr.indptr[:-1][has]]
        first = np.full(Zr.shape[1], -1)
        first[level[has][::-1]] = np.flatnonzero(has)[::-1]
        if np.any(first < 0):
            raise ValueError(f"rand_disp: a level of {t.group!r} has no rows to take "
                             "its covariates from")
        values = X_rows.to_numpy(dtype=float)
        if not np.allclose(values[has], values[first][level[has]], equal_nan=True):
            raise ValueError(
                f"rand_disp: the covariates of {formula!r} must be constant within each "
                f"level of {t.group!r}"
            )
        out.append(pd.DataFrame(values[first], columns=X_rows.columns))
    return out


def rand_disp_designs(
    x_rand_disp: object, sizes: list[int]
) -> list[tuple[Array | None, list | None]]:
    """One (design, column names) pair per random term for ``x_rand_disp``."""
    k = len(sizes)
    if x_rand_disp is None:
        return [(None, None)] * k
    items = x_rand_disp if isinstance(x_rand_disp, list | tuple) else [x_rand_disp]
    if len(items) != k:
        raise ValueError(f"x_rand_disp: got {len(items)} designs for {k} random terms")
    out = []
    for j, (item, q_k) in enumerate(zip(items, sizes, strict=True)):
        if item is None:
            out.append((None, None))
            continue
        arr = finite_matrix(item, f"x_rand_disp[{j}]", q_k,
                            f"random term {j + 1} has {{n}} effects (columns of Z)")
        names = column_names(item, "", arr.shape[1])
        check_full_rank(arr, names, f"x_rand_disp[{j}]")
        out.append((arr, names))
    return out
