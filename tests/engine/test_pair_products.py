"""Tests of the Gram products E' diag(d) E (``hglm.engine.pair_products``) against dense
products, and of the pair products' memory budget in the structured solver."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from hglm.engine.augmented import AugmentedSystem
from hglm.engine.blocks import as_block
from hglm.engine.pair_products import (
    PairProducts,
    frobenius,
    scaled_gram,
    scaled_gram_frobenius,
    scaled_gram_pair,
    subtract_from,
    subtract_scaled_gram,
)


def test_scaled_gram_pair_matches_dense() -> None:
    rng = np.random.default_rng(5)
    E = sparse.random(30, 9, density=0.3, format="csr", random_state=rng)
    d1, d2 = rng.uniform(0.1, 2.0, 30), rng.uniform(0.1, 2.0, 30)
    G1, G2 = scaled_gram_pair(E, d1, d2)
    assert sparse.issparse(G1) and sparse.issparse(G2)
    dense = E.toarray()
    np.testing.assert_allclose(G1.toarray(), dense.T @ (d1[:, None] * dense), rtol=1e-13,
                               atol=1e-15)
    np.testing.assert_allclose(G2.toarray(), dense.T @ (d2[:, None] * dense), rtol=1e-13,
                               atol=1e-15)
    np.testing.assert_array_equal(G1.toarray(), scaled_gram(E, d1).toarray())


@pytest.mark.parametrize("m", [1, 63, 64, 150])
def test_subtract_from_and_frobenius_match_dense(m: int) -> None:
    rng = np.random.default_rng(m)
    G = sparse.random(m, m, density=0.2, format="csr", random_state=rng)
    S = rng.normal(size=(m, m))
    expected = S - G.toarray()
    subtract_from(S, G)
    np.testing.assert_array_equal(S, expected)
    M = rng.normal(size=(m, m))
    assert frobenius(M, G) == pytest.approx(float(np.sum(M * G.toarray())), rel=1e-12)
    assert frobenius(M, G.toarray()) == pytest.approx(frobenius(M, G), rel=1e-12)


@pytest.mark.parametrize("m", [1, 63, 64, 150])
@pytest.mark.parametrize("as_sparse", [True, False])
def test_banded_gram_subtraction_and_frobenius_match_dense(m: int, as_sparse: bool) -> None:
    """E' diag(d) E subtracted and its Frobenius product with M, by bands of rows of the
    product (the band edges at 64 rows), are those of the dense product."""
    rng = np.random.default_rng(m)
    E = sparse.random(40, m, density=0.2, format="csr", random_state=rng)
    d = rng.uniform(0.1, 2.0, 40)
    dense = E.toarray()
    gram = dense.T @ (d[:, None] * dense)
    S = rng.normal(size=(m, m))
    reduced = S.copy()
    subtract_scaled_gram(reduced, E if as_sparse else dense, d)
    np.testing.assert_allclose(reduced, S - gram, rtol=1e-13, atol=1e-13)
    M = rng.normal(size=(m, m))
    total = scaled_gram_frobenius(M, E if as_sparse else dense, d)
    assert total == pytest.approx(float(np.sum(M * gram)), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pair_products_match_dense(seed: int) -> None:
    # rows with unsorted and duplicate columns, and empty rows
    rng = np.random.default_rng(seed)
    rows = [rng.choice(11, size=rng.integers(0, 7), replace=True) for _ in range(40)]
    rows[5] = np.zeros(0, dtype=int)
    indptr = np.concatenate([[0], np.cumsum([r.size for r in rows])])
    indices = np.concatenate(rows)
    E = sparse.csr_matrix((rng.normal(size=indices.size), indices, indptr), shape=(40, 11))
    dense = E.toarray()
    pairs = PairProducts(E)
    assert PairProducts.count(E) >= sum(part[3].size for part in pairs.parts)
    d = rng.uniform(0.1, 2.0, 40)
    S = rng.normal(size=(11, 11))
    reduced = S.copy()
    pairs.subtract_gram(reduced, d)
    np.testing.assert_allclose(reduced, S - dense.T @ (d[:, None] * dense), rtol=1e-13,
                               atol=1e-13)
    M = rng.normal(size=(11, 11))
    M = M + M.T
    expected = np.einsum("ij,jk,ik->i", dense, M, dense)
    np.testing.assert_allclose(pairs.row_forms(M), expected, rtol=1e-12, atol=1e-13)
    scaled = pairs.scaled(-1.5)
    scaled_reduced = S.copy()
    scaled.subtract_gram(scaled_reduced, d)
    np.testing.assert_allclose(S - scaled_reduced, 2.25 * (S - reduced), rtol=1e-12,
                               atol=1e-13)
    np.testing.assert_allclose(scaled.row_forms(M), 2.25 * expected, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("low, high, stored", [(0, 5, np.uint16), (-3, 4, np.float32),
                                               (0, 2000, np.float32), (0, 10**5, np.float64)])
def test_pair_products_of_counts_compact(monkeypatch, low, high, stored) -> None:
    """E = unit times integers: the integers' products are stored in the narrowest exact
    type and widened a block of rows at a time; the numbers are those of E."""
    from hglm.engine import pair_products

    monkeypatch.setattr(pair_products, "BUILD_PAIRS", 9)  # many blocks of rows built,
    monkeypatch.setattr(pair_products, "PASS_PAIRS", 7)  # and widened
    monkeypatch.setattr(pair_products, "BAND", 6)  # and bands of the pattern,
    monkeypatch.setattr(pair_products, "SUBTRACT_CHUNK", 5)  # subtracted from S in chunks
    rng = np.random.default_rng(4)
    counts = sparse.random(30, 9, density=0.4, random_state=5, format="csr")
    counts.data = rng.integers(low, high, counts.nnz).astype(float)
    counts.data[counts.data == 0] = 1.0
    counts.data[counts.indices == 4] = 0.0  # a column of E without entries
    counts.eliminate_zeros()
    unit = 0.37
    E = unit * counts
    pairs = PairProducts(E, unit)
    kinds = {np.asarray(p[4]).dtype for p in pairs.parts}
    assert kinds == ({np.dtype(stored), np.dtype(float)} if stored is not np.float64
                     else {np.dtype(float)})
    assert len(pairs.parts) > 2 or stored is np.float64
    dense = E.toarray()
    d = rng.uniform(0.1, 2.0, 30)
    S = rng.normal(size=(9, 9))
    reduced = S.copy()
    pairs.subtract_gram(reduced, d)
    expected = S - dense.T @ (d[:, None] * dense)
    np.testing.assert_allclose(reduced, expected, rtol=1e-13, atol=1e-12 * np.abs(expected).max())
    M = rng.normal(size=(9, 9))
    M = M + M.T
    forms = np.einsum("ij,jk,ik->i", dense, M, dense)
    np.testing.assert_allclose(pairs.row_forms(M), forms, rtol=1e-12,
                               atol=1e-12 * np.abs(forms).max())
    # not integers at this unit: float64 products of E itself
    for general in (PairProducts(E, 0.3 * unit), PairProducts(E)):
        assert [p[4].dtype for p in general.parts] == [np.float64]


@pytest.mark.parametrize("budget, used", [(0, False), (10**9, True)])
def test_pair_products_budget_grows_with_rows(monkeypatch, budget, used) -> None:
    """Pair products are stored up to PAIR_PRODUCTS_MAX pairs, or PAIRS_PER_ROW per row
    of data when that is more; beyond, the factorization multiplies E afresh."""
    from hglm.engine import pair_products

    rng = np.random.default_rng(3)
    n = 400
    a, b = rng.integers(0, 20, n), rng.integers(0, 15, n)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    blocks = [as_block(np.eye(20)[a]), as_block(np.eye(15)[b])]
    monkeypatch.setattr(pair_products, "PAIR_PRODUCTS_MAX", 0)
    monkeypatch.setattr(pair_products, "PAIRS_PER_ROW", budget // n)
    sysm = AugmentedSystem(X, blocks, scaled_weights=True)
    w1, w2 = np.full(n, 2.0), np.full(35, 0.5)
    factor = sysm.factorize(w1, w2, trace_weights=w2)
    assert (factor.pairs is not None) is used
    T = np.column_stack([X, np.eye(20)[a], np.eye(15)[b]])
    C = T.T @ (w1[:, None] * T) + np.diag(np.concatenate([np.zeros(2), w2]))
    rhs = rng.normal(size=C.shape[0])
    np.testing.assert_allclose(factor.solve(rhs), np.linalg.solve(C, rhs), rtol=1e-10)
