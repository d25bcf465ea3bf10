"""The Gram products E' diag(d) E of the cross block E = Z_A' W1 R of the structured
solver (:mod:`.augmented`), and E's row forms e_a' M e_a.

E' D^{-1} E is a sparse product when E is sparse (crossed factors).  For a Gaussian
response the weights change by a common factor only, so E is fixed up to a scale: the
products E_aj E_ak of the pairs of non-zeros in each row of E are then stored once
(:class:`PairProducts`, while 12 bytes a pair take at most 48 MB or 96 bytes per row of
data; the integer products of an unweighted design take 2 to 4 bytes a pair), and each
round forms E' D^{-1} E in one pass over the pairs and the row forms of the leverages in
another.  Otherwise each product is a sparse matrix product (:func:`scaled_gram`,
:func:`scaled_gram_pair`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np
from scipy import sparse

from .free_pages import release_free_pages

Array = np.ndarray

Cross = Array | sparse.csr_matrix


Gram = Array | sparse.csr_matrix

SUBTRACT_ROWS = 64  # rows of a sparse product densified at a time by subtract_from


def scaled_gram(E: Cross, d: Array) -> Gram:
    """E' diag(d) E: sparse (CSR) for a sparse E, dense for a dense one."""
    if sparse.issparse(E):
        return (E.T @ _scale_rows(E, d)).tocsr()
    return E.T @ (d[:, None] * E)


def scaled_gram_pair(E: sparse.csr_matrix, d1: Array, d2: Array) -> tuple[Gram, Gram]:
    """E' diag(d1) E and E' diag(d2) E for a sparse E, in one sparse product (both CSR).

    For a real E, E' diag(d1 + i d2) E has real part E' diag(d1) E and imaginary part
    E' diag(d2) E: one symbolic pass and one complex numeric pass cost about 60% of
    two real products."""
    return split_complex((E.T @ _scale_rows(E, d1 + 1j * d2)).tocsr())


def split_complex(G: sparse.csr_matrix) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """The real and imaginary parts of a complex CSR matrix, on its pattern."""
    parts = (G.data.real.copy(), G.data.imag.copy())
    return tuple(sparse.csr_matrix((v, G.indices, G.indptr), shape=G.shape) for v in parts)


def subtract_from(S: Array, G: Gram) -> None:
    """S -= G in place for a dense or sparse (CSR) G, a few rows of G densified at a
    time: no temporary of S's size (10 MB at InstEval's order 1,142)."""
    if not sparse.issparse(G):
        S -= G
        return
    for start in range(0, G.shape[0], SUBTRACT_ROWS):
        stop = min(start + SUBTRACT_ROWS, G.shape[0])
        S[start:stop] -= G[start:stop].toarray()


def subtract_scaled_gram(S: Array, E: Cross, d: Array) -> None:
    """S -= E' diag(d) E in place; for a sparse E by bands of rows of the product
    (:func:`_gram_bands`)."""
    if not sparse.issparse(E):
        S -= E.T @ (d[:, None] * E)
        return
    for rows, band in _gram_bands(E, d):
        S[rows] -= band.toarray()


def scaled_gram_frobenius(M: Array, E: Cross, d: Array) -> float:
    """sum_jk M_jk (E' diag(d) E)_jk for a dense M; for a sparse E by bands of rows of
    the product (:func:`_gram_bands`)."""
    if not sparse.issparse(E):
        return frobenius(M, scaled_gram(E, d))
    total = 0.0
    for rows, band in _gram_bands(E, d):  # M gathered on each band's pattern
        at = np.repeat(np.arange(rows.start, rows.stop), np.diff(band.indptr))
        total += float(np.dot(band.data, M[at, band.indices]))
    return total


