"""Whether the data can identify a model's variances: checks made before a fit, so that
a model whose estimates would be arbitrary is refused by name instead of returned as a
converged fit.

An HGLM's dispersions are estimated from the variation left in y: there must be more
observations than fixed effects when the residual dispersion is estimated, every random
term must reach some observation, and two variance components must not describe the
same covariance of y.  For a Gaussian response with Gaussian random effects (identity
links) the marginal covariance is ``lambda_1 Z_1 Z_1' + ... + phi W^{-1}``; two terms
with the same block of Z, or a term whose ``Z_k Z_k'`` is proportional to ``W^{-1}``
(one observation per level, the usual case) together with an estimated ``phi``, add the
same matrix with two variances, and only their sum is identified (the fit would stop
wherever its start leads).  For other families the mean-variance relation separates such
components, as it does for terms with different known covariances.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .encoding import RandomTerm, VectorTerm
from .families import RandomFamily, ResponseFamily
from .model import Independent, RandomTermModel

Array = np.ndarray
Columns = RandomTerm | VectorTerm | Array | sparse.spmatrix


@dataclass(frozen=True)
class _Shape:
    """What the checks need of a block of Z: the number of observations in each column
    and each row's sum of squares (the diagonal of Z_k Z_k')."""

    column_counts: Array
    row_squares: Array


def check_sample_size(n: int, p: int | None, fix_disp: float | None) -> None:
    """At least two observations, and more than the ``p`` fixed effects when the residual
    dispersion is estimated (``p`` None: not known yet)."""
    if n == 0:
        raise ValueError("y: has no observations; give data to fit")
    if n == 1:
        raise ValueError("y: has a single observation; an HGLM needs several to estimate "
                         "its variances")
    if p is not None and fix_disp is None and n <= p:
        raise ValueError(
            f"y: has {n} observations for {p} fixed effects, which leaves nothing to "
            "estimate the residual dispersion; use fewer fixed effects or fix it (fix_disp=)"
        )


def check_response_varies(y: Array, family: ResponseFamily, fix_disp: float | None) -> None:
    """A response without any variation leaves an estimated residual dispersion of a
    family with a dispersion (Gaussian, Gamma, inverse Gaussian) and the random effects'
    variances nothing to be estimated from: they run to 0.  (Binomial and Poisson data
    without variation are named by the fit's diagnosis, ``fit.diagnostics``.)"""
    if fix_disp is None and not family.fixed_dispersion and y.size > 1 and np.ptp(y) == 0:
        raise ValueError(
            f"y: all {y.size} values are equal ({y[0]:g}), so there is no variation for the "
            "residual dispersion and the random effects to describe; check the response, or "
            "fix the residual dispersion (fix_disp=)"
        )


def check_identifiable(
    columns: list[Columns],
    terms: list[RandomTermModel],
    family: ResponseFamily,
    weights: Array,
    fix_disp: float | None,
    where: list[str],
) -> None:
    """Refuse a model whose variance components the data cannot tell apart.

    Parameters
    ----------
    columns : list
        Each random term's columns of Z, as given (before any rotation).
    terms : list of RandomTermModel
        The terms' families and covariance structures.
    family : ResponseFamily
    weights : ndarray
        The prior weights.
    fix_disp : float or None
        The residual dispersion held fixed, or None (estimated).
    where : list of str
        How each term is named in a message (``"random term (1|g)"``).

    Raises
    ------
    ValueError
        For a term with no non-zero entry, two independent terms with the same block of
        Z, or (Gaussian) a term with one observation per level while the residual
        dispersion is estimated.
    """
    shapes = [_shape(c) for c in columns]
    for k, shape in enumerate(shapes):
        if not shape.column_counts.any():
            raise ValueError(f"{where[k]}: all its columns of Z are zero, so no observation "
                             "informs its variance; drop the term")
    _check_distinct_blocks(columns, terms, where)
    if fix_disp is None and _linear_gaussian(family.name, family.link.name):
        for k, (shape, term) in enumerate(zip(shapes, terms, strict=True)):
            if _gaussian_independent(term) and _like_residual(shape, weights):
                raise ValueError(
                    f"{where[k]}: every level has a single observation, so its variance "
                    "and the residual variance describe the same variation and cannot be "
                    "separated; fix the residual dispersion (fix_disp=) or drop the term"
                )


def _shape(columns: Columns) -> _Shape:
    if isinstance(columns, VectorTerm):
        return _vector_shape(columns)
    if isinstance(columns, RandomTerm):
        values = np.ones(columns.codes.shape[0]) if columns.values is None else columns.values
        counts = np.bincount(columns.codes[values != 0], minlength=len(columns.levels))
        return _Shape(counts, values**2)
    if sparse.issparse(columns):
        block = sparse.csc_matrix(columns)
        counts = np.asarray((block != 0).sum(axis=0)).ravel()
        return _Shape(counts, np.asarray(block.multiply(block).sum(axis=1)).ravel())
    return _Shape(np.count_nonzero(columns, axis=0), np.sum(columns**2, axis=1))


def _vector_shape(term: VectorTerm) -> _Shape:
    """:func:`_shape` of a vector-valued term from its codes and values (level l's
    effect j in column l q + j), without its sparse block."""
    m, keep = len(term.levels), term.codes >= 0
    counts = np.empty((m, term.size), dtype=np.int64)
    squares = np.zeros(term.codes.shape[0])
    for j in range(term.size):
        column = term.values[:, j]
        counts[:, j] = np.bincount(term.codes[keep & (column != 0)], minlength=m)
        squares += column**2
    return _Shape(counts.reshape(-1), np.where(keep, squares, 0.0))


def _linear_gaussian(name: str, link: str) -> bool:
    return name == "gaussian" and link == "identity"


def _gaussian_independent(term: RandomTermModel) -> bool:
    family: RandomFamily = term.family
    return (
        isinstance(term.covariance, Independent)
        and family.spatial is None
        and _linear_gaussian(family.name, family.link.name)
    )


def _like_residual(shape: _Shape, weights: Array) -> bool:
    """Whether Z_k Z_k' is a positive multiple of W^{-1}: no two observations share a
    level (Z_k Z_k' is diagonal) and every row's square is proportional to 1/w."""
    if np.any(shape.column_counts > 1):
        return False
    scaled = shape.row_squares * weights
    return bool(scaled.min() > 0 and np.ptp(scaled) <= 1e-10 * scaled.max())


def _check_distinct_blocks(columns: list[Columns], terms: list[RandomTermModel],
                           where: list[str]) -> None:
    """Two independent terms must not have the same block of Z (up to a scale)."""
    independent = [k for k, t in enumerate(terms) if isinstance(t.covariance, Independent)]
    for i, j in ((i, j) for i in independent for j in independent if i < j):
        if _same_block(columns[i], columns[j]):
            raise ValueError(
                f"{where[j]}: has the same columns of Z as {where[i]}, so their variances "
                "describe the same variation and cannot be separated; drop one of them"
            )


def _same_block(a: Columns, b: Columns) -> bool:
    """Whether two blocks of Z have the same shape and non-zero pattern, with entries
    proportional."""
    if term_width(a) != term_width(b):
        return False
    (shape_a, pattern_a, values_a), (shape_b, pattern_b, values_b) = _canonical(a), _canonical(b)
    return (
        shape_a == shape_b
        and all(np.array_equal(x, y) for x, y in zip(pattern_a, pattern_b, strict=True))
        and _proportional(values_a, values_b)
    )


def term_width(columns: Columns) -> int:
    """The number of random effects of a term (its columns of Z)."""
    if isinstance(columns, VectorTerm):
        return len(columns.levels) * columns.size
    return len(columns.levels) if isinstance(columns, RandomTerm) else columns.shape[1]


def _canonical(columns: Columns) -> tuple[tuple[int, int], tuple[Array, ...], Array]:
    """A block's shape, its pattern (arrays that fix where its entries are) and entries."""
    if isinstance(columns, RandomTerm):
        n = columns.codes.shape[0]
        values = np.ones(n) if columns.values is None else columns.values
        return (n, len(columns.levels)), (columns.codes,), values
    block = sparse.csc_matrix(columns, dtype=float, copy=True)
    block.eliminate_zeros()
    block.sort_indices()
    return block.shape, (block.indptr, block.indices), block.data


def _proportional(a: Array, b: Array) -> bool:
    """Whether b = c a for a non-zero c (to rounding)."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return False
    ratio = float(a @ b) / (na * na)
    return bool(np.linalg.norm(b - ratio * a) <= 1e-10 * nb)
