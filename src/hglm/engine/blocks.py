"""A random term's block of Z, as the engine takes it.

A block is an :class:`Indicator` when each row of it has at most one non-zero (a random
intercept, or a random slope on one factor), a :class:`Grouped` block for a vector-valued
term (q columns per level of one factor, lme4's ``(1 + x | g)``), else a dense array.
The solvers read a block in the representation their algebra needs: the structured Cholesky keeps
indicators as (level, value) pairs, the general sparse solver as CSR columns of Z, the
n-space solver as dense columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import sparse

Array = np.ndarray


def as_block(Zk: Array | sparse.spmatrix) -> Block:
    """Represent one random term's columns of Z as an :class:`Indicator` when each row has
    at most one non-zero, else as a dense array."""
    if sparse.issparse(Zk):
        csr = sparse.csr_matrix(Zk)
        csr.eliminate_zeros()
        counts = np.diff(csr.indptr)
        if counts.max(initial=0) <= 1:
            index = np.zeros(csr.shape[0], dtype=np.int64)
            values = np.zeros(csr.shape[0])
            has = counts == 1
            index[has] = csr.indices
            values[has] = csr.data
            return Indicator(index, values, csr.shape[1])
        return csr.toarray()
    Zk = np.asarray(Zk, dtype=float)
    if Zk.shape[0] and np.count_nonzero(Zk[0]) > 1:
        return Zk  # a row with two non-zeros: not an indicator (no n x q temporary)
    nonzero = Zk != 0
    if nonzero.sum(axis=1).max(initial=0) <= 1:
        index = np.argmax(nonzero, axis=1).astype(np.int64)
        values = Zk[np.arange(Zk.shape[0]), index]
        return Indicator(index, values, Zk.shape[1])
    return Zk


@dataclass
class Indicator:
    """A block of Z with at most one non-zero per row: Z[i, index[i]] = values[i].

    Attributes
    ----------
    index : ndarray of int
        Column (level) of each row; rows without a non-zero have value 0.
    values : ndarray of float
        The non-zero of each row (1 for a plain random intercept).
    n_levels : int
        Number of columns of the block.
    """

    index: Array
    values: Array
    n_levels: int

    @classmethod
    def from_codes(cls, codes: Array, values: Array | None, n_levels: int) -> Indicator:
        """The block of a grouping factor from each row's level.

        Parameters
        ----------
        codes : ndarray of int
            Each row's level (column); -1 for a row in no level.
        values : ndarray or None
            Each row's entry (a slope covariate); None for a random intercept (all ones).
        n_levels : int

        Returns
        -------
        Indicator
            What ``as_block`` gives for that Z, without building Z: a row whose value is
            0 or that has no level has no entry (index 0, value 0).
        """
        index = np.asarray(codes).astype(np.int64, copy=False)
        if values is None:
            # a random intercept's ones, broadcast from one number (no n-vector)
            values, empty = np.broadcast_to(np.float64(1.0), index.shape), index < 0
        else:
            values = np.array(values, dtype=float)
            empty = (index < 0) | (values == 0)
        if empty.any():
            index, values = index.copy(), np.array(values)
            index[empty], values[empty] = 0, 0.0
        return cls(index, values, n_levels)

    def matvec(self, x: Array) -> Array:
        out = np.asarray(x, dtype=float).take(self.index)
        if not all_ones(self.values):  # a random intercept's: x at the rows' levels
            out *= self.values
        return out

    def rmatvec(self, y: Array) -> Array:
        return np.bincount(self.index, times_values(y, self.values), minlength=self.n_levels)

    @cached_property
    def incidence(self) -> sparse.csr_matrix:
        """The n_levels x n 0/1 matrix of row membership."""
        n = self.index.shape[0]
        return sparse.csr_matrix(
            (np.ones(n), (self.index, np.arange(n))), shape=(self.n_levels, n)
        )

    def toarray(self) -> Array:
        out = np.zeros((self.index.shape[0], self.n_levels))
        out[np.arange(self.index.shape[0]), self.index] = self.values
        return out


@dataclass
class Grouped:
    """The block of a vector-valued term ``(1 + x | g)``: q columns (intercept, slopes)
    per level of one grouping factor, each row in at most one level.

    Columns are ordered level-major, as lme4 orders them: level l's q effects are
    columns l q, ..., l q + q - 1, so a term's covariance is block-diagonal with one
    q x q block per level.

    Attributes
    ----------
    index : ndarray of int
        Level of each row; a row in no level has index 0 and a zero row of ``values``.
    values : ndarray of float, (n, q)
        The term's columns (1 for the intercept, the slope covariates).
    n_levels : int
        Number of levels m (the block has m q columns).
    """

    index: Array
    values: Array
    n_levels: int

    @classmethod
    def from_codes(cls, codes: Array, values: Array, n_levels: int) -> Grouped:
        """The block from each row's level (-1: in no level) and the term's columns."""
        index = np.asarray(codes).astype(np.int64)
        values = np.array(values, dtype=float, ndmin=2)
        empty = index < 0
        if empty.any():
            index[empty], values[empty] = 0, 0.0
        return cls(index, values, n_levels)

    @property
    def size(self) -> int:
        """q, the number of effects per level."""
        return self.values.shape[1]

    @property
    def width(self) -> int:
        """The number of columns, m q."""
        return self.n_levels * self.size

    def times(self, factor: Array) -> Grouped:
        """The block Z F for a q x q ``factor`` F (a vector term's Z Lambda): the same
        rows, levels and :meth:`columns` (shared once formed), its values formed on first
        use (:class:`ScaledGrouped`)."""
        return ScaledGrouped(self, factor)

    def columns(self) -> Array:
        """The (n, q) column of each row's entries: row i has values[i, j] in column
        columns()[i, j] (formed once; read-only)."""
        return self._columns

    @cached_property
    def _columns(self) -> Array:
        # one effect per level: the levels themselves (a view, no copy)
        out = self.index[:, None] if self.size == 1 else (
            self.index[:, None] * self.size + np.arange(self.size))
        out = out.view()
        out.flags.writeable = False
        return out

    @cached_property
    def value_rows(self) -> Array:
        """The q columns of ``values`` as contiguous rows (q, n), formed once: products
        by column read them without a stride; a view when every row is one (a random
        intercept's ones, broadcast from one number: no n-vector of them)."""
        if self.values.strides[0] == 0:
            return self.values.T
        return np.ascontiguousarray(self.values.T)

    def matvec(self, x: Array) -> Array:
        rows, effects = self.value_rows, x.reshape(self.n_levels, self.size).T
        out = np.take(np.asarray(effects[0], dtype=float), self.index)
        if not all_ones(rows[0]):  # a random intercept's: the effects at the rows' levels
            out *= rows[0]
        for j in range(1, self.size):
            out += rows[j] * np.take(effects[j], self.index)
        return out

    def rmatvec(self, y: Array) -> Array:
        out = np.empty((self.n_levels, self.size))
        for j, row in enumerate(self.value_rows):
            out[:, j] = np.bincount(self.index, times_values(y, row), minlength=self.n_levels)
        return out.reshape(-1)

    def toarray(self) -> Array:
        out = np.zeros((self.index.shape[0], self.width))
        np.put_along_axis(out, self.columns(), self.values, axis=1)
        return out


class ScaledGrouped(Grouped):
    """The block Z F of a :class:`Grouped` block Z and a q x q matrix F, whose values
    (Z's times F, a pass over the rows) are formed only when asked for: a system built
    on Z Lambda from the products of Z by congruence never reads them.

    Parameters
    ----------
    block : Grouped
    factor : ndarray (q, q)
    """

    def __init__(self, block: Grouped, factor: Array) -> None:  # no dataclass fields set
        self.index, self.n_levels = block.index, block.n_levels
        self._block, self._factor = block, factor
        if "_columns" in block.__dict__:  # Grouped's cached property: shared when formed
            self.__dict__["_columns"] = block.columns()

    @property
    def size(self) -> int:
        return self._factor.shape[1]

    @cached_property
    def value_rows(self) -> Array:
        return self._factor.T @ self._block.value_rows

    @cached_property
    def values(self) -> Array:  # type: ignore[override]
        """Z F as (n, q), a view of :attr:`value_rows`."""
        return self.value_rows.T


Block = Indicator | Grouped | Array


def all_ones(values: Array) -> bool:
    """Whether ``values`` is a one broadcast to every row (a random intercept's)."""
    return values.ndim == 1 and values.size > 0 and values.strides[0] == 0 and values[0] == 1.0


def times_values(w: Array, values: Array) -> Array:
    """w * values, or w itself when ``values`` is a broadcast one (a random intercept's)."""
    return w if all_ones(values) else w * values


def level_view(block: Indicator | Grouped) -> Grouped:
    """A block with one level per row as a :class:`Grouped` one: an indicator is the
    case q = 1 (its values as an (n, 1) view, no copy)."""
    if isinstance(block, Grouped):
        return block
    return Grouped(block.index, block.values[:, None], block.n_levels)


def block_width(block: Block) -> int:
    """The number of columns of a block."""
    if isinstance(block, Grouped):
        return block.width
    return block.n_levels if isinstance(block, Indicator) else block.shape[1]


def block_matvec(block: Block, v: Array) -> Array:
    """Z_k v: a block (Indicator, Grouped, dense or sparse) times its effects."""
    return block.matvec(v) if isinstance(block, Indicator | Grouped) else block @ v


def block_csr(block: Block, n: int) -> sparse.csr_matrix:
    """The n rows of a block (Indicator, dense or sparse) as a CSR matrix without
    explicit zeros."""
    if isinstance(block, Indicator):
        m = sparse.csr_matrix(
            (block.values, (np.arange(n), block.index)), shape=(n, block.n_levels)
        )
    elif isinstance(block, Grouped):
        rows = np.repeat(np.arange(n), block.size)
        m = sparse.csr_matrix((block.values.ravel(), (rows, block.columns().ravel())),
                              shape=(n, block.width))
    elif sparse.issparse(block):
        m = sparse.csr_matrix(block, dtype=float)
    else:
        m = sparse.csr_matrix(np.asarray(block, dtype=float))
    m.eliminate_zeros()
    return m


def block_array(block: Block) -> Array:
    """A block as a dense array."""
    return block.toarray() if isinstance(block, Indicator | Grouped) else np.asarray(block)