def _gram_bands(E: sparse.csr_matrix, d: Array) -> Iterator[tuple[slice, sparse.csr_matrix]]:
    """The bands of SUBTRACT_ROWS rows of E' diag(d) E (with their rows), each from the
    band's rows of E' (one transposed copy of E), scaled by d, times E: the sparse m x m
    product is never whole (7 MB at InstEval's order, twice that while it was converted),
    and the scaling takes a band's temporaries, not E's."""
    transposed = E.T.tocsr()
    m = E.shape[1]
    for start in range(0, m, SUBTRACT_ROWS):
        rows = slice(start, min(start + SUBTRACT_ROWS, m))
        band = transposed[rows]
        band.data *= d[band.indices]
        yield rows, band @ E


def frobenius(M: Array, G: Gram) -> float:
    """sum_jk M_jk G_jk for a dense M and a dense or sparse G."""
    if sparse.issparse(G):
        return float(G.multiply(M).sum())
    return float(np.sum(M * G))


def _scale_rows(E: sparse.csr_matrix, d: Array) -> sparse.csr_matrix:
    """diag(d) E for a CSR matrix E, without a sparse product."""
    rows = np.repeat(np.arange(E.shape[0]), np.diff(E.indptr))
    return sparse.csr_matrix((E.data * d[rows], E.indices, E.indptr), shape=E.shape)


PAIR_PRODUCTS_MAX = 4_000_000  # pairs of PairProducts: 48 MB whatever the rows,
PAIRS_PER_ROW = 8  # and up to 96 bytes per row of data beyond
PAIR_CHUNK = 65_536  # pairs built at a time (about 1.5 MB of temporaries)
BUILD_PAIRS = 131_072  # compact pairs formed and split into parts at a time (about 3 MB)
PASS_PAIRS = 131_072  # compact pairs widened at a time in a pass (1.5 MB)
BAND = 65_536  # entries of the pattern per part of compact pairs (uint16 positions)
SUBTRACT_CHUNK = 32_768  # entries of the pattern subtracted from S at a time (0.25 MB)


