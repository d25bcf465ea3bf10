"""Known precision matrices of random terms, and the inverse relationship matrix of a
pedigree.

A random term with effects u ~ N(0, lambda A) can be given by its covariance A (dense
path: A = L L', design Z L) or by its precision Q = A^{-1}, which for a pedigree is very
sparse (about 3 to 5 non-zeros per animal) although A itself is dense.  A precision
term is fitted on u directly by the general sparse solver (``engine.sparse``): no
q x q dense matrix is formed, so pedigrees of tens of thousands of animals fit in
seconds.

``pedigree_precision(animal, sire, dam)`` builds A^{-1} by Henderson's rules (1976)
with inbreeding.  With the animals ordered parents before offspring, A = T M T' where
T = (I - P)^{-1}, P holds 1/2 at (animal, parent), and M is diagonal with the
Mendelian-sampling variances m_i = 1/2 - (F_s + F_d)/4 (both parents known),
3/4 - F_p/4 (one known) or 1 (none); so A^{-1} = (I - P)' M^{-1} (I - P): each animal adds
1/m_i at (i, i), -1/(2 m_i) between itself and each known parent, and 1/(4 m_i) among its
parents.  The inbreeding coefficient of an animal is half the relationship of its
parents, F_i = a_sd / 2.  Those relationships are computed generation by generation
(in the spirit of Meuwissen & Luo 1992, who trace each animal's ancestors, and
Colleau 2002, who multiplies by A through T): for the parents s of the animals of one
generation, the columns A e_s = T M T' e_s come from one backward and one forward sweep
over the earlier generations, each a sparse product per generation, and a_sd is read off
them.  The cost is O(generations x animals x distinct sires per generation), with no
per-animal Python loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

Array = np.ndarray

_UNKNOWN_STRINGS = {"", "0", "na", "nan", "none", "<na>"}
_SWEEP_ELEMENTS = 20_000_000  # dense columns of A e_s per block: at most ~160 MB


class Precision:
    """A known precision matrix Q = A^{-1} of a Gaussian random term, whose effects then
    have covariance lambda * A.

    Use it wherever a covariance is accepted: ``rand_cov=[hglm.Precision(Q)]`` in the
    matrix interface, ``hglm2(..., cov={"animal": hglm.Precision(Q_frame)})`` in the
    formula interface.  The term is fitted by the sparse solver on the original
    (correlated) scale; Q is never inverted.

    Parameters
    ----------
    matrix : scipy.sparse matrix, ndarray or DataFrame
        Symmetric positive definite, q x q.  A DataFrame is indexed (rows and columns) by
        the level labels.
    labels : sequence, optional
        The level label of each row (default: the DataFrame's index, else none).  With
        labels, the formula interface aligns Q to the grouping factor's levels and keeps
        the levels without observations (e.g. ancestors in a pedigree) as random effects:
        a precision cannot be restricted to the observed levels as a covariance can.
        Without labels, Q must be in sorted level order of the observed levels.

    Attributes
    ----------
    matrix : scipy.sparse.csc_matrix
    labels : list of str or None
    inbreeding : pandas.Series or None
        The inbreeding coefficients, for a precision built by :func:`pedigree_precision`.
    """

    def __init__(self, matrix: object, labels: Sequence | None = None) -> None:
        trusted = False
        if isinstance(matrix, Precision):
            labels = matrix.labels if labels is None else labels
            trusted = matrix.known_positive_definite
            matrix = matrix.matrix
        if isinstance(matrix, pd.DataFrame):
            index = [str(x) for x in matrix.index]
            columns = [str(x) for x in matrix.columns]
            if sorted(index) != sorted(columns) or len(set(index)) != len(index):
                raise ValueError(
                    "Precision: a DataFrame needs the same unique labels as index and columns"
                )
            position = {lab: j for j, lab in enumerate(columns)}
            matrix = matrix.to_numpy(dtype=float)[:, [position[lab] for lab in index]]
            labels = index if labels is None else labels
        if sparse.issparse(matrix):
            Q = sparse.csc_matrix(matrix, dtype=float)
        else:
            try:
                arr = np.asarray(matrix, dtype=float)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"Precision: expected a matrix of numbers ({exc})") from None
            if arr.ndim != 2:
                raise ValueError(f"Precision: expected a 2-D matrix, got {arr.ndim} dimensions")
            Q = sparse.csc_matrix(arr)
        Q.eliminate_zeros()
        Q.sort_indices()
        self.matrix: sparse.csc_matrix = Q
        self.labels: list[str] | None = None if labels is None else [str(x) for x in labels]
        if self.labels is not None:
            if len(self.labels) != Q.shape[0]:
                raise ValueError(
                    f"Precision: {len(self.labels)} labels for a {Q.shape[0]} x {Q.shape[1]} "
                    "matrix"
                )
            if len(set(self.labels)) != len(self.labels):
                raise ValueError("Precision: the labels must be unique")
        self.inbreeding: pd.Series | None = None
        # built by pedigree_precision: symmetric positive definite by construction
        self.known_positive_definite = trusted

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    def __repr__(self) -> str:
        q = self.matrix.shape[0]
        return f"Precision({q} x {self.matrix.shape[1]}, {self.matrix.nnz} non-zeros)"


# --- pedigrees -----------------------------------------------------------------------------


def _label(value: object) -> str | None:
    """A pedigree entry's label; None for an unknown parent (NA, 0, "0", "")."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            return None
        value = int(value) if float(value).is_integer() else float(value)
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return None if value == 0 else str(int(value))
    text = str(value).strip()
    return None if text.lower() in _UNKNOWN_STRINGS else text


def _column(values: object, name: str, n: int | None) -> list[str | None]:
    if isinstance(values, pd.Series | pd.Index):
        values = values.to_numpy(dtype=object)
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a vector, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name}: has length {arr.shape[0]} but animal has {n}")
    return [_label(v) for v in arr]


