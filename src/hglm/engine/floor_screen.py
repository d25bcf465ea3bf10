"""The deviance floor of one random term's effects in the n-space solver, without a pass
over Z in most rounds.

The n-space (bigRR) rounds need the BLUPs v_j = lambda z_j' P y only through the sum of
their squares and the few that fall below the deviance floor (DESIGN.md, EQL step 3).
:class:`FloorScreen` finds those from a bound on the products z_j' p, which takes the
column norms of Z (:func:`column_norms`, one pass over Z at the start of the fit).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import linalg

Array = np.ndarray


# columns of Z per step over a range of its columns (bounds the n x chunk temporaries):
# the copies here, the per-effect quantities of the n-space solver (:mod:`.nspace`)
COLUMN_CHUNK = 4096
# rows of Z per step of the column norms (bounds the temporaries)
ROW_CHUNK = 256
# a round reads the columns of Z whose BLUP may lie below the floor when they are at most
# this share of the columns (a gathered column costs several times its share of a pass)
SCREEN_LIMIT = 0.01
# after a pass, the columns whose product is below this multiple of the floor's threshold
# are copied (the threshold moves with lambda; the products move with p)
CACHE_MARGIN = 2.0


def column_norms(Z: Array, rows: int = ROW_CHUNK) -> Array:
    """The Euclidean norm of each column of Z, ``rows`` rows at a time (one pass over Z,
    no n x q temporary).  A column is empty exactly when its norm is 0 (a column whose
    squares all underflow has effects that the data cannot move either)."""
    total = np.zeros(Z.shape[1])
    for start in range(0, Z.shape[0], rows):
        block = Z[start : start + rows]
        total += np.einsum("ij,ij->j", block, block)
    return np.sqrt(total)


class FloorScreen:
    """How far the products z_j' p of one random term's columns fall short of a
    threshold t: sum_j max(0, t^2 - (z_j' p)^2), exactly, without a pass over Z in most
    rounds.

    The deviance of a Gaussian effect v_j = lambda z_j' p is v_j^2, floored at f
    (DESIGN.md, EQL step 3): the floor adds lambda^2 times this shortfall, with
    t = sqrt(f) / lambda, to the sum of the deviances.  A pass over Z stores Z' Q for an
    orthonormal basis Q of p and of its derivatives with respect to the log dispersions
    (``basis``), and a contiguous copy of the columns whose product is below
    CACHE_MARGIN t.  For a later p = Q a + e, |z_j' p - (Z' Q a)_j| <= ||z_j|| ||e||
    (Cauchy-Schwarz), with e of second order in the change of the dispersions: a column
    can be below t only if |(Z' Q a)_j| - ||z_j|| ||e|| < t.  Those are (nearly always)
    in the copy, whose exact products cost little; the others are read from Z and added
    to it.  When more than SCREEN_LIMIT of the columns are in doubt, the pass is redone
    at p.  Empty columns (norm 0) are left out: their products are exactly 0.
    """

    def __init__(self, Z: Array, norms: Array) -> None:
        self.Z = Z
        self.columns = np.flatnonzero(norms > 0)
        self.norms = norms[self.columns]
        self._q: Array | None = None  # orthonormal basis, n x m
        self._zq: Array | None = None  # (Z' Q) on self.columns
        self._screenable = True
        self._in_copy = np.zeros(self.columns.size, dtype=bool)
        self._copies: list[Array] = []  # blocks of copied columns of Z, as rows
        self.passes = 0

    def shortfall(self, p: Array, threshold: float, basis: Callable[[], Array]) -> float:
        """sum_j max(0, t^2 - (z_j' p)^2) over the non-empty columns.

        ``basis()`` gives the n x m matrix whose first column is p and whose others are
        its derivatives (for the next rounds' screening); called only for a pass, and
        only while few products lie below the threshold (else screening cannot pay: a
        pass then reads p alone, at half the cost)."""
        limit = SCREEN_LIMIT * max(self.columns.size, 1)
        if self._q is not None:
            a = self._q.T @ p
            residual = float(np.linalg.norm(p - self._q @ a))
            # with the rounding of the stored products, relative to p
            slack = self.norms * (residual + 1e-10 * float(np.linalg.norm(p)))
            doubt = np.abs(self._zq @ a) - slack < threshold
            if np.count_nonzero(doubt) <= limit:
                self._extend_copy(np.flatnonzero(doubt & ~self._in_copy))
                return sum(_shortfall(block @ p, threshold) for block in self._copies)
        exact = self._pass(basis() if self._screenable else p[:, None])
        small = np.abs(exact) < threshold
        self._screenable = np.count_nonzero(small) <= limit / 2
        self._copy_anew(np.flatnonzero(np.abs(exact) < CACHE_MARGIN * threshold), limit)
        return _shortfall(exact[small], threshold)

    def _copy_anew(self, local: Array, limit: float) -> None:
        self._in_copy[:] = False
        self._copies = []
        if self._screenable and local.size <= limit:
            self._extend_copy(local)

    def _extend_copy(self, local: Array) -> None:
        """Adds the columns ``local`` (indices into self.columns) to the copy."""
        if local.size == 0:
            return
        block = np.empty((local.size, self.Z.shape[0]))
        for start in range(0, local.size, COLUMN_CHUNK):
            cols = self.columns[local[start : start + COLUMN_CHUNK]]
            block[start : start + COLUMN_CHUNK] = self.Z[:, cols].T
        self._copies.append(block)
        self._in_copy[local] = True

    def _pass(self, B: Array) -> Array:
        """One pass over Z: stores Z' Q for the orthonormal basis Q of B's columns and
        returns z_j' p (p = B's first column) for the non-empty columns."""
        self.passes += 1
        scale = np.linalg.norm(B, axis=0)
        if scale[0] == 0:  # p = 0: every product is 0, nothing to screen with
            self._q = self._zq = None
            return np.zeros(self.columns.size)
        B = B / np.where(scale > 0, scale, 1.0)
        products = (np.ascontiguousarray(B.T) @ self.Z).T[self.columns]  # Z is read once
        # directions nearly in the span of the previous ones are dropped (R^-1 stays
        # well conditioned, so the rounding of Z'Q stays within the slack of `shortfall`)
        R = np.linalg.qr(B, mode="r")
        keep = np.abs(np.diag(R)) > 1e-6
        keep[0] = True
        Q, R = np.linalg.qr(B[:, keep])
        self._q = Q
        self._zq = linalg.solve_triangular(R, products[:, keep].T, trans="T").T
        return products[:, 0] * scale[0]


def _shortfall(x: Array, threshold: float) -> float:
    return float(np.sum(np.maximum(threshold**2 - x**2, 0.0)))
