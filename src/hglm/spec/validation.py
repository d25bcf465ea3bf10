"""Argument checks of the fitting functions.

Every array and control argument is checked here before the engine sees it; bad input
raises ``ValueError`` whose message names the argument and what is wrong (API.md,
"Errors").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from .families import ResponseFamily, random_family

Array = np.ndarray


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


def split_z(Z: object, rand_c: Sequence[int] | None, n: int) -> list[Array | sparse.spmatrix]:
    if sparse.issparse(Z):
        Zm = sparse.csc_matrix(Z, dtype=float)
        if Zm.shape[0] != n:
            raise ValueError(f"Z: has {Zm.shape[0]} rows but y has {n} values")
        if not np.all(np.isfinite(Zm.data)):
            raise ValueError("Z: contains missing (NaN) or infinite values")
    else:
        Zm = finite_matrix(Z, "Z", n)
    q = Zm.shape[1]
    if q == 0:
        raise ValueError("Z: has no columns; an HGLM needs at least one random effect")
    if rand_c is None:
        rand_c = [q]
    sizes = [int(c) for c in rand_c]
    if any(c <= 0 for c in sizes) or sum(sizes) != q:
        raise ValueError(
            f"rand_c: the numbers of columns per random term {sizes} must be positive and "
            f"sum to the {q} columns of Z"
        )
    ends = np.cumsum(sizes)
    return [Zm[:, e - s : e] for s, e in zip(sizes, ends, strict=True)]


def rand_families(rand_family: object, k: int) -> list:
    specs = rand_family if isinstance(rand_family, list | tuple) else [rand_family] * k
    if len(specs) != k:
        raise ValueError(f"rand_family: got {len(specs)} families for {k} random terms")
    return [random_family(s, "rand_family") for s in specs]


def response_vector(y: object, family: ResponseFamily) -> tuple[Array, str]:
    name = str(y.name) if isinstance(y, pd.Series) and y.name is not None else "y"
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"y: expected a vector, got an array of shape {arr.shape}")
    try:
        arr = arr.astype(float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"y: expected numbers ({exc})") from exc
    if not np.all(np.isfinite(arr)):
        raise ValueError("y: contains missing (NaN) or infinite values")
    problem = family.support_error(arr)
    if problem:
        raise ValueError(f"y: {problem}")
    return arr, name


def check_controls(method: str, conv: float, maxit: int) -> None:
    if method not in ("EQL", "EQL1", "HL11"):
        raise ValueError(f"method: must be 'EQL' or 'EQL1' ('HL11' is EQL1), got {method!r}")
    positive_number(conv, "conv")
    if isinstance(maxit, bool) or not isinstance(maxit, int | np.integer) or maxit < 1:
        raise ValueError(f"maxit: must be a whole number of at least 1, got {maxit!r}")
