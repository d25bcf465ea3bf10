"""Checks of argument values: names, positive numbers, finite real vectors and matrices,
full rank, counts in a count family's support, and the controls of a fit.

Bad input raises ``ValueError`` whose message names the argument and what is wrong
(API.md, "Errors").
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy import sparse

from .._warn import warn
from .families import ResponseFamily

Array = np.ndarray

RANK_TOLERANCE = 1e-7
"""A column whose part outside the span of the columns before it is below this fraction
of its norm is taken as dependent: the tolerance of R's QR in ``lm.fit``/``glm.fit``."""

LARGEST_SCALE = 1e100
"""Columns whose largest value is beyond 1e100 (or below 1e-100, not zero) are refused:
their cross-products in the fit's equations (squares times n times the weights) would
come near the ends of the floating-point range (1e-308 to 1.8e308)."""

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
"""A terminal's colour code (formulaic colours the place of a syntax error)."""

COUNT_TOLERANCE = 1e-3
"""Counts farther than this from a whole number are non-integer (R's binomial family
warns beyond it)."""


def column_names(obj: object, prefix: str, count: int) -> list[str]:
    """The column names of a DataFrame (or a named Series), else ``prefix1, prefix2...``."""
    if isinstance(obj, pd.DataFrame):
        return [str(c) for c in obj.columns]
    if isinstance(obj, pd.Series) and obj.name is not None:
        return [str(obj.name)]
    return [f"{prefix}{j + 1}" for j in range(count)]


def positive_number(value: object, argument: str) -> float:
    """A finite positive float, else ValueError naming ``argument``."""
    if isinstance(value, str | bytes | bool):
        raise ValueError(f"{argument}: must be a positive number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{argument}: must be a positive number, got {value!r}") from None
    if not (np.isfinite(number) and number > 0):
        raise ValueError(f"{argument}: must be a positive number, got {value!r}")
    return number


def finite_matrix(
    value: object, argument: str, n: int | None, rows_of: str = "y has {n} values"
) -> Array:
    """A float 2-D array with n rows, finite; ``rows_of`` says what has n (``{n}``)."""
    arr = real_array(value.toarray() if sparse.issparse(value) else value, argument)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{argument}: expected a 2-D matrix, got {arr.ndim} dimensions")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{argument}: has {arr.shape[0]} rows but {rows_of.format(n=n)}")
    if not all_finite(arr):
        raise ValueError(f"{argument}: contains missing (NaN) or infinite values")
    return arr


def all_finite(arr: Array) -> bool:
    """Whether every entry is finite.  A NaN or an infinity makes the sum non-finite, so
    a finite sum (one pass, no temporary) proves it; otherwise (a non-finite entry, or
    an overflow of the sum) the entries are checked one by one."""
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(arr)):
            return True
    return bool(np.all(np.isfinite(arr)))


