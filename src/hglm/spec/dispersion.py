"""The designs of the dispersion models.

In the formula interfaces, ``disp="~ x2 + x3"`` is evaluated on the rows used by the mean
model (:func:`disp_design`); random terms in it make a double HGLM.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .bars import parse_disp
from .encoding import RandomTerm
from .model_matrix import fixed_matrix
from .random_terms import make_random_terms
from .variables import as_frame, check_known_columns, data_columns, model_columns


def disp_design(formula: str, data: Any, rows: np.ndarray) -> tuple[pd.DataFrame, list[RandomTerm]]:
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
    random : list of RandomTerm
        Its random-effect terms (empty for an ordinary dispersion model).

    Raises
    ------
    ValueError
        For an empty formula, a left-hand side, ``offset()``, an unknown column, or missing
        values in the given rows (pass the formula's columns,
        :func:`~.variables.formula_columns`, as ``extra_columns`` of the mean model so that
        such rows are dropped there).
    """
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
    X, _ = fixed_matrix(sub, model.fixed, "disp formula")
    return X, make_random_terms(sub, model.bars)
