"""Sparse LDL' of a symmetric positive-definite matrix, by SuperLU without pivoting.

SuperLU's LU in symmetric mode with diagonal pivots (no pivoting) is, for a symmetric
positive-definite C, C = L D L' with L unit lower triangular (U = D L').  It serves the
general sparse solver (:mod:`.sparse`), its minimum-degree ordering and the
log-determinants of known precisions.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import linalg as splinalg

from .factor import NotPositiveDefiniteError

Array = np.ndarray


def symmetric_lu(matrix: sparse.csc_matrix, permc_spec: str) -> splinalg.SuperLU:
    """SuperLU without pivoting (diagonal pivots, symmetric mode)."""
    try:
        return splinalg.splu(
            matrix, permc_spec=permc_spec, diag_pivot_thresh=0.0,
            options={"SymmetricMode": True},
        )
    except RuntimeError as exc:  # "Factor is exactly singular"
        raise NotPositiveDefiniteError(f"T'WT is not positive definite ({exc})") from None


def spd_logdet(Q: sparse.spmatrix) -> float:
    """log det of a sparse symmetric positive-definite matrix (sparse LDL').

    Raises NotPositiveDefiniteError when a pivot is not positive."""
    Q = sparse.csc_matrix(Q, dtype=float)
    Q.sort_indices()
    lu = symmetric_lu(Q, "MMD_AT_PLUS_A")
    d = lu.U.diagonal()
    if not np.array_equal(lu.perm_r, lu.perm_c) or not np.all(d > 0) or not np.all(
        np.isfinite(d)
    ):
        raise NotPositiveDefiniteError("not positive definite")
    return float(np.sum(np.log(d)))


def fill_reducing_order(pattern: sparse.spmatrix) -> Array:
    """A fill-reducing symmetric ordering (minimum degree on the pattern), as the list of
    original indices in their new order."""
    m = sparse.csc_matrix(pattern, dtype=float, copy=True)
    m.data[:] = -1.0
    m.setdiag(0.0)
    m.eliminate_zeros()
    degree = np.asarray(-m.sum(axis=0)).ravel()
    m = (m + sparse.diags(degree + 1.0)).tocsc()  # diagonally dominant: SPD
    m.sort_indices()
    lu = symmetric_lu(m, "MMD_AT_PLUS_A")
    order = np.empty(m.shape[0], dtype=np.int64)
    order[lu.perm_c] = np.arange(m.shape[0])
    return order
