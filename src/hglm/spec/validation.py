"""Checks of argument values: names, positive numbers, finite vectors and matrices, full
rank, whole numbers of binomial successes, and the controls of a fit.

Bad input raises ``ValueError`` whose message names the argument and what is wrong
(API.md, "Errors").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from .._warn import warn
from .families import ResponseFamily

Array = np.ndarray

COUNT_TOLERANCE = 1e-3
"""How far from a whole number a number of binomial successes may be (R's binomial family
warns beyond it)."""


def column_names(obj: object, prefix: str, count: int) -> list[str]:
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


def finite_matrix(value: object, argument: str, n: int | None) -> Array:
    """A float 2-D array with n rows, finite."""
    try:
        arr = np.asarray(value.toarray() if sparse.issparse(value) else value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{argument}: expected numbers ({exc})") from exc
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{argument}: expected a 2-D matrix, got {arr.ndim} dimensions")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{argument}: has {arr.shape[0]} rows but y has {n} values")
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


def vector_argument(value: object, argument: str, n: int) -> Array:
    try:
        arr = np.asarray(value, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{argument}: expected numbers ({exc})") from exc
    if arr.shape[0] != n:
        raise ValueError(f"{argument}: has length {arr.shape[0]} but y has {n} values")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{argument}: contains missing (NaN) or infinite values")
    return arr


def check_full_rank(X: Array, names: list[str], argument: str) -> None:
    rank = np.linalg.matrix_rank(X)
    if rank < X.shape[1]:
        _, r = np.linalg.qr(X)
        tol = np.abs(np.diag(r)).max() * max(X.shape) * np.finfo(float).eps
        bad = [names[j] for j in range(X.shape[1]) if abs(r[j, j]) <= tol]
        raise ValueError(
            f"{argument}: is rank deficient (rank {rank} < {X.shape[1]} columns); "
            f"drop linearly dependent columns such as {bad or names[-1:]}"
        )


def noninteger_successes(y: Array, weights: Array) -> Array:
    """Rows whose number of binomial successes ``y * weights`` is not a whole number.

    A binomial response is a proportion of ``weights`` trials (or 0/1 with unit
    weights), so ``y * weights`` counts successes, within :data:`COUNT_TOLERANCE`.  A
    binomial likelihood (ML, REML, quadrature) is defined only where none is flagged.

    Returns
    -------
    numpy.ndarray of bool
        One flag per row.
    """
    successes = y * weights
    return np.abs(successes - np.round(successes)) > COUNT_TOLERANCE


def check_binomial_counts(y: Array, weights: Array) -> None:
    """Warn as R's binomial family does ("non-integer #successes in a binomial glm!")
    when a number of successes is not a whole number (:func:`noninteger_successes`);
    the EQL fit, a quasi-likelihood, goes on."""
    off = noninteger_successes(y, weights)
    if off.any():
        warn(
            f"non-integer #successes in a binomial glm! ({int(off.sum())} of {off.size} "
            f"rows: y * weights = {(y * weights)[off][0]:g} is not a whole number; give the "
            "numbers of trials as weights, or a cbind(successes, failures) response)",
            UserWarning,
        )


def check_controls(method: str, conv: float, maxit: int, dev_floor: str) -> None:
    """Check the controls of the EQL iteration, else ValueError naming the argument."""
    if method not in ("EQL", "EQL1", "HL11"):
        raise ValueError(f"method: must be 'EQL' or 'EQL1' ('HL11' is EQL1), got {method!r}")
    positive_number(conv, "conv")
    if isinstance(maxit, bool) or not isinstance(maxit, int | np.integer) or maxit < 1:
        raise ValueError(f"maxit: must be a whole number of at least 1, got {maxit!r}")
    if dev_floor not in ("absolute", "relative"):
        raise ValueError(f"dev_floor: must be 'absolute' or 'relative', got {dev_floor!r}")


def check_calc_like(calc_like: bool, family: ResponseFamily, fix_disp: float | None) -> None:
    """Likelihoods need a true likelihood: not a quasi-likelihood dispersion."""
    if calc_like and family.fixed_dispersion and fix_disp is None:
        raise ValueError(
            f"calc_like: likelihoods are not defined for the {family.name} family with an "
            "estimated (quasi-likelihood) dispersion; set fix_disp=1 to compute them"
        )
