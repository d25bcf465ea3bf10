"""Known covariances of random terms: u_k ~ N(0, lambda_k A_k) with A_k given.

A known covariance A (pedigree or genomic relationships) is checked and factored here:
the dense path fits the term on Z L with A = L L'; a known precision Q = A^{-1}
(:class:`~.precision.Precision`, or a sparse A whose inverse is as sparse) is kept
sparse for the sparse solver, which fits u itself.  In the formula interface, ``cov=``
is given by grouping factor and aligned here to the terms' levels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import sparse

from .encoding import FormulaTerm, RandomTerm, VectorTerm
from .precision import Precision
from .validation import finite_matrix

Array = np.ndarray

SPARSE_INVERSE_GROWTH = 10  # a sparse A is inverted block-wise if nnz(A^-1) <= 10 nnz(A)


def align_covariances(
    cov: dict[str, object], terms: list[FormulaTerm]
) -> tuple[list[FormulaTerm], list[object | None]]:
    """The ``cov`` dict of ``hglm2`` as one entry per random term, ordered as the term's
    levels.

    Parameters
    ----------
    cov : dict
        Known covariances (DataFrame indexed by the level labels, or an array in sorted
        level order) or precisions (:class:`~.precision.Precision`) by grouping factor.
    terms : list of RandomTerm
        The random terms of the formula.

    Returns
    -------
    terms : list of RandomTerm
        The terms, where a labelled precision adds its levels without observations.
    rand_cov : list
        One entry per term (None for a term without a known covariance).

    Raises
    ------
    ValueError
        For a key that is no term's grouping factor, or a level that A or Q lacks.
    """
    groups = [t.group for t in terms]
    unknown = sorted(set(cov) - set(groups))
    if unknown:
        raise ValueError(f"cov: no random term is grouped by {unknown[0]!r}; terms: {groups}")
    out: list[object | None] = []
    new_terms = []
    for t in terms:
        A = cov.get(t.group)
        if isinstance(t, VectorTerm):
            pass  # refused by the assembly, which names the term
        elif isinstance(A, Precision):
            t, A = _align_precision(t, A)
        elif isinstance(A, pd.DataFrame):
            A = A.copy()
            A.index, A.columns = A.index.map(str), A.columns.map(str)
            missing = [lv for lv in t.levels if lv not in A.index or lv not in A.columns]
            if missing:
                raise ValueError(
                    f"cov[{t.group!r}]: has no row/column for level(s) {missing[:5]}"
                )
            A = A.loc[t.levels, t.levels].to_numpy(dtype=float)
        out.append(A)
        new_terms.append(t)
    return new_terms, out


def _align_precision(term: RandomTerm, prec: Precision) -> tuple[RandomTerm, Precision]:
    """A labelled precision ordered as the term's levels, followed by its levels without
    observations, which the term gains as random effects (empty columns of Z): unlike a
    covariance, a precision cannot be restricted to the observed levels."""
    if prec.labels is None:
        return term, prec
    position = {lab: j for j, lab in enumerate(prec.labels)}
    missing = [lv for lv in term.levels if lv not in position]
    if missing:
        raise ValueError(f"cov[{term.group!r}]: has no row/column for level(s) {missing[:5]}")
    observed = set(term.levels)
    extra = [lab for lab in prec.labels if lab not in observed]
    levels = list(term.levels) + extra
    index = np.array([position[lv] for lv in levels], dtype=np.int64)
    Q = prec.matrix[index][:, index]
    prefix = "(Intercept)" if term.covariate is None else term.covariate
    # Z follows from the codes: the new levels are its empty last columns
    term = dataclasses.replace(
        term, levels=levels, names=[f"{prefix}|{term.group}:{lv}" for lv in levels]
    )
    aligned = Precision(Q, levels)
    aligned.known_positive_definite = prec.known_positive_definite  # a permutation of it
    return term, aligned


def covariance_factors(
    rand_cov: object,
    sizes: list[int],
    rand_fams: list,
    labels: list[str] | None,
    positive_definite: Callable[[sparse.csc_matrix], bool],
) -> list[Array | sparse.csc_matrix | None]:
    """The known covariances, one entry per term: None; the dense Cholesky factor L of a
    covariance A = L L' (the term is fitted on Z L); or, as a scipy.sparse matrix, a
    precision Q = A^{-1} that the sparse solver uses directly.

    A precision comes from a :class:`~.precision.Precision` entry, or from a scipy.sparse
    covariance whose inverse is as sparse: A^{-1} is block diagonal over the connected
    components of A's graph (and generically dense within each), so a sparse A whose
    components are small is inverted block by block; a sparse A with a large component
    (a dense inverse) takes the dense path.

    Parameters
    ----------
    rand_cov : list, matrix or None
        One entry per random term (None, a covariance or a Precision).
    sizes : list of int
        The number of random effects of each term.
    rand_fams : list of RandomFamily
        The terms' families: a known covariance needs a Gaussian term.
    labels : list of str or None
        The entries' names in error messages (default ``rand_cov[k]``; the formula
        interface passes ``cov['group']``).
    positive_definite : callable
        Whether a sparse symmetric matrix is positive definite (a sparse factorization:
        the engine's, given by the caller), for a precision not known to be.

    Returns
    -------
    list
        One entry per term: None, L (ndarray) or Q (scipy.sparse.csc_matrix).

    Raises
    ------
    ValueError
        For a wrong number of entries or a matrix of the wrong size, not symmetric or not
        positive definite, naming the entry.
    """
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
            out.append(_checked_precision(A.matrix, q_k, name, A.known_positive_definite,
                                          positive_definite))
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


def times_factor(Zk: object, L: Array) -> Array:
    """The design Z_k L of a term with covariance A = L L', fitted on v = L^{-1} u."""
    return np.asarray(Zk @ L) if sparse.issparse(Zk) else np.asarray(Zk) @ L


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
    Q: sparse.spmatrix, q_k: int, name: str, known_pd: bool,
    positive_definite: Callable[[sparse.csc_matrix], bool],
) -> sparse.csc_matrix:
    """A sparse symmetric positive-definite precision matrix, else ValueError (the
    factorization that checks definiteness is skipped for a pedigree's A^{-1})."""
    if known_pd:
        Q = sparse.csc_matrix(Q, dtype=float)
        _check_square(Q.shape, q_k, name)
        return Q
    Q = _sparse_symmetric(Q, q_k, name)
    Q = (Q + Q.T) * 0.5
    if not positive_definite(Q):
        raise ValueError(f"{name}: the precision must be positive definite")
    return sparse.csc_matrix(Q)


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
