"""Tests of the block-diagonal matrices of the eliminated term
(``hglm.engine.level_blocks``) against dense linear algebra, for q = 1 (the elementwise
shortcuts of an indicator) and q = 2, 3."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg, sparse

from hglm.engine.blocks import Grouped
from hglm.engine.factor import NotPositiveDefiniteError
from hglm.engine.level_blocks import LevelBlocks

M = 7


def spd_blocks(rng: np.random.Generator, q: int) -> np.ndarray:
    A = rng.normal(size=(M, q, q))
    return np.matmul(A, np.swapaxes(A, 1, 2)) + q * np.eye(q)


def dense(blocks: np.ndarray) -> np.ndarray:
    return linalg.block_diag(*blocks)


@pytest.fixture(params=[1, 2, 3])
def q(request) -> int:
    return request.param


def test_weighted_gram(q: int) -> None:
    rng = np.random.default_rng(q)
    n = 40
    codes = rng.integers(-1, M, n)  # -1: a row in no level
    block = Grouped.from_codes(codes, rng.normal(size=(n, q)), M)
    w = rng.uniform(0.5, 2.0, n)
    Z = block.toarray()
    np.testing.assert_allclose(dense(LevelBlocks.weighted_gram(block, w).blocks),
                               Z.T @ (w[:, None] * Z), rtol=1e-12, atol=1e-12)


def test_algebra_against_dense(q: int) -> None:
    rng = np.random.default_rng(10 + q)
    B = LevelBlocks(spd_blocks(rng, q))
    G = LevelBlocks(spd_blocks(rng, q))
    Bd, Gd = dense(B.blocks), dense(G.blocks)
    d = rng.uniform(0.5, 2.0, M * q)
    np.testing.assert_allclose(dense(B.plus_diagonal(d).blocks), Bd + np.diag(d))
    np.testing.assert_allclose(dense(B.plus(G).blocks), Bd + Gd)
    np.testing.assert_allclose(dense(B.scaled(2.5).blocks), 2.5 * Bd)
    np.testing.assert_array_equal(B.diagonal(), np.diag(Bd))
    inverse, logdet = B.invert()
    np.testing.assert_allclose(dense(inverse.blocks), np.linalg.inv(Bd), rtol=1e-10)
    assert logdet == pytest.approx(np.linalg.slogdet(Bd)[1], rel=1e-12)
    x, X = rng.normal(size=M * q), rng.normal(size=(M * q, 4))
    np.testing.assert_allclose(B.matvec(x), Bd @ x, rtol=1e-12)
    np.testing.assert_allclose(B.matvec(X), Bd @ X, rtol=1e-12)
    np.testing.assert_allclose(dense(B.sandwich(G).blocks), Bd @ Gd @ Bd, rtol=1e-12)
    np.testing.assert_allclose(dense(B.scale_diagonal(d).blocks), Bd @ np.diag(d) @ Bd,
                               rtol=1e-12)
    np.testing.assert_allclose(B.csr().toarray(), Bd)
    E = rng.normal(size=(M * q, 5)) * (rng.uniform(size=(M * q, 5)) < 0.5)
    for cross in (E, sparse.csr_matrix(E)):
        gram = B.gram_of(cross)
        assert sparse.issparse(gram) == sparse.issparse(cross)
        gram = gram.toarray() if sparse.issparse(gram) else gram
        np.testing.assert_allclose(gram, E.T @ Bd @ E, rtol=1e-12, atol=1e-12)
        S = rng.normal(size=(5, 5))
        reduced = S.copy()
        B.subtract_gram(reduced, cross)
        np.testing.assert_allclose(reduced, S - E.T @ Bd @ E, rtol=1e-12, atol=1e-12)
        assert B.gram_frobenius(S, cross) == pytest.approx(float(np.sum(S * (E.T @ Bd @ E))),
                                                           rel=1e-12, abs=1e-12)
    first, second = B.gram_pair(sparse.csr_matrix(E), G)
    np.testing.assert_allclose(first.toarray(), E.T @ Bd @ E, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(second.toarray(), E.T @ Gd @ E, rtol=1e-12, atol=1e-12)


def test_row_products(q: int) -> None:
    rng = np.random.default_rng(20 + q)
    B = LevelBlocks(spd_blocks(rng, q))
    index, u = rng.integers(0, M, 30), rng.normal(size=(30, q))
    np.testing.assert_allclose(B.row_apply(index, u),
                               np.einsum("nij,nj->ni", B.blocks[index], u), rtol=1e-12)
    np.testing.assert_allclose(B.row_forms(index, u),
                               np.einsum("ni,nij,nj->n", u, B.blocks[index], u), rtol=1e-12)


def test_invert_refuses_a_block_not_positive_definite(q: int) -> None:
    blocks = spd_blocks(np.random.default_rng(30 + q), q)
    blocks[3] = -np.eye(q)
    with pytest.raises(NotPositiveDefiniteError, match="random-effect block"):
        LevelBlocks(blocks).invert()


def test_invert_refuses_an_indefinite_pair_with_a_positive_diagonal() -> None:
    blocks = spd_blocks(np.random.default_rng(33), 2)
    blocks[2] = [[1.0, 2.0], [2.0, 1.0]]  # det -3: the closed form's second pivot
    with pytest.raises(NotPositiveDefiniteError, match="random-effect block"):
        LevelBlocks(blocks).invert()