def _generations(sire: Array, dam: Array) -> Array:
    """Generation number of each animal: 0 without known parents, else one more than
    its latest parent.  ValueError for a loop (an animal its own ancestor)."""
    N = sire.shape[0]
    gen = np.zeros(N, dtype=np.int64)
    has_s, has_d = sire >= 0, dam >= 0
    for _ in range(N + 1):
        new = np.zeros(N, dtype=np.int64)
        new[has_s] = gen[sire[has_s]] + 1
        new[has_d] = np.maximum(new[has_d], gen[dam[has_d]] + 1)
        if np.array_equal(new, gen):
            return gen
        gen = new
    raise ValueError("sire, dam: the pedigree has a loop (an animal is its own ancestor)")


def _parent_matrix(rows: Array, sire: Array, dam: Array, N: int) -> sparse.csr_matrix:
    """The rows ``rows`` of P (1/2 at each known parent), len(rows) x N."""
    r, c = [], []
    for parent in (sire, dam):
        known = parent[rows] >= 0
        r.append(np.flatnonzero(known))
        c.append(parent[rows][known])
    r, c = np.concatenate(r), np.concatenate(c)
    return sparse.csr_matrix((np.full(r.size, 0.5), (r, c)), shape=(rows.size, N))


def _parent_relationships(
    sire: Array, dam: Array, gen: Array, m_of: callable
) -> tuple[Array, Array]:
    """Inbreeding F and Mendelian-sampling variances m, generation by generation.

    Animals are indexed in generation order.  For generation g, A e_s for its distinct
    sires s (or dams, whichever are fewer) is T M T' e_s over the animals of earlier
    generations: a backward sweep y = (I - P')^{-1} e_s, then x = (I - P)^{-1} (m * y).
    """
    N = sire.shape[0]
    F = np.zeros(N)
    m = np.ones(N)
    bounds = np.concatenate([[0], np.cumsum(np.bincount(gen))])
    P_rows = [
        _parent_matrix(np.arange(bounds[g], bounds[g + 1]), sire, dam, N)
        for g in range(bounds.size - 1)
    ]
    for g in range(bounds.size - 1):
        rows = np.arange(bounds[g], bounds[g + 1])
        both = rows[(sire[rows] >= 0) & (dam[rows] >= 0)]
        if both.size:
            first, second = sire[both], dam[both]
            if np.unique(second).size < np.unique(first).size:
                first, second = second, first
            top = int(bounds[g])  # the earlier generations: animals [0, top)
            cols, which = np.unique(first, return_inverse=True)
            step = max(1, _SWEEP_ELEMENTS // max(top, 1))
            a = np.empty(both.size)
            for start in range(0, cols.size, step):
                block = cols[start : start + step]
                x = _relationship_columns(block, top, P_rows[:g], bounds, m)
                sel = (which >= start) & (which < start + block.size)
                a[sel] = x[second[sel], which[sel] - start]
            F[both] = 0.5 * a
        m[rows] = m_of(rows, F)
    return F, m


def _relationship_columns(
    cols: Array, top: int, P_rows: list[sparse.csr_matrix], bounds: Array, m: Array
) -> Array:
    """A[:top, cols] = T M T' E (animals [0, top), complete generations)."""
    y = np.zeros((top, cols.size))
    y[cols, np.arange(cols.size)] = 1.0
    for g in range(len(P_rows) - 1, 0, -1):  # backward: y += P' y, latest generation first
        lo, hi = bounds[g], bounds[g + 1]
        y += P_rows[g][:, :top].T @ y[lo:hi]
    x = m[:top, None] * y
    for g in range(1, len(P_rows)):  # forward: x_g = m y_g + P_g x
        lo, hi = bounds[g], bounds[g + 1]
        x[lo:hi] += P_rows[g][:, :top] @ x
    return x


def pedigree_precision(
    animal: object, sire: object | None = None, dam: object | None = None
) -> Precision:
    """The inverse numerator relationship matrix A^{-1} of a pedigree (Henderson's rules,
    with inbreeding), as a sparse :class:`Precision` labelled by animal.

    Parameters
    ----------
    animal, sire, dam : array-like
        One row per animal: its label and its parents' labels.  An unknown parent is
        missing (None, NaN, pd.NA), 0, "0" or "".  Parents that are not listed as animals
        are added as founders (unknown parents).  The rows may come in any order.
        ``pedigree_precision(frame)`` takes the first three columns of a DataFrame.

    Returns
    -------
    Precision
        ``matrix`` (scipy.sparse, CSC) in the order of ``labels``: the added founders
        first (in order of appearance), then the animals as given; ``inbreeding`` the
        inbreeding coefficients F (diag(A) = 1 + F).

    Raises
    ------
    ValueError
        Naming the argument: mismatched lengths, a missing or duplicated animal, an
        animal that is its own parent or ancestor.
    """
    if sire is None and dam is None and isinstance(animal, pd.DataFrame):
        if animal.shape[1] < 3:
            raise ValueError("animal: a pedigree DataFrame needs columns animal, sire, dam")
        animal, sire, dam = (animal.iloc[:, j] for j in range(3))
    if sire is None or dam is None:
        raise ValueError("sire, dam: give both parent columns (unknown parents as NA or 0)")
    ids = _column(animal, "animal", None)
    n = len(ids)
    sires, dams = _column(sire, "sire", n), _column(dam, "dam", n)
    if any(a is None for a in ids):
        raise ValueError("animal: contains missing (or 0) labels")
    if len(set(ids)) != n:
        seen, dup = set(), None
        for a in ids:
            if a in seen:
                dup = a
                break
            seen.add(a)
        raise ValueError(f"animal: {dup!r} appears more than once")
    for name, parents in (("sire", sires), ("dam", dams)):
        bad = [a for a, s in zip(ids, parents, strict=True) if s == a]
        if bad:
            raise ValueError(f"{name}: animal {bad[0]!r} is its own parent")
    known = set(ids)
    founders: list[str] = []
    for s, d in zip(sires, dams, strict=True):
        for parent in (s, d):
            if parent is not None and parent not in known:
                known.add(parent)
                founders.append(parent)
    labels = founders + ids
    index = {lab: j for j, lab in enumerate(labels)}
    N = len(labels)
    s_all = np.array([-1] * len(founders) + [-1 if s is None else index[s] for s in sires])
    d_all = np.array([-1] * len(founders) + [-1 if d is None else index[d] for d in dams])
    gen = _generations(s_all, d_all)
    order = np.argsort(gen, kind="stable")  # parents before offspring
    rank = np.empty(N, dtype=np.int64)
    rank[order] = np.arange(N)
    s_o = np.where(s_all[order] >= 0, rank[np.maximum(s_all[order], 0)], -1)
    d_o = np.where(d_all[order] >= 0, rank[np.maximum(d_all[order], 0)], -1)

    def mendelian(rows: Array, F: Array) -> Array:
        s, d = s_o[rows], d_o[rows]
        fs = np.where(s >= 0, F[np.maximum(s, 0)], -1.0)
        fd = np.where(d >= 0, F[np.maximum(d, 0)], -1.0)
        # an unknown parent contributes as F = -1: 1/2 - (F_s + F_d)/4 gives 3/4 - F/4
        # with one parent known and 1 with none
        return 0.5 - 0.25 * (fs + fd)

    F_o, m_o = _parent_relationships(s_o, d_o, gen[order], mendelian)
    Q_o = _henderson(s_o, d_o, m_o)
    Q = Q_o[rank][:, rank].tocsc()  # back to the order of ``labels``
    Q.sort_indices()
    out = Precision(Q, labels)
    out.known_positive_definite = True
    out.inbreeding = pd.Series(F_o[rank], index=pd.Index(labels, name="animal"),
                               name="inbreeding")
    return out


def _henderson(sire: Array, dam: Array, m: Array) -> sparse.csc_matrix:
    """A^{-1} = (I - P)' M^{-1} (I - P): each animal's row of (I - P) is
    (1 at itself, -1/2 at each known parent), weighted by 1/m."""
    N = sire.shape[0]
    rows = np.arange(N)
    r = [rows]
    c = [rows]
    v = [np.ones(N)]
    for parent in (sire, dam):
        known = parent >= 0
        r.append(rows[known])
        c.append(parent[known])
        v.append(np.full(int(known.sum()), -0.5))
    K = sparse.csr_matrix((np.concatenate(v), (np.concatenate(r), np.concatenate(c))),
                          shape=(N, N))
    return (K.T @ sparse.diags(1.0 / m) @ K).tocsc()
