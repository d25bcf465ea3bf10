"""The formula materializer: R-style model formulas and a data frame become the design.

Two formula dialects are understood, as in R's hglm package:

* ``hglm(fixed="y ~ week", random="~ 1|ID")`` -- :func:`design_from_formulas`;
* ``hglm2("y ~ week + (1|ID)")`` (lme4 style) -- :func:`design_from_lme4`.

The formula is parsed (:mod:`.bars`), its columns checked against the data
(:mod:`.variables`), the rows with missing values in them dropped (with a warning, as R's
``na.omit``), and the parts evaluated on the rows left: response, fixed design
(:mod:`.model_matrix`), random terms (:mod:`.random_terms`), weights and offset.
``offset(expr)`` terms in a formula are added to the ``offset`` argument, as R does.  A
row where an evaluated expression is NaN (``log(x)`` of a negative x) is dropped too.
A binomial response ``cbind(successes, failures)`` is the proportion ``s / (s + f)`` with
prior weights ``s + f`` times the ``weights`` argument, as R's ``glm`` and ``glmer`` take
it (rows without trials, ``s + f = 0``, carry no information and are dropped with the
warning).  The result keeps the encoding to apply to new data (:mod:`.encoding`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from formulaic import ModelSpec

from .._warn import warn
from .bars import ParsedModel, parse_hglm, parse_lme4
from .encoding import FormulaTerm, ModelDesign
from .model_matrix import (
    PlainSpec,
    binomial_counts,
    fixed_matrix,
    numeric_values,
    response_values,
    sum_offsets,
)
from .r_syntax import r_name
from .random_terms import make_random_terms
from .validation import check_column_types, check_prior_weights
from .variables import (
    as_frame,
    bar_columns,
    check_known_columns,
    data_columns,
    expression_columns,
    expressions_columns,
    model_columns,
)


@dataclass
class _Parts:
    """The model evaluated on a set of complete rows."""

    y: np.ndarray
    X: pd.DataFrame
    fixed_spec: ModelSpec | PlainSpec
    random: list[FormulaTerm]
    weights: np.ndarray | None
    offset: np.ndarray | None


def design_from_formulas(
    fixed: str,
    random: str | None,
    data: Any,
    *,
    weights: str | Sequence[float] | np.ndarray | None = None,
    offset: str | Sequence[float] | np.ndarray | None = None,
    binomial: bool = False,
    extra_columns: Sequence[str] = (),
) -> ModelDesign:
    """Build the design of R's ``hglm(fixed=, random=, data=)`` formula interface.

    Parameters
    ----------
    fixed : str
        Two-sided formula of the mean model, e.g. ``"y ~ week"``,
        ``'r/n ~ extract*I(seed == "O73")'`` or ``"cbind(r, n - r) ~ extract"``; may
        contain ``offset(expr)`` terms.
    random : str or None
        One-sided formula of the random part: ``"~ 1|ID"``, ``"~ 0 + x|g"`` or several
        parenthesized terms ``"~ (1|ID) + (1|g)"``. None for no random effects.
    data : pandas.DataFrame or dict of columns
        The data; a dict (or a frame with ``to_pandas()``, e.g. polars) is converted.
    weights, offset : str, array-like or None
        Arrays of length ``len(data)``, or a column name / expression over the columns
        (``offset="np.log(t)"``).
    binomial : bool
        Whether the family is binomial, which allows a two-level factor response (the last
        level in sorted order, or in category order for a pandas Categorical, is 1) and a
        ``cbind(successes, failures)`` response.
    extra_columns : sequence of str
        Further columns that must be free of missing values for a row to be used (e.g. the
        columns of the ``disp`` formula, see :func:`~.variables.formula_columns`).

    Returns
    -------
    ModelDesign

    Raises
    ------
    ValueError
        For an empty or malformed formula, an unknown column, a random term without a
        grouping factor, a response of the wrong type, a ``cbind()`` response with
        negative counts or without ``binomial``, or unusable ``data``.

    Warns
    -----
    UserWarning
        When rows with missing values are dropped (how many, and in which columns).
    """
    frame = as_frame(data, "data")
    model = parse_hglm(fixed, random)
    return _build_design(
        frame, model, weights, offset, binomial, extra_columns, f"fixed={fixed!r}"
    )


def design_from_lme4(
    formula: str,
    data: Any,
    *,
    weights: str | Sequence[float] | np.ndarray | None = None,
    offset: str | Sequence[float] | np.ndarray | None = None,
    binomial: bool = False,
    extra_columns: Sequence[str] = (),
) -> ModelDesign:
    """Build the design of an lme4-style formula (R's ``hglm2``).

    ``"y ~ x1 + x2 + (1|z1) + (1|z2)"``; ``(0 + x|g)`` is a random slope without
    intercept; ``(1|a/b)`` is ``(1|a) + (1|a:b)``.  As in lme4, ``(x|g)`` (or
    ``(1 + x|g)``) is one vector-valued term whose intercept and slope are correlated
    (:class:`~.encoding.VectorTerm`), while ``(x||g)`` is the independent terms
    ``(1|g) + (0 + x|g)`` (R's hglm2 reads ``(x|g)`` so).

    Parameters
    ----------
    formula : str
        The two-sided formula with random terms in parentheses; may contain
        ``offset(expr)`` terms.
    data, weights, offset, binomial, extra_columns
        As for :func:`design_from_formulas`.

    Returns
    -------
    ModelDesign

    Raises
    ------
    ValueError
        As for :func:`design_from_formulas`.
    """
    frame = as_frame(data, "data")
    model = parse_lme4(formula)
    return _build_design(
        frame, model, weights, offset, binomial, extra_columns, f"formula={formula!r}"
    )


def _argument_columns(value: Any) -> set[str]:
    """Columns of a ``weights``/``offset`` argument given as a column name or expression."""
    return expressions_columns([value]) if isinstance(value, str) else set()


def _argument(value: Any, name: str, n: int) -> str | np.ndarray | None:
    """A ``weights``/``offset`` argument: None, an expression, or floats of length ``n``."""
    if value is None or isinstance(value, str):
        return value
    try:
        array = np.asarray(value, dtype=float).reshape(-1)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric or a column name: {err}") from err
    if array.size != n:
        raise ValueError(f"{name} has length {array.size} but data has {n} rows")
    return array


def _build_design(
    frame: pd.DataFrame,
    model: ParsedModel,
    weights: Any,
    offset: Any,
    binomial: bool,
    extra_columns: Sequence[str],
    where: str,
) -> ModelDesign:
    """Validate, drop incomplete rows (with a warning) and evaluate the model; ``where``
    (the formula argument) is named in errors."""
    if model.counts and not binomial:
        raise ValueError(
            f"{where}: a cbind(successes, failures) response needs the binomial family "
            "(family='binomial')"
        )
    _check_parts_known(frame, model, weights, offset, extra_columns)
    weights = _argument(weights, "weights", len(frame))
    offset = _argument(offset, "offset", len(frame))
    columns = (
        model_columns(model)
        | _argument_columns(weights)
        | _argument_columns(offset)
        | set(extra_columns)
    )
    arrays = {"weights": weights, "offset": offset}
    keep, sources = _complete_rows(frame, columns, arrays)
    rows = np.flatnonzero(keep)
    expressions = [model.response, *(model.counts or ()), *model.offsets, weights, offset]
    used = _used_columns(frame, columns, expressions)
    check_column_types(frame, data_columns(frame, columns))
    parts = _evaluate_parts(frame, rows, model, weights, offset, binomial, where, used)
    nan_rows = _nan_rows(parts, model)
    if nan_rows:
        bad = np.logical_or.reduce(list(nan_rows.values()))
        keep[rows[bad]] = False
        sources += sorted(nan_rows)
        rows = np.flatnonzero(keep)
        parts = _evaluate_parts(frame, rows, model, weights, offset, binomial, where, used)
    n_dropped = len(frame) - rows.size
    if n_dropped:
        warn(
            f"{n_dropped} of {len(frame)} rows dropped because of missing values in: "
            f"{', '.join(sources)}",
            UserWarning,
        )
    offset_terms = list(model.offsets) + ([offset] if isinstance(offset, str) else [])
    return ModelDesign(
        y=parts.y,
        X=parts.X,
        random=parts.random,
        weights=parts.weights,
        offset=parts.offset,
        kept=keep,
        n_dropped=n_dropped,
        _fixed_spec=parts.fixed_spec,
        response_name=r_name(model.response),
        fixed_formula=model.fixed,
        offset_terms=offset_terms,
    )


def _check_parts_known(
    frame: pd.DataFrame, model: ParsedModel, weights: Any, offset: Any, extra: Sequence[str]
) -> None:
    """Raise ValueError for a column that is not in ``frame``, naming where it is used."""
    response = model.counts or [model.response]
    check_known_columns(frame, expressions_columns(response), "response")
    check_known_columns(frame, expression_columns(model.fixed), "fixed part")
    check_known_columns(frame, expressions_columns(model.offsets), "offset() terms")
    for bar in model.bars:
        check_known_columns(frame, bar_columns(bar), "random term")
    check_known_columns(frame, _argument_columns(weights), "weights")
    check_known_columns(frame, _argument_columns(offset), "offset")
    check_known_columns(frame, set(extra), "dispersion formulas (disp, rand_disp)")


def _complete_rows(
    frame: pd.DataFrame, columns: set[str], arrays: dict[str, Any]
) -> tuple[np.ndarray, list[str]]:
    """Rows free of missing values in ``columns`` and ``arrays``; names of those with any."""
    if len(frame) == 0:
        raise ValueError("data: is empty (0 rows); give the rows to fit")
    keep = np.ones(len(frame), dtype=bool)
    sources = []
    for column in data_columns(frame, columns):
        values = frame[column]
        if isinstance(values, pd.Series) and values.dtype.kind in "biu" and isinstance(
            values.dtype, np.dtype
        ):
            continue  # NumPy integers and booleans cannot be missing
        missing = values.isna().to_numpy()
        if missing.any():
            keep &= ~missing
            sources.append(column)
    for name, array in arrays.items():
        if isinstance(array, np.ndarray) and np.isnan(array).any():
            keep &= ~np.isnan(array)
            sources.append(name)
    if not keep.any():
        raise ValueError("no rows left after removing rows with missing values")
    return keep, sources


def _used_columns(
    frame: pd.DataFrame, names: set[str], expressions: Sequence[Any]
) -> np.ndarray | None:
    """Positions of the columns that the model reads: those in ``names`` and any named
    like a whole expression (a column named ``log(y)`` is read as it is); None (all)
    unless the column labels are unique strings."""
    labels = frame.columns
    if not labels.is_unique or not all(isinstance(label, str) for label in labels):
        return None
    names = names | {e for e in expressions if isinstance(e, str)}
    # a membership test in Python: Index.isin of string labels runs pyarrow's compute
    # kernels, whose first call costs the process 3 MB
    return np.flatnonzero([label in names for label in labels])


def _evaluate_parts(
    frame: pd.DataFrame,
    rows: np.ndarray,
    model: ParsedModel,
    weights: Any,
    offset: Any,
    binomial: bool,
    where: str,
    used: np.ndarray | None = None,
) -> _Parts:
    """Evaluate response, fixed design, random terms, weights and offset on ``rows``
    (and the columns at positions ``used``, None for all)."""
    if rows.size == len(frame):
        sub = frame  # it has a default RangeIndex (see as_frame): no copy
    elif used is None:
        sub = frame.iloc[rows].reset_index(drop=True)
    else:
        sub = frame.iloc[rows, used].reset_index(drop=True)
    X, spec = fixed_matrix(sub, model.fixed, "fixed part")
    offsets = list(model.offsets)
    total_offset = sum_offsets(sub, offsets) if offsets else None
    argument_offset = _argument_values(sub, rows, offset, "offset")
    if argument_offset is not None:
        total_offset = argument_offset if total_offset is None else total_offset + argument_offset
    prior = _argument_values(sub, rows, weights, "weights")
    if prior is not None:
        check_prior_weights(prior[~np.isnan(prior)])
    if model.counts:
        y, trials = binomial_counts(sub, model.counts, where)
        prior = trials if prior is None else prior * trials
    else:
        y = response_values(sub, model.response, binomial)
    return _Parts(
        y=y,
        X=X,
        fixed_spec=spec,
        random=make_random_terms(sub, model.bars),
        weights=prior,
        offset=total_offset,
    )


def _argument_values(
    frame: pd.DataFrame, rows: np.ndarray, value: str | np.ndarray | None, name: str
) -> np.ndarray | None:
    """A ``weights``/``offset`` argument on ``rows`` (``frame`` holds just those rows)."""
    if isinstance(value, str):
        return numeric_values(frame, value, name)
    return None if value is None else value[rows]


def _nan_rows(parts: _Parts, model: ParsedModel) -> dict[str, np.ndarray]:
    """Rows where an evaluated expression is NaN, by the expression's description (a
    ``cbind()`` response is NaN where there are no trials)."""
    response = f"{model.response} (no trials)" if model.counts else model.response
    candidates = {
        response: np.isnan(parts.y),
        "fixed part": np.isnan(parts.X.to_numpy()).any(axis=1),
        "weights": None if parts.weights is None else np.isnan(parts.weights),
        "offset": None if parts.offset is None else np.isnan(parts.offset),
    }
    candidates.update(
        {term.label: None if term.values is None else np.isnan(term.values).reshape(
            len(parts.y), -1).any(axis=1) for term in parts.random}
    )
    return {name: rows for name, rows in candidates.items() if rows is not None and rows.any()}
