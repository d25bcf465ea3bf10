"""Products of the structured factor (:mod:`.augmented`) with S^{-1}, the inverse of the
Schur complement, that never hold an m x m or q_a x m temporary: S^{-1} completed from
its lower triangle in place, and E S^{-1} (E = Z_A' W1 R, q_a x m) formed by bands of
whole levels of A, each band giving its levels' forms e_l' S^{-1} e_l and its
observations' cross terms r_i' S^{-1} e_{l_i} in the same pass.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from .augmented_structure import AugmentedStructure
from .pair_products import Cross

Array = np.ndarray

SYMMETRIZE_ROWS = 64  # rows of the upper triangle filled at a time
E_SINV_BAND_ELEMENTS = 100_000  # entries of E S^{-1} formed at a time (0.8 MB)
GATHER_ELEMENTS = 131_072  # entries of S^{-1} gathered at a time (1 MB)


def symmetrize_lower(T: Array) -> Array:
    """T with its upper triangle set to its lower one's transpose, in place, a band of
    rows at a time (no temporary of T's size); returns T."""
    m = T.shape[0]
    for start in range(0, m, SYMMETRIZE_ROWS):
        stop = min(start + SYMMETRIZE_ROWS, m)
        block = T[start:stop, start:stop]
        upper = np.triu_indices(stop - start, 1)
        block[upper] = block.T[upper]
        T[start:stop, stop:] = T[stop:, start:stop].T
    return T


def level_forms_and_cross(
    E: Cross, s_inverse: Array, structure: AugmentedStructure, with_cross: bool = True
) -> tuple[Array, list[Array] | None]:
    """In one pass over bands of whole levels of E S^{-1} (at most E_SINV_BAND_ELEMENTS
    entries each: 0.8 MB, where the whole q_a x m product took 160 MB on p2l): the
    per-level blocks e_{lj}' S^{-1} e_{lk} (levels x q x q) and, for each effect j of A,
    r_i' S^{-1} e_{l_i j} for every observation i (l_i: its level, r_i: its row of R),
    the latter (a pass over the n rows) only ``with_cross``.

    Parameters
    ----------
    E : ndarray or scipy.sparse.csr_matrix
        Z_A' W1 R, q rows per level of A (level-major).
    s_inverse : ndarray
        S^{-1} (symmetric, m x m).
    structure : AugmentedStructure
        The system whose A and R these are.

    Returns
    -------
    forms : ndarray
        (levels, q, q).
    cross : list of ndarray or None
        q arrays of n (None without ``with_cross``).
    """
    sysm = structure
    q, count = sysm.a_size, sysm.q_a // max(sysm.a_size, 1)
    forms = np.empty((count, q, q))
    cross = [np.empty(sysm.n) for _ in range(q)] if with_cross else None
    level = sysm.A.index
    step = max(1, E_SINV_BAND_ELEMENTS // max(q * sysm.m, 1))
    for first in range(0, count, step):
        last = min(first + step, count)
        E_band = E[first * q : last * q]
        # S^{-1} is symmetric: its C-ordered transpose spares the product a copy
        Y = np.asarray(E_band @ s_inverse.T)
        for j in range(q):
            for k in range(j, q):
                forms[first:last, j, k] = _row_dots(E_band[k::q], Y[j::q])
                forms[first:last, k, j] = forms[first:last, j, k]
        if not with_cross:
            continue
        if first == 0 and last == count:  # one band: every observation, no gathers
            for j in range(q):
                cross[j] = sysm.rows_dot(Y, sysm.a_columns[:, j])
            continue
        inside = np.flatnonzero((level >= first) & (level < last))
        for j in range(q):
            rows = sysm.a_columns[inside, j] - first * q
            cross[j][inside] = sysm.rows_dot(Y, rows, inside)
        del Y  # before the next band's
    return forms, cross


def _row_dots(E: Cross, Y: Array) -> Array:
    """The dot products of the rows of E (dense or sparse) with those of Y."""
    if sparse.issparse(E):
        return np.asarray(E.multiply(Y).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", E, Y)


def row_forms(cols: Array, vals: Array, M: Array) -> Array:
    """e_a' M e_a for every row e_a of a sparse matrix given by its padded rows
    (``cols``, ``vals``: rows x width, padded with zero values) and a symmetric M: M
    gathered on each row's pattern from its flattened memory, a few rows at a time (at
    most GATHER_ELEMENTS entries: 1 MB)."""
    m, width = M.shape[0], cols.shape[1]
    flat = M.ravel(order="K")  # no copy for a contiguous M; M symmetric
    out = np.empty(cols.shape[0])
    step = max(1, GATHER_ELEMENTS // (width * width))
    for start in range(0, cols.shape[0], step):
        c, v = cols[start : start + step], vals[start : start + step]
        gathered = np.take(flat, c[:, :, None] * m + c[:, None, :])
        out[start : start + step] = np.einsum("ik,ikl,il->i", v, gathered, v)
    return out
