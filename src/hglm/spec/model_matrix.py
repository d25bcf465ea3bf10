"""Formula parts evaluated on a frame: model matrices and the values of expressions.

The fixed part and the random-term covariates are handed to formulaic with R's
conventions (:mod:`.materializer`: treatment-coded factors named ``period2``, logicals as
factors): ``a*b``, ``a:b``, ``0 +``/``- 1``, ``I(...)``, ``C(...)``, ``np.log(x)``, R's
``log(x)``, ``sqrt(x)``, ``abs(x)``, ``exp(x)``, ``scale(x)``, ``factor(x)`` and
``as.factor(x)`` (:data:`~.r_syntax.FUNCTIONS`).  Speed: a right-hand side that is a
plain sum of numeric columns (``x1 + x2``, ``0 + x``) is assembled here, exactly as
formulaic would, and formulaic's ModelSpec for it is only built when needed
(:class:`PlainSpec`).

The response, weights and offsets are Python expressions over the columns, so a
proportion is written ``r/n ~ ...`` (or ``I(r/n) ~ ...``): ``/`` is a division there, not
formula nesting.  A ``cbind(successes, failures)`` response gives the proportion of
successes and the numbers of trials (:func:`binomial_counts`).
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
from .materializer import NAME
from .r_syntax import FUNCTIONS
from .variables import INTERCEPT, R_INTERCEPT, plain_sum


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


def formulaic_matrix(
    formula: str, frame: pd.DataFrame, where: str, materializer: str = NAME
) -> pd.DataFrame:
    """formulaic's model matrix (missing values kept) with R's conventions, or those of
    formulaic's ``materializer``; errors as ValueError."""
    try:
        return model_matrix(
            formula, frame, context=FUNCTIONS, na_action="ignore", materializer=materializer
        )
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
    """:func:`~.variables.plain_sum` of ``rhs`` when its names are numeric columns of
    ``frame`` with NumPy dtypes, which formulaic encodes as they are (booleans are
    factors); else None."""
    plain = plain_sum(rhs)
    if plain is None or not frame.columns.is_unique:
        return None
    for name in plain[1]:
        if name not in frame.columns:
            return None
        dtype = frame[name].dtype
        if not isinstance(dtype, np.dtype) or dtype.kind not in "iuf":
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
    """A column of ``frame``, or the Python expression ``expr`` evaluated over its columns
    (a boolean stays one column)."""
    if expr in frame.columns:
        return frame[expr]
    matrix = formulaic_matrix(f"0 + I({expr})", frame, what, materializer="pandas")
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


def binomial_counts(
    frame: pd.DataFrame, counts: tuple[str, str], where: str
) -> tuple[np.ndarray, np.ndarray]:
    """The proportion of successes and the numbers of trials of ``cbind(s, f)``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The data.
    counts : (str, str)
        The expressions of the successes and the failures.
    where : str
        The formula, named in errors.

    Returns
    -------
    y, trials : numpy.ndarray
        ``s / (s + f)`` (NaN where ``s + f`` is 0) and ``s + f``.

    Raises
    ------
    ValueError
        For a negative count.
    """
    successes, failures = (numeric_values(frame, expr, "response") for expr in counts)
    for expr, values in zip(counts, (successes, failures), strict=True):
        if (values < 0).any():
            raise ValueError(
                f"{where}: the counts {expr!r} of the cbind(successes, failures) response "
                f"must not be negative (found {values[values < 0][0]:g})"
            )
    trials = successes + failures
    with np.errstate(invalid="ignore", divide="ignore"):
        return successes / trials, trials


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
