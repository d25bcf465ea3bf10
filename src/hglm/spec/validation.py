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


def times_factor(Zk: object, L: Array) -> Array:
    return np.asarray(Zk @ L) if sparse.issparse(Zk) else np.asarray(Zk) @ L


def covariance_factors(
    rand_cov: object, sizes: list[int], rand_fams: list, labels: list[str] | None = None
) -> list[Array | sparse.csc_matrix | None]:
    """The known covariances, one entry per term: None; the dense Cholesky factor L of a
    covariance A = L L' (the term is fitted on Z L); or, as a scipy.sparse matrix, a
    precision Q = A^{-1} that the sparse solver uses directly.

    A precision comes from a :class:`hglm.Precision` entry, or from a scipy.sparse
    covariance whose inverse is as sparse: A^{-1} is block diagonal over the connected
    components of A's graph (and generically dense within each), so a sparse A whose
    components are small is inverted block by block; a sparse A with a large component
    (a dense inverse) takes the dense path.

    ``labels`` names the entries in error messages (default ``rand_cov[k]``; the formula
    interface passes ``cov['group']``)."""
    from .precision import Precision

    k = len(sizes)
    if rand_cov is None:
        return [None] * k
    items = list(rand_cov) if isinstance(rand_cov, list | tuple) else [rand_cov]
    if len(items) != k:
        raise ValueError(f"rand_cov: got {len(items)} entries for {k} random terms")
    labels = labels or [f"rand_cov[{j}]" for j in range(k)]
    out: list[Array | sparse.csc_matrix | None] = []
    for A, q_k, fam, name in zip(items, sizes, rand_fams, labels, strict=True):
        if A is None:
            out.append(None)
            continue
        if not fam.is_gaussian or fam.spatial is not None:
            raise ValueError(f"{name}: a known covariance needs a Gaussian random term")
        if isinstance(A, Precision):
            out.append(_checked_precision(A.matrix, q_k, name, A.known_positive_definite))
            continue
        if sparse.issparse(A):
            Q = _sparse_covariance_inverse(A, q_k, name)
            if Q is not None:
                out.append(Q)
                continue
        mat = finite_matrix(A, name, None)
        _check_square(mat.shape, q_k, name)
        if not np.allclose(mat, mat.T, rtol=1e-10, atol=1e-12 * np.abs(mat).max()):
            raise ValueError(f"{name}: must be symmetric")
        try:
            out.append(np.linalg.cholesky(mat))
        except np.linalg.LinAlgError:
            raise ValueError(f"{name}: must be positive definite") from None
    return out


def _check_square(shape: tuple[int, int], q_k: int, name: str) -> None:
    if shape != (q_k, q_k):
        raise ValueError(
            f"{name}: must be {q_k} x {q_k} (one row and column per random effect of "
            f"the term), got {shape[0]} x {shape[1]}"
        )


def _sparse_symmetric(M: sparse.spmatrix, q_k: int, name: str) -> sparse.csc_matrix:
    M = sparse.csc_matrix(M, dtype=float)
    _check_square(M.shape, q_k, name)
    if not np.all(np.isfinite(M.data)):
        raise ValueError(f"{name}: contains missing (NaN) or infinite values")
    scale = float(np.abs(M.data).max(initial=0.0))
    if (M - M.T).count_nonzero() and abs(M - M.T).max() > 1e-10 * scale:
        raise ValueError(f"{name}: must be symmetric")
    return M


def _checked_precision(
    Q: sparse.spmatrix, q_k: int, name: str, known_pd: bool = False
) -> sparse.csc_matrix:
    """A sparse symmetric positive-definite precision matrix, else ValueError (the
    factorization that checks definiteness is skipped for a pedigree's A^{-1})."""
    from ..engine import NotPositiveDefiniteError, spd_logdet

    if known_pd:
        Q = sparse.csc_matrix(Q, dtype=float)
        _check_square(Q.shape, q_k, name)
        return Q
    Q = _sparse_symmetric(Q, q_k, name)
    Q = (Q + Q.T) * 0.5
    try:
        spd_logdet(Q)
    except NotPositiveDefiniteError:
        raise ValueError(f"{name}: the precision must be positive definite") from None
    return sparse.csc_matrix(Q)


SPARSE_INVERSE_GROWTH = 10  # a sparse A is inverted block-wise if nnz(A^-1) <= 10 nnz(A)


def _sparse_covariance_inverse(
    A: sparse.spmatrix, q_k: int, name: str
) -> sparse.csc_matrix | None:
    """A^{-1} of a sparse covariance, block by block over its connected components, or
    None when the inverse would be much denser than A (one large component)."""
    from scipy.sparse.csgraph import connected_components

    A = _sparse_symmetric(A, q_k, name)
    n_comp, comp = connected_components(A, directed=False)
    sizes = np.bincount(comp, minlength=n_comp)
    if int(np.sum(sizes.astype(np.int64) ** 2)) > SPARSE_INVERSE_GROWTH * max(A.nnz, q_k):
        return None
    rows, cols, vals = [], [], []
    for size in np.unique(sizes):  # components of one size are inverted as one batch
        members = np.flatnonzero(sizes[comp] == size)
        groups = members[np.argsort(comp[members], kind="stable")].reshape(-1, size)
        blocks = np.stack([A[g][:, g].toarray() for g in groups]) if size > 1 else (
            A.diagonal()[groups][:, :, None])
        try:
            chol = np.linalg.cholesky(blocks)
        except np.linalg.LinAlgError:
            raise ValueError(f"{name}: must be positive definite") from None
        eye = np.broadcast_to(np.eye(size), blocks.shape)
        inv_l = np.linalg.solve(chol, eye)
        inv = np.swapaxes(inv_l, 1, 2) @ inv_l
        rows.append(np.repeat(groups, size, axis=1).ravel())
        cols.append(np.tile(groups, (1, size)).ravel())
        vals.append(inv.reshape(groups.shape[0], -1))
    return sparse.csc_matrix(
        (np.concatenate([v.ravel() for v in vals]), (np.concatenate(rows), np.concatenate(cols))),
        shape=(q_k, q_k),
    )


def check_controls(method: str, conv: float, maxit: int) -> None:
    if method not in ("EQL", "EQL1", "HL11"):
        raise ValueError(f"method: must be 'EQL' or 'EQL1' ('HL11' is EQL1), got {method!r}")
    positive_number(conv, "conv")
    if isinstance(maxit, bool) or not isinstance(maxit, int | np.integer) or maxit < 1:
        raise ValueError(f"maxit: must be a whole number of at least 1, got {maxit!r}")