def real_array(value: object, argument: str) -> Array:
    """``value`` as a float array (a read-only view of ``value`` when it is one already:
    no copy of the data); ValueError naming ``argument`` for complex numbers, dates or
    text."""
    arr = np.asarray(value)
    if arr.dtype.kind == "c":
        raise ValueError(f"{argument}: has complex numbers; give real numbers (e.g. .real)")
    if arr.dtype.kind in "mM":
        raise ValueError(f"{argument}: has dates or times; convert them to numbers")
    try:
        out = arr.astype(float, copy=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{argument}: expected numbers ({exc})") from exc
    if np.may_share_memory(out, arr):
        # the caller's float array itself (no copy of the data), read-only
        out = out.view()
        out.flags.writeable = False
    return out


def vector_argument(value: object, argument: str, n: int) -> Array:
    """A finite float vector of length n (y's), else ValueError naming ``argument``."""
    arr = real_array(value, argument).ravel()
    if arr.shape[0] != n:
        raise ValueError(f"{argument}: has length {arr.shape[0]} but y has {n} values")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{argument}: contains missing (NaN) or infinite values")
    return arr


def check_prior_weights(w: Array, argument: str = "weights") -> None:
    """Prior weights must be positive (a row of weight 0 is a row to drop)."""
    bad = np.flatnonzero(~(w > 0))
    if bad.size:
        raise ValueError(
            f"{argument}: prior weights must be positive; {bad.size} are not (the first "
            f"{w[bad[0]]:g}, in row {bad[0]}): drop those rows"
        )


def check_full_rank(X: Array, names: list[str], argument: str) -> None:
    """X (n x p) must have p <= n columns of representable size and full column rank.

    The rank is decided on the columns scaled to unit length, so that a column's units do
    not matter, with R's tolerance (:data:`RANK_TOLERANCE`): the dependent columns, and
    the nearly dependent ones that would make the fit's equations singular, are named."""
    n, p = X.shape
    if p > n:
        raise ValueError(
            f"{argument}: has {p} columns but only {n} rows: more coefficients than "
            "observations; use fewer columns (or more rows)"
        )
    scale = np.max(np.abs(X), axis=0) if n else np.zeros(p)
    _check_magnitudes(scale, names, argument)
    zero = [names[j] for j in np.flatnonzero(scale == 0)]
    if zero:
        raise ValueError(f"{argument}: column(s) {zero} are all zero; drop them")
    unit = X / scale
    unit /= np.linalg.norm(unit, axis=0)
    r = np.linalg.qr(unit, mode="r")
    dependent = np.flatnonzero(np.abs(np.diag(r)) < RANK_TOLERANCE)
    if dependent.size:
        bad = [names[j] for j in dependent]
        raise ValueError(
            f"{argument}: is rank deficient: column(s) {bad} are linear combinations (or "
            f"within {RANK_TOLERANCE:g} of one) of the columns before them; drop them"
        )


def _check_magnitudes(scale: Array, names: list[str], argument: str) -> None:
    """Each column's scale (largest absolute value) must be representable in the fit."""
    for name, largest in zip(names, scale.tolist(), strict=True):
        check_scale(largest, argument, f"column {name!r} has")


def check_scale(largest: float, argument: str, subject: str = "has") -> None:
    """A largest absolute value beyond :data:`LARGEST_SCALE` (or non-zero and below its
    inverse) is refused, with the factor that rescales it."""
    if largest > LARGEST_SCALE or 0 < largest < 1 / LARGEST_SCALE:
        raise ValueError(
            f"{argument}: {subject} values of the order of {largest:.3g}, whose products "
            f"overflow or underflow the fit; rescale them (divide by {largest:.0e})"
        )


def warn_non_integer_counts(counts: Array, family: str) -> bool:
    """Warn, as R does, when counts of a binomial (successes, y * weights) or Poisson
    model are not whole numbers; return whether they are not.

    The estimates are then those of the quasi-likelihood (estimating equations need no
    whole numbers), but the likelihood of such data is not defined
    (:func:`check_calc_like` refuses it)."""
    if integer_counts(counts):
        return False
    what = (
        "non-integer #successes in a binomial glm! (y * weights, the numbers of successes, "
        "are not whole numbers: give the numbers of trials as weights, or a "
        "cbind(successes, failures) response)" if family == "binomial"
        else f"non-integer counts in a {family} model"
    )
    warn(
        f"y: {what}; as R, the fit goes on: the estimates are quasi-likelihood estimates "
        "and likelihoods (calc_like) are not defined",
        UserWarning,
    )
    return True


def integer_counts(counts: Array) -> bool:
    """Whether every count is within :data:`COUNT_TOLERANCE` of a whole number."""
    return bool(np.all(np.abs(counts - np.round(counts)) <= COUNT_TOLERANCE))


def check_controls(method: str, conv: float, maxit: int, dev_floor: str) -> None:
    """Check the controls of the EQL iteration, else ValueError naming the argument."""
    if method not in ("EQL", "EQL1", "HL11"):
        raise ValueError(f"method: must be 'EQL' or 'EQL1' ('HL11' is EQL1), got {method!r}")
    positive_number(conv, "conv")
    if isinstance(maxit, bool) or not isinstance(maxit, int | np.integer) or maxit < 1:
        raise ValueError(f"maxit: must be a whole number of at least 1, got {maxit!r}")
    if dev_floor not in ("absolute", "relative"):
        raise ValueError(f"dev_floor: must be 'absolute' or 'relative', got {dev_floor!r}")


def check_calc_like(
    calc_like: bool, family: ResponseFamily, fix_disp: float | None, counts: Array | None = None
) -> None:
    """Likelihoods need a true likelihood: not a quasi-likelihood dispersion, and for a
    binomial or Poisson response whole ``counts`` (successes y * weights, or y)."""
    if not (calc_like and family.fixed_dispersion):
        return
    if fix_disp is None:
        raise ValueError(
            f"calc_like: likelihoods are not defined for the {family.name} family with an "
            "estimated (quasi-likelihood) dispersion; set fix_disp=1 to compute them"
        )
    if counts is not None and not integer_counts(counts):
        raise ValueError(
            f"calc_like: the likelihood of non-integer counts in a {family.name} model is "
            "not defined (impossible data); give whole numbers of successes or counts, "
            "or fit without calc_like"
        )


def check_unique_columns(frame: object, argument: str) -> None:
    """A DataFrame's column names must be unique: a formula or a result could not tell
    two columns of one name apart."""
    if isinstance(frame, pd.DataFrame) and not frame.columns.is_unique:
        duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise ValueError(f"{argument}: has duplicate column names {duplicated}; rename them")


def check_column_types(frame: pd.DataFrame, columns: list[str]) -> None:
    """The columns a formula reads must be numbers, booleans, text or categories: dates,
    durations and complex numbers are named with what to do."""
    for name in columns:
        kind = getattr(frame[name].dtype, "kind", "O")
        if kind in "mM" or isinstance(frame[name].dtype, pd.DatetimeTZDtype):
            raise ValueError(
                f"data: column {name!r} holds dates or times, which a formula cannot use; "
                "convert it to numbers (e.g. days since a date) or to a category"
            )
        if kind == "c":
            raise ValueError(
                f"data: column {name!r} holds complex numbers; give real numbers"
            )


def check_parentheses(formula: str, argument: str) -> None:
    """Every parenthesis of a formula (outside quoted text) must be closed, in order."""
    opened: list[int] = []
    quote = None
    for position, char in enumerate(formula):
        if quote is not None:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            opened.append(position)
        elif char == ")":
            if not opened:
                raise ValueError(
                    f"{argument}: the ')' at position {position} of {formula!r} closes no '('"
                )
            opened.pop()
    if opened:
        raise ValueError(
            f"{argument}: the '(' at position {opened[-1]} of {formula!r} is not closed; "
            "add the missing ')'"
        )


def term_sizes(rand_c: object, q: int) -> list[int]:
    """R's ``RandC``: the number of columns of each random term, whole positive numbers
    summing to the ``q`` columns of Z (a single number is one term)."""
    items = [rand_c] if np.ndim(rand_c) == 0 else list(rand_c)
    sizes = []
    for item in items:
        if isinstance(item, str | bytes | bool | np.bool_) or not _is_whole(item):
            raise ValueError(
                f"rand_c: must be whole numbers of columns per random term, got {rand_c!r}"
            )
        sizes.append(int(item))
    if any(c <= 0 for c in sizes) or sum(sizes) != q:
        raise ValueError(
            f"rand_c: the numbers of columns per random term {sizes} must be positive and "
            f"sum to the {q} columns of Z"
        )
    return sizes


def _is_whole(value: object) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return np.isfinite(number) and number.is_integer()


def plain_text(message: object) -> str:
    """A message without terminal colour codes."""
    return _ANSI.sub("", str(message))
