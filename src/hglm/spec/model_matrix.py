"""Formula parts evaluated on a frame: model matrices and the values of expressions.

The fixed part and the random-term covariates are handed to formulaic (treatment-coded
factors, ``a*b``, ``a:b``, ``0 +``/``- 1``, ``I(...)``, ``C(...)``, ``np.log(x)``,
``log(x)``, ``factor(x)`` as an alias of ``C(x)``).  Speed: a right-hand side that is a
plain sum of numeric columns (``x1 + x2``, ``0 + x``) is assembled here, exactly as
formulaic would, and formulaic's ModelSpec for it is only built when needed
(:class:`PlainSpec`).

The response, weights and offsets are Python expressions over the columns, so a
proportion is written ``r/n ~ ...`` (or ``I(r/n) ~ ...``): ``/`` is a division there, not
formula nesting.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from formulaic import ModelSpec, model_matrix
from formulaic.errors import FormulaicError

from .levels import factor_levels
from .variables import CONTEXT, INTERCEPT, R_INTERCEPT, plain_sum


@dataclass(frozen=True)
class PlainSpec:
    """The formulaic ModelSpec of a plain sum of numeric columns, built on first use.

    Such a spec depends on the formula and the columns' dtypes only, not on the values,
    so it is built on a one-row frame of zeros (and cached).
    """

    formula: str
    dtypes: tuple[tuple[str, str], ...]

    def build(self) -> ModelSpec:
        return _plain_spec(self.formula, self.dtypes)


def formulaic_matrix(formula: str, frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """formulaic's model matrix (missing values kept), errors as ValueError."""
    try:
        return model_matrix(formula, frame, context=CONTEXT, na_action="ignore")
    except FormulaicError as err:
        raise ValueError(f"{where}: cannot evaluate {formula!r}: {err}") from err


def fixed_matrix(
    frame: pd.DataFrame, rhs: str, where: str
) -> tuple[pd.DataFrame, ModelSpec | PlainSpec]:
    """The fixed design with R's ``(Intercept)`` name, float values, and its ModelSpec.

    A plain sum of numeric columns (``x1 + x2``, ``0 + x``) is assembled here, exactly
    as formulaic would (same columns, order and values), without formulaic; its ModelSpec
    is built on first use.  Everything else is formulaic's.
    """
    plain = plain_columns(frame, rhs)
    if plain is None:
        matrix = formulaic_matrix(rhs, frame, where)
        return _float_frame(matrix), matrix.model_spec
    intercept, names = plain
    columns = [R_INTERCEPT] * intercept + list(names)
    values = np.empty((len(columns), len(frame)))
    if intercept:
        values[0] = 1.0
    for row, name in enumerate(names, start=int(intercept)):
        values[row] = frame[name].to_numpy()
    X = pd.DataFrame(values.T, columns=columns, copy=False)
    return X, PlainSpec(rhs, tuple((name, frame[name].dtype.str) for name in names))


def plain_columns(frame: pd.DataFrame, rhs: str) -> tuple[bool, tuple[str, ...]] | None:
    """:func:`~.variables.plain_sum` of ``rhs`` when its names are numeric (or boolean)
    columns of ``frame`` with NumPy dtypes, which formulaic encodes as they are; else
    None."""
    plain = plain_sum(rhs)
    if plain is None or not frame.columns.is_unique:
        return None
    for name in plain[1]:
        if name not in frame.columns:
            return None
        dtype = frame[name].dtype
        if not isinstance(dtype, np.dtype) or dtype.kind not in "biuf":
            return None
    return plain


@functools.lru_cache(maxsize=128)
def _plain_spec(formula: str, dtypes: tuple[tuple[str, str], ...]) -> ModelSpec:
    """formulaic's ModelSpec of a plain sum of numeric columns with these dtypes."""
    frame = pd.DataFrame({name: np.zeros(1, dtype=np.dtype(code)) for name, code in dtypes})
    return formulaic_matrix(formula, frame, "formula").model_spec


def _float_frame(matrix: pd.DataFrame) -> pd.DataFrame:
    """A plain float DataFrame of a model matrix, ``Intercept`` renamed ``(Intercept)``."""
    columns = [R_INTERCEPT if c == INTERCEPT else str(c) for c in matrix.columns]
    return pd.DataFrame(np.asarray(matrix, dtype=float), columns=columns)


def _values(frame: pd.DataFrame, expr: str, what: str) -> pd.Series:
    """A column of ``frame``, or the Python expression ``expr`` evaluated over its columns."""
    if expr in frame.columns:
        return frame[expr]
    matrix = formulaic_matrix(f"0 + I({expr})", frame, what)
    if matrix.shape[1] != 1:
        raise ValueError(f"{what} {expr!r} must evaluate to one numeric column")
    return matrix.iloc[:, 0]


def numeric_values(frame: pd.DataFrame, expr: str, what: str) -> np.ndarray:
    """``expr`` evaluated as floats; booleans become 0/1."""
    values = _values(frame, expr, what)
    if not pd.api.types.is_numeric_dtype(values):
        raise ValueError(f"{what} {expr!r} must be numeric, not {values.dtype}")
    return values.to_numpy(dtype=float, na_value=np.nan)


def sum_offsets(frame: pd.DataFrame, expressions: Sequence[str]) -> np.ndarray:
    """The sum of the offset expressions evaluated on ``frame``."""
    return np.sum([numeric_values(frame, e, "offset") for e in expressions], axis=0)


def response_values(frame: pd.DataFrame, expr: str, binomial: bool) -> np.ndarray:
    """The response as floats (see :func:`_response_from_series` for the rules)."""
    return _response_from_series(_values(frame, expr, "response"), expr, binomial)


def _response_from_series(values: pd.Series, name: str, binomial: bool) -> np.ndarray:
    """Numbers as floats, booleans as 0/1, a two-level factor as 0/1 when binomial.

    For a two-level factor, the last level is 1 (a success): the last category of a
    pandas Categorical, otherwise the last of the sorted distinct values, as in R.
    """
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype=float, na_value=np.nan)
    if not binomial:
        raise ValueError(
            f"response {name!r} is {values.dtype}, not numeric; a factor response needs the "
            "binomial family"
        )
    levels = factor_levels(values)
    if len(levels) != 2:
        raise ValueError(
            f"response {name!r}: a binomial factor response needs exactly two levels, "
            f"found {len(levels)}: {levels[:5]}"
        )
    return (values.astype(str).to_numpy() == levels[1]).astype(float)
