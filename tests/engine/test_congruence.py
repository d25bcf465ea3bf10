"""The system of the blocks Z T from that of Z (``hglm.engine.congruence``): its
factorization equals that of a system built from Z T, wherever the vector terms sit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from hglm.engine import (
    Grouped,
    Indicator,
    augmented,
    gram_matvec,
    kept_products,
    make_system,
    schur_buffer,
    transformed_system,
)
from hglm.engine.augmented import AugmentedSystem
from hglm.engine.blocks import block_array
from hglm.engine.sparse import SparseSystem

N = 300


def lower(rng: np.random.Generator, q: int) -> np.ndarray:
    L = np.tril(rng.normal(size=(q, q)))
    np.fill_diagonal(L, rng.uniform(0.3, 2.0, q))
    return L


def grouped(rng: np.random.Generator, levels: int, q: int) -> Grouped:
    values = np.column_stack([np.ones(N), rng.normal(size=(N, q - 1))])
    return Grouped.from_codes(rng.integers(0, levels, N), values, levels)


def indicator(rng: np.random.Generator, levels: int) -> Indicator:
    return Indicator(rng.integers(0, levels, N), np.ones(N), levels)


CASES = {
    # (term blocks, which terms are vector-valued): A a vector term and X alone in B
    "vector_a": lambda rng: [grouped(rng, 40, 2)],
    # A vector, a scalar term in B (sparse E)
    "vector_a_scalar_b": lambda rng: [grouped(rng, 40, 3), indicator(rng, 6)],
    # two crossed vector terms: the smaller one in B
    "vector_a_vector_b": lambda rng: [grouped(rng, 30, 2), grouped(rng, 5, 2)],
    # a scalar A with more columns, the vector term in B
    "scalar_a_vector_b": lambda rng: [indicator(rng, 90), grouped(rng, 8, 2)],
}


@pytest.mark.parametrize("kept_order", [augmented.DENSE_KEPT_ORDER, 0])
@pytest.mark.parametrize("case", sorted(CASES))
def test_factorization_matches_the_rebuilt_system(case: str, kept_order: int,
                                                  monkeypatch) -> None:
    # kept_order 0: F0 kept sparse, and so the products the congruence starts from
    monkeypatch.setattr(augmented, "DENSE_KEPT_ORDER", kept_order)
    rng = np.random.default_rng(len(case))
    blocks = CASES[case](rng)
    X = np.column_stack([np.ones(N), rng.normal(size=N)])
    factors = [lower(rng, b.size) if isinstance(b, Grouped) else None for b in blocks]
    w1 = rng.uniform(0.5, 2.0, N)
    base = make_system(X, blocks, scaled_weights=True)
    assert isinstance(base, AugmentedSystem)
    rebuilt = AugmentedSystem(X, [b if f is None else Grouped(b.index, b.values @ f, b.n_levels)
                                  for b, f in zip(blocks, factors, strict=True)])
    q = rebuilt.q
    w2 = rng.uniform(0.5, 2.0, q)
    rhs = rng.normal(size=X.shape[1] + q)
    for _ in range(2):  # the second call reuses the base's products
        system = transformed_system(base, factors, w1)
        got, want = system.factorize(w1, w2), rebuilt.factorize(w1, w2)
        assert got.logdet() == pytest.approx(want.logdet(), rel=1e-12)
        assert got.logdet_random_block() == pytest.approx(want.logdet_random_block(),
                                                          rel=1e-12)
        np.testing.assert_allclose(got.solve(rhs), want.solve(rhs), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got.diag_inverse(), want.diag_inverse(), rtol=1e-10)
    np.testing.assert_allclose(system.linear_predictor(rhs), rebuilt.linear_predictor(rhs))


def test_weights_proportional_to_the_bases() -> None:
    rng = np.random.default_rng(4)
    blocks = [grouped(rng, 20, 2)]
    X = np.ones((N, 1))
    L = lower(rng, 2)
    w1 = rng.uniform(0.5, 2.0, N)
    base = make_system(X, blocks, scaled_weights=True)
    base.factorize(w1, np.ones(40))
    system = transformed_system(base, [L], 3.0 * w1)  # the base's products scaled
    rebuilt = AugmentedSystem(X, [Grouped(blocks[0].index, blocks[0].values @ L, 20)])
    assert system.factorize(3.0 * w1, np.ones(40)).logdet() == pytest.approx(
        rebuilt.factorize(3.0 * w1, np.ones(40)).logdet(), rel=1e-12)


def test_other_weights_form_the_products_afresh() -> None:
    rng = np.random.default_rng(5)
    blocks = [grouped(rng, 20, 2)]
    X = np.ones((N, 1))
    L = lower(rng, 2)
    w1, w_other = rng.uniform(0.5, 2.0, N), rng.uniform(0.5, 2.0, N)
    system = transformed_system(make_system(X, blocks, scaled_weights=True), [L], w1)
    rebuilt = AugmentedSystem(X, [Grouped(blocks[0].index, blocks[0].values @ L, 20)])
    w2 = np.ones(40)
    assert system.factorize(w_other, w2).logdet() == pytest.approx(
        rebuilt.factorize(w_other, w2).logdet(), rel=1e-12)


def test_the_sparse_solver_is_rebuilt_from_z_t() -> None:
    rng = np.random.default_rng(6)
    blocks = [grouped(rng, 20, 2)]
    X = np.ones((N, 1))
    L = lower(rng, 2)
    system = transformed_system(SparseSystem(X, blocks), [L], np.ones(N))
    assert isinstance(system, SparseSystem)
    np.testing.assert_allclose(system.blocks[0].values, blocks[0].values @ L)


@pytest.mark.parametrize("kept_order", [augmented.DENSE_KEPT_ORDER, 0])
def test_held_products_give_the_gram_product(kept_order: int, monkeypatch) -> None:
    # F0 held as the system keeps it (sparse from DENSE_KEPT_ORDER on), not in the
    # shared buffer: the next factorization reuses the buffer
    monkeypatch.setattr(augmented, "DENSE_KEPT_ORDER", kept_order)
    # a buffer of this test's own: one shared with systems that earlier tests keep alive
    # may be held by their factors
    monkeypatch.setattr(schur_buffer, "_shared", None)
    rng = np.random.default_rng(7)
    blocks = [indicator(rng, 40), indicator(rng, 6)]
    X = np.column_stack([np.ones(N), rng.normal(size=N)])
    w1 = rng.uniform(0.5, 2.0, N)
    system = make_system(X, blocks, scaled_weights=True)
    products = kept_products(system, w1)
    assert sparse.issparse(products[0]) == (system.m > kept_order)
    assert not np.shares_memory(np.asarray(products[0].data if sparse.issparse(products[0])
                                           else products[0]), system._schur._memory)
    T1 = np.hstack([X] + [block_array(b) for b in blocks])
    x = rng.normal(size=T1.shape[1])
    np.testing.assert_allclose(gram_matvec(system, products, x), T1.T @ (w1 * (T1 @ x)),
                               rtol=1e-12)
    factor = system.factorize(w1, np.ones(46))
    assert np.shares_memory(factor.S, system._schur._memory)