class PairProducts:
    """E' diag(d) E and the row forms e_a' M e_a for a fixed sparse E (q_a x m).

    Holds the products of the pairs of non-zeros of each row a of E (each unordered pair
    once, j <= k) as a sparse matrix K with K[a, p] = (2 - [j = k]) E_aj E_ak, p the
    position of (j, k) in the pattern of E'E's upper triangle (``upper``: its flat
    positions j m + k, sorted).  Then K' d holds E' diag(d) E on that pattern
    (off-diagonal entries doubled), and e_a' M e_a = (K M_upper)_a for M symmetric: one
    pass over the pairs each, without the symbolic phase and row merging of a sparse
    matrix product, and without an m x m temporary (10 MB at InstEval's order 1,144,
    whose pattern holds 145,000 entries).  Doubling is exact, so the numbers are those of
    the single products.

    When E is ``unit`` times integers (counts: indicator and integer columns at equal
    weights, as an unweighted Gaussian response has), K is stored compact, in parts of
    its columns: the bands of BAND entries of the pattern, each split into the pairs
    whose product is the commonest one (2 E_aj E_ak of two entries of the commonest
    count: 2 for InstEval's 69% of pairs of single ratings), stored without values, and
    the others, whose integer products take 2 bytes (or 4) instead of 8.  Positions
    within a band take 2 bytes, so a pair 4 bytes or 2 instead of 12.  Each pass widens
    the parts to float64 values and int32 positions PASS_PAIRS at a time, with ``unit``
    as the scale: exact, the numbers differ from those of E's own entries by E's
    rounding only.

    Parameters
    ----------
    E : scipy.sparse matrix
    unit : float, optional
        The observations' common weight, when they have one.
    """

    def __init__(self, E: sparse.spmatrix, unit: float | None = None) -> None:
        E = sparse.csr_matrix(E, copy=True)
        E.sum_duplicates()
        self.shape = E.shape
        self.scale = 1.0
        integers = _integers(E.data, unit)
        if integers is not None:
            E.data, self.scale = integers, float(unit)
        m = E.shape[1]
        counts = np.diff(E.indptr)
        rows = np.argsort(counts, kind="stable")
        self.rows = rows[counts[rows] > 0]
        sizes = counts[self.rows]
        kind = _product_type(E.data, integers is not None)
        index = np.int32 if m * m < 2**31 else np.int64
        compact = kind is not np.float64
        blocks = _row_blocks(sizes, BUILD_PAIRS if compact else np.inf)
        # the pattern first (every pair's flat position marked), then each pair's
        # position in it: the entries of the rows before j plus its rank in row j
        # (uint16: half of a flat int32 rank table)
        seen = np.zeros(m * m, dtype=bool)
        for lo, hi, _ in blocks:
            for _, at, first, second in _pair_chunks(E, self.rows[lo:hi], sizes[lo:hi]):
                seen[_flat_pairs(E.indices[at].astype(index), first, second, m)] = True
        self.upper = np.flatnonzero(seen).astype(index)
        self.off = self.upper % (m + 1) != 0  # the off-diagonal entries of the pattern
        self.lower = (self.upper[self.off] % m) * m + self.upper[self.off] // m
        within = np.cumsum(seen.reshape(m, m), axis=1, dtype=np.uint16)
        del seen
        before = np.concatenate([[0], np.cumsum(within[:, -1], dtype=index)[:-1]])
        within -= 1
        common = 2.0 * _commonest(E.data) ** 2 if compact else 0.0
        pieces: list[list[Part]] = []  # per part, per block of rows
        cols = vals = None
        for lo, hi, indptr in blocks:
            cols = np.empty(indptr[-1], dtype=index)
            vals = np.empty(indptr[-1], dtype=kind)
            for span, at, first, second in _pair_chunks(E, self.rows[lo:hi], sizes[lo:hi]):
                c = E.indices[at].astype(index)
                cols[span] = np.take(before, np.take(c, first, axis=1)).reshape(-1)
                cols[span] += np.take(within, _flat_pairs(c, first, second, m))
                v = E.data[at]
                out = np.take(v, first, axis=1) * np.take(v, second, axis=1)
                out *= np.where(first == second, 1.0, 2.0)
                vals[span] = out.reshape(-1)
            split = (_split(indptr, cols, vals, self.upper.shape[0], common) if compact
                     else [(0, self.upper.shape[0], indptr, cols, vals)])
            pieces = pieces or [[] for _ in split]
            for k, piece in enumerate(split):
                pieces[k].append(piece)
        del within, before, cols, vals
        self.parts: list[Part] = []
        while pieces:  # a part's pieces go as it is joined
            self.parts.append(_joined(pieces.pop(0)))
        release_free_pages()  # the build's temporaries left holes in the heap

    @staticmethod
    def count(E: sparse.spmatrix) -> int:
        """The number of pairs that E's row counts imply (duplicates counted)."""
        counts = np.diff(sparse.csr_matrix(E).indptr).astype(np.int64)
        return int(np.sum(counts * (counts + 1) // 2))

    @staticmethod
    def within_budget(E: sparse.spmatrix, n: int) -> bool:
        """Whether the pairs of E fit in the larger of PAIR_PRODUCTS_MAX and
        PAIRS_PER_ROW n pairs, for n rows of data (memory O(n))."""
        return PairProducts.count(E) <= max(PAIR_PRODUCTS_MAX, PAIRS_PER_ROW * n)

    def scaled(self, c: float) -> PairProducts:
        """The pair products of c E (sharing K)."""
        out = copy.copy(self)
        out.scale = self.scale * c
        return out

    def subtract_gram(self, S: Array, d: Array) -> None:
        """S -= E' diag(d) E in place (S contiguous, in either order), on the pattern of
        E'E."""
        if not (S.flags.c_contiguous or S.flags.f_contiguous):
            raise ValueError("S: must be a contiguous array")
        d_rows = self.scale**2 * d[self.rows]
        T = np.zeros(self.upper.shape[0])
        for part in self.parts:
            band = slice(part[0], part[0] + part[1])
            for lo, hi in _passes(part):
                T[band] += _widened(part, lo, hi).T @ d_rows[lo:hi]
        np.multiply(T, 0.5, out=T, where=self.off)
        flat = S.ravel(order="K")
        done = 0  # the off-diagonal entries of the pattern before lo
        for lo in range(0, T.shape[0], SUBTRACT_CHUNK):  # gathers of bounded size
            t, off = T[lo : lo + SUBTRACT_CHUNK], self.off[lo : lo + SUBTRACT_CHUNK]
            flat[self.upper[lo : lo + SUBTRACT_CHUNK]] -= t
            count = int(np.count_nonzero(off))
            flat[self.lower[done : done + count]] -= t[off]
            done += count

    def row_forms(self, M: Array) -> Array:
        """e_a' M e_a for every row e_a of E (M symmetric and contiguous, m x m)."""
        flat = M.ravel(order="K")  # M symmetric: either order reads its upper triangle
        M_upper = flat[self.upper]
        forms = np.zeros(self.rows.shape[0])
        for part in self.parts:
            band = M_upper[part[0] : part[0] + part[1]]
            for lo, hi in _passes(part):
                forms[lo:hi] += _widened(part, lo, hi) @ band
        out = np.zeros(self.shape[0])
        out[self.rows] = self.scale**2 * forms
        return out


Part = tuple  # (first entry of the pattern, entries, indptr, positions, values or a product)


def _flat_pairs(c: Array, first: Array, second: Array, m: int) -> Array:
    """The flat positions j m + k in E'E of the pairs (first, second) of columns of each
    row of ``c`` (rows x k), row by row."""
    out = np.take(c, first, axis=1) * m
    out += np.take(c, second, axis=1)
    return out.reshape(-1)


def _split(indptr: Array, cols: Array, vals: Array, entries: int, common: float) -> list[Part]:
    """Some rows' pairs (positions ``cols`` in the pattern of ``entries``, products
    ``vals``) split into the parts of :class:`PairProducts`: per band, the pairs of
    product ``common`` (stored as that number), then the others; each row's pairs in
    their order, a part's ``indptr`` here its per-row counts."""
    count = indptr.shape[0] - 1
    bands = -(-entries // BAND)
    key = (cols // BAND).astype(np.int16 if bands < 2**14 else np.int64) * 2
    key += vals != common
    order = np.argsort(key, kind="stable")
    ends = np.concatenate([[0], np.cumsum(np.bincount(key, minlength=2 * bands))])
    rows = np.repeat(np.arange(count, dtype=np.int32), np.diff(indptr))[order]
    cols, vals = cols[order], vals[order]
    parts = []
    for k in range(2 * bands):
        mine, start = slice(ends[k], ends[k + 1]), (k // 2) * BAND
        parts.append((start, min(BAND, entries - start),
                      np.bincount(rows[mine], minlength=count),
                      (cols[mine] - start).astype(np.uint16),
                      common if k % 2 == 0 else vals[mine]))
    return parts


def _joined(pieces: list[Part]) -> Part:
    """One part from its pieces over consecutive blocks of rows (per-row counts, or one
    block's indptr)."""
    start, width, _, _, values = pieces[0]
    if len(pieces) == 1 and not isinstance(values, float) and values.dtype == np.float64:
        return pieces[0]
    counts = np.concatenate([p[2] for p in pieces])
    indptr = np.concatenate([[0], np.cumsum(counts)])
    indptr = indptr.astype(np.int32 if indptr[-1] < 2**31 else np.int64)
    positions = np.concatenate([p[3] for p in pieces])
    if not isinstance(values, float):
        values = np.concatenate([p[4] for p in pieces])
    return start, width, indptr, positions, values


def _passes(part: Part) -> list[tuple[int, int]]:
    """Consecutive rows (first, end) with at most PASS_PAIRS pairs of a compact part
    between them (one row at least); all rows at once for a float64 part."""
    indptr, values = part[2], part[4]
    out, lo, rows = [], 0, indptr.shape[0] - 1
    if not isinstance(values, float) and values.dtype == np.float64:
        return [(0, rows)]
    while lo < rows:
        hi = max(int(np.searchsorted(indptr, indptr[lo] + PASS_PAIRS, side="right")) - 1,
                 lo + 1)
        out.append((lo, hi))
        lo = hi
    return out


def _commonest(values: Array) -> float:
    """The commonest of ``values`` (0 when there is none)."""
    if values.size == 0:
        return 0.0
    found, counts = np.unique(values, return_counts=True)
    return float(found[np.argmax(counts)])


def _widened(part: Part, lo: int, hi: int) -> sparse.csr_matrix:
    """The rows lo:hi of a part of K with float64 values and int32 positions (copies when
    they are stored compact: the only wide copies alive)."""
    _, width, indptr, positions, values = part
    span = slice(indptr[lo], indptr[hi])
    wide = (np.full(span.stop - span.start, values) if isinstance(values, float)
            else values[span].astype(np.float64, copy=False))
    index = np.int32 if positions.dtype == np.uint16 else positions.dtype
    return sparse.csr_matrix((wide, positions[span].astype(index, copy=False),
                              indptr[lo : hi + 1] - indptr[lo]), shape=(hi - lo, width))


def _row_blocks(sizes: Array, most: float) -> list[tuple[int, int, Array]]:
    """Consecutive rows (first, end, their pairs' indptr) with at most ``most`` pairs
    each (one row at least), for rows of ``sizes`` non-zeros."""
    pairs = sizes * (sizes + 1) // 2
    ends = np.cumsum(pairs)
    out, lo = [], 0
    while lo < sizes.shape[0]:
        before = ends[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(ends, before + most, side="right")), lo + 1)
        indptr = np.concatenate([[0], ends[lo:hi] - before])
        out.append((lo, hi, indptr.astype(np.int32 if indptr[-1] < 2**31 else np.int64)))
        lo = hi
    return out


def _integers(values: Array, unit: float | None) -> Array | None:
    """values / unit when these are integers (to E's rounding: 1e-13 relative), else
    None."""
    if unit is None or not unit > 0 or values.size == 0:
        return None
    counts = np.rint(values / unit)
    if np.all(np.abs(counts * unit - values) <= 1e-13 * np.abs(values)):
        return counts
    return None


def _product_type(values: Array, integers: bool) -> type:
    """The narrowest type that holds every pair product 2 v_j v_k exactly: uint16 or
    float32 for integer ``values``, else float64."""
    if not integers:
        return np.float64
    largest = 2.0 * float(np.max(np.abs(values), initial=0.0)) ** 2
    if np.all(values >= 0) and largest < 2**16:
        return np.uint16
    return np.float32 if largest < 2**24 else np.float64


def _pair_chunks(E: sparse.csr_matrix, rows: Array, sizes: Array):
    """(span in the pair arrays, positions in E of the rows' non-zeros (rows x k), first,
    second) for the rows of E with k non-zeros, a few at a time (bounded temporaries),
    in the order of ``rows`` (sorted by their counts ``sizes``); first <= second index
    each row's pairs."""
    start = 0
    for same in np.split(rows, np.flatnonzero(np.diff(sizes)) + 1):
        k = int(E.indptr[same[0] + 1] - E.indptr[same[0]])
        first, second = np.triu_indices(k)
        for group in np.array_split(same, -(-same.shape[0] * first.shape[0] // PAIR_CHUNK)):
            stop = start + group.shape[0] * first.shape[0]
            yield slice(start, stop), E.indptr[group][:, None] + np.arange(k), first, second
            start = stop
