"""Block-diagonal matrices with one q x q block per level of a grouping factor.

The structured Cholesky (:mod:`.augmented`) eliminates the random term A first.  When
each row of Z_A lies in one level (an indicator, q = 1, or a vector-valued term
``(1 + x | g)`` with q effects per level, level-major columns), its block of C = T'WT is
block-diagonal,

    D_l = sum_{i in l} w1_i z_i z_i' + diag(w2 of level l's effects),

and so are D^{-1} and the per-level blocks of E S^{-1} E' that the leverages need.
:class:`LevelBlocks` holds such a matrix as an (m, q, q) array and does its algebra in
batches over the levels (numpy's stacked linear algebra, never a loop over levels); for
q = 1 (a diagonal matrix) every operation is elementwise.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from .blocks import Grouped, times_values
from .factor import NotPositiveDefiniteError
from .pair_products import (
    Cross,
    Gram,
    frobenius,
    scaled_gram,
    scaled_gram_frobenius,
    scaled_gram_pair,
    split_complex,
    subtract_from,
    subtract_scaled_gram,
)

Array = np.ndarray


class LevelBlocks:
    """A symmetric block-diagonal matrix of order m q with blocks ``blocks[l]`` (q x q).

    Parameters
    ----------
    blocks : ndarray (m, q, q)
    """

    def __init__(self, blocks: Array) -> None:
        self.blocks = blocks

    @classmethod
    def weighted_gram(cls, block: Grouped, w: Array) -> LevelBlocks:
        """Z' diag(w) Z for the columns Z of a block with one level per row."""
        m, q, rows = block.n_levels, block.size, block.value_rows
        out = np.empty((m, q, q))
        for j in range(q):
            wv = times_values(w, rows[j])
            for k in range(j, q):
                out[:, j, k] = np.bincount(block.index, times_values(wv, rows[k]), minlength=m)
                out[:, k, j] = out[:, j, k]
        return cls(out)

    @property
    def size(self) -> int:
        """q, the order of each block."""
        return self.blocks.shape[1]

    @property
    def count(self) -> int:
        """m, the number of blocks."""
        return self.blocks.shape[0]

    def scaled(self, c: float) -> LevelBlocks:
        return LevelBlocks(c * self.blocks)

    def plus_diagonal(self, d: Array) -> LevelBlocks:
        """The matrix plus diag(d), d of length m q (level-major)."""
        out = self.blocks.copy()
        np.einsum("lii->li", out)[:] += d.reshape(self.count, self.size)
        return LevelBlocks(out)

    def plus(self, other: LevelBlocks) -> LevelBlocks:
        return LevelBlocks(self.blocks + other.blocks)

    def diagonal(self) -> Array:
        """The diagonal, length m q (level-major)."""
        return np.einsum("lii->li", self.blocks).reshape(-1)

    def invert(self) -> tuple[LevelBlocks, float]:
        """The inverse and log det, by a batched Cholesky factorization of the blocks.

        Raises
        ------
        NotPositiveDefiniteError
            When a block is not positive definite."""
        message = "T'WT is not positive definite (random-effect block)"
        if self.size == 1:
            d = self.blocks.reshape(-1)
            if not (d > 0).all():
                raise NotPositiveDefiniteError(message)
            return LevelBlocks((1.0 / d)[:, None, None]), float(np.log(d).sum())
        if self.size == 2:
            return self._invert_pairs(message)
        try:
            chol = np.linalg.cholesky(self.blocks)
        except np.linalg.LinAlgError as err:
            raise NotPositiveDefiniteError(message) from err
        diag = np.einsum("lii->li", chol)
        if not np.all(diag > 0):
            raise NotPositiveDefiniteError(message)
        return LevelBlocks(np.linalg.inv(self.blocks)), 2.0 * float(np.sum(np.log(diag)))

    def _invert_pairs(self, message: str) -> tuple[LevelBlocks, float]:
        """:meth:`invert` for 2 x 2 blocks in closed form: [[a, b], [b, d]] is positive
        definite when a > 0 and det = a d - b^2 > 0 (a d - b^2 = a (d - b^2 / a), the
        Cholesky pivots' product), with inverse [[d, -b], [-b, a]] / det."""
        a, b, d = self.blocks[:, 0, 0], self.blocks[:, 0, 1], self.blocks[:, 1, 1]
        det = a * d - b * b
        if not (np.all(a > 0) and np.all(det > 0)):
            raise NotPositiveDefiniteError(message)
        out = np.empty_like(self.blocks)
        out[:, 0, 0], out[:, 1, 1] = d / det, a / det
        out[:, 0, 1] = out[:, 1, 0] = -b / det
        return LevelBlocks(out), float(np.sum(np.log(det)))

    def matvec(self, x: Array) -> Array:
        """The product with x of m q rows (a vector or a matrix)."""
        if self.size == 1:
            d = self.blocks.reshape(-1)
            return d * x if x.ndim == 1 else d[:, None] * x
        xb = x.reshape((self.count, self.size) + x.shape[1:])
        if x.ndim == 1:
            return np.einsum("lij,lj->li", self.blocks, xb).reshape(x.shape)
        return np.matmul(self.blocks, xb).reshape(x.shape)

    def sandwich(self, middle: LevelBlocks) -> LevelBlocks:
        """This matrix times ``middle`` times this matrix (all block-diagonal)."""
        if self.size == 1:
            return LevelBlocks(self.blocks**2 * middle.blocks)
        return LevelBlocks(np.matmul(np.matmul(self.blocks, middle.blocks), self.blocks))

    def scale_diagonal(self, c: Array) -> LevelBlocks:
        """B diag(c) B for this matrix B (c of length m q): the weights of the trace of
        sum_a c_a (C^{-1})_aa over the eliminated block."""
        cb = c.reshape(self.count, self.size)
        if self.size == 1:
            return LevelBlocks(self.blocks**2 * cb[:, :, None])
        return LevelBlocks(np.matmul(self.blocks * cb[:, None, :], self.blocks))

    def row_apply(self, index: Array, z: Array) -> Array:
        """B_{index[i]} z_i for every row i (z of shape (n, q)), entry by entry of the
        blocks (q is small; gathering whole blocks per row is slower)."""
        q = self.size
        out = np.zeros(z.shape)
        for j in range(q):
            for k in range(q):
                out[:, j] += self.blocks[:, j, k][index] * z[:, k]
        return out

    def row_forms(self, index: Array, u: Array) -> Array:
        """u_i' B_{index[i]} u_i for every row i (u of shape (n, q))."""
        q = self.size
        out = np.zeros(u.shape[0])
        for j in range(q):
            out += self.blocks[:, j, j][index] * u[:, j] ** 2
            for k in range(j + 1, q):
                out += 2.0 * self.blocks[:, j, k][index] * u[:, j] * u[:, k]
        return out

    def gram_of(self, E: Cross) -> Gram:
        """E' B E for E (m q rows): sparse (CSR) for a sparse E, dense for a dense one."""
        if self.size == 1:
            return scaled_gram(E, self.blocks.reshape(-1))
        if sparse.issparse(E):
            return (E.T @ (self.csr() @ E)).tocsr()
        return E.T @ self.matvec(E)

    def subtract_gram(self, S: Array, E: Cross) -> None:
        """S -= E' B E in place, for a diagonal B without the sparse product whole
        (:func:`.pair_products.subtract_scaled_gram`)."""
        if self.size == 1:
            subtract_scaled_gram(S, E, self.blocks.reshape(-1))
        else:
            subtract_from(S, self.gram_of(E))

    def gram_frobenius(self, M: Array, E: Cross) -> float:
        """sum_jk M_jk (E' B E)_jk for a dense M, for a diagonal B without the sparse
        product whole (:func:`.pair_products.scaled_gram_frobenius`)."""
        if self.size == 1:
            return scaled_gram_frobenius(M, E, self.blocks.reshape(-1))
        return frobenius(M, self.gram_of(E))

    def gram_pair(self, E: sparse.csr_matrix, other: LevelBlocks) -> tuple[Gram, Gram]:
        """E' B E and E' B2 E (B2: ``other``) for a sparse E in one sparse product: the
        real and imaginary parts of E' (B + i B2) E, as
        :func:`.pair_products.scaled_gram_pair` does for diagonal ones."""
        if self.size == 1:
            return scaled_gram_pair(E, self.diagonal(), other.diagonal())
        return split_complex(LevelBlocks(self.blocks + 1j * other.blocks).gram_of(E))

    def csr(self) -> sparse.csr_matrix:
        """The matrix as a sparse one."""
        m = self.count
        return sparse.bsr_matrix((self.blocks, np.arange(m), np.arange(m + 1)),
                                 shape=(m * self.size, m * self.size)).tocsr()
