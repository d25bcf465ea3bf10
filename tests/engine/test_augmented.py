"""Tests of the structured Cholesky (``hglm.engine.augmented``) against dense linear
algebra on small random problems (:mod:`.dense_reference`): the factor must reproduce
C^{-1} b, diag(C^{-1}), t_i' C^{-1} t_i, log det C and log det(Z' diag(w1) Z + diag(w2)),
also when the weighted products are reused for rescaled weights.
"""

from __future__ import annotations

import numpy as np
import pytest

from hglm.engine import schur_products
from hglm.engine.augmented import AugmentedSystem
from hglm.engine.blocks import Grouped, as_block
from hglm.engine.factor import NotPositiveDefiniteError

from .dense_reference import GROUPED_LAYOUTS, LAYOUTS, Dense, N, P


@pytest.fixture(params=sorted(LAYOUTS))
def problem(request) -> Dense:
    return Dense(seed=sorted(LAYOUTS).index(request.param) + 100, layout=request.param)


def test_refactorize_with_scaled_and_new_weights(problem: Dense) -> None:
    # the dense Gram block is cached across factorizations when w1 is rescaled; the
    # result must still be that of the new weights, and a genuinely new w1 must not
    # reuse it
    sysm = problem.system
    sysm.factorize(problem.w1, problem.w2)
    b = problem.rng.normal(size=P + problem.q)
    for w1 in (2.5 * problem.w1, problem.rng.uniform(0.3, 3.0, N), problem.w1):
        factor = sysm.factorize(w1, problem.w2)
        np.testing.assert_allclose(
            factor.solve(b), np.linalg.solve(problem.C(w1=w1), b), rtol=1e-9, atol=1e-11
        )
        np.testing.assert_allclose(
            factor.diag_inverse(), np.diag(np.linalg.inv(problem.C(w1=w1))), rtol=1e-9
        )


def test_scaled_weights_system_agrees_with_dense(problem: Dense) -> None:
    # scaled_weights=True: E' diag(d) E from pair products (sparse E) from the first
    # factorization on; rescaled and genuinely new w1 must give the dense results
    sysm = AugmentedSystem(problem.X, problem.blocks, scaled_weights=True)
    slices = problem.slices
    b = problem.rng.normal(size=P + problem.q)
    for w1 in (problem.w1, 0.4 * problem.w1, problem.rng.uniform(0.3, 3.0, N), problem.w1):
        factor = sysm.factorize(w1, problem.w2, trace_weights=problem.w2)
        C = problem.C(w1=w1)
        np.testing.assert_allclose(factor.solve(b), np.linalg.solve(C, b), rtol=1e-9,
                                   atol=1e-11)
        weighted = problem.w2 * np.diag(np.linalg.inv(C))[P:]
        np.testing.assert_allclose(
            factor.weighted_diag_sums(problem.w2, slices),
            [weighted[sl].sum() for sl in slices], rtol=1e-9, atol=1e-12,
        )


def test_scaled_weights_second_element_differs() -> None:
    # a new w1 proportional to the old one in its first entry only must not hit the cache
    prob = Dense(7, "dense_only")
    sysm = prob.system
    sysm.factorize(prob.w1, prob.w2)
    w1 = prob.w1.copy()
    w1[1:] *= 3.0
    factor = sysm.factorize(w1, prob.w2)
    np.testing.assert_allclose(
        factor.diag_inverse(), np.diag(np.linalg.inv(prob.C(w1=w1))), rtol=1e-9
    )


def test_free_weights_keep_no_products_beside_the_factor(problem: Dense) -> None:
    # a system whose weights change freely lets E and D0 go with the factor; the
    # products asked for alone are still kept for the same weights again
    sysm = problem.system
    factor = sysm.factorize(problem.w1, problem.w2)
    assert sysm._products is None
    b = problem.rng.normal(size=P + problem.q)
    np.testing.assert_allclose(factor.solve(b), np.linalg.solve(problem.C(), b), rtol=1e-9,
                               atol=1e-11)
    first = sysm.weighted_products(problem.w1)
    again = sysm.weighted_products(problem.w1)
    assert again[3] == 1.0 and again[2] is first[2]
    scaled = AugmentedSystem(problem.X, problem.blocks, scaled_weights=True)
    scaled.factorize(problem.w1, problem.w2)
    assert scaled._products is not None  # kept: the next weights may be a multiple


def test_not_positive_definite_raises() -> None:
    prob = Dense(5, "unused_level")
    w2 = prob.w2.copy()
    w2[4] = 0.0  # the unused level then has an all-zero row and column
    with np.errstate(divide="ignore"), pytest.raises(NotPositiveDefiniteError):
        prob.system.factorize(prob.w1, w2)


def test_not_positive_definite_block_of_a_vector_term() -> None:
    # the unused level's 2 x 2 block of C is diag(w2): singular when a w2 is 0
    prob = Dense(5, "grouped_unused_level")
    w2 = prob.w2.copy()
    w2[9] = 0.0
    with pytest.raises(NotPositiveDefiniteError, match="random-effect block"):
        prob.system.factorize(prob.w1, w2)


def test_not_positive_definite_in_dense_part() -> None:
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(N), np.ones(N)])  # duplicated column, not full rank
    sysm = AugmentedSystem(X, [rng.normal(size=(N, 2))])
    with pytest.raises(np.linalg.LinAlgError):
        sysm.factorize(np.ones(N), np.ones(2))


@pytest.mark.parametrize("layout", ["one_indicator", "two_crossed", "dense_only", "zero_rows",
                                    *GROUPED_LAYOUTS])
def test_no_fixed_columns(layout: str) -> None:
    # the Z-only system (p = 0) used by the EQL1 correction
    prob = Dense(31, layout)
    sysm = AugmentedSystem(np.zeros((N, 0)), prob.blocks)
    factor = sysm.factorize(prob.w1, prob.w2)
    H = prob.Z.T @ (prob.w1[:, None] * prob.Z) + np.diag(prob.w2)
    Hinv = np.linalg.inv(H)
    b = prob.rng.normal(size=prob.q)
    np.testing.assert_allclose(factor.solve(b), Hinv @ b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(factor.diag_inverse(), np.diag(Hinv), rtol=1e-9)
    np.testing.assert_allclose(
        factor.rows_quadform(), np.einsum("ij,jk,ik->i", prob.Z, Hinv, prob.Z),
        rtol=1e-9, atol=1e-14,
    )
    logdet = np.linalg.slogdet(H)[1]
    assert factor.logdet() == pytest.approx(logdet, rel=1e-11)
    assert factor.logdet_random_block() == pytest.approx(logdet, rel=1e-11)


def test_many_small_levels_use_the_gather_path_and_agree_with_dense() -> None:
    """Two rows per level of the eliminated factor and a wide Schur complement: the
    factor gathers S^-1 on E's pattern instead of forming E S^-1 (check it does), and the
    leverages and diag(C^-1) agree with a dense inverse."""
    rng = np.random.default_rng(11)
    n, qa, qb = 1200, 600, 300
    a = np.repeat(np.arange(qa), 2)
    b = rng.integers(0, qb, n)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    Za = np.zeros((n, qa))
    Za[np.arange(n), a] = 1.0
    Zb = np.zeros((n, qb))
    Zb[np.arange(n), b] = rng.normal(size=n)
    sysm = AugmentedSystem(X, [as_block(Za), as_block(Zb)])
    w1, w2 = rng.uniform(0.5, 2.0, n), rng.uniform(0.5, 3.0, qa + qb)
    factor = sysm.factorize(w1, w2)
    assert not factor._multiplies
    _assert_inverse_as_dense(factor, np.hstack([X, Za, Zb]), w1, w2)


def test_many_small_levels_of_a_vector_term_gather_and_agree_with_dense() -> None:
    """As above with (1 + x | a) eliminated (q = 2, two rows per level) beside an
    indicator in B: the per-level blocks of E S^-1 E' come from gathers on E's pattern."""
    rng = np.random.default_rng(12)
    n, levels, qb = 1200, 600, 300
    x = rng.normal(size=n)
    a = Grouped.from_codes(np.repeat(np.arange(levels), 2), np.column_stack([np.ones(n), x]),
                           levels)
    Zb = np.zeros((n, qb))
    Zb[np.arange(n), rng.integers(0, qb, n)] = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    sysm = AugmentedSystem(X, [a, as_block(Zb)])
    w1, w2 = rng.uniform(0.5, 2.0, n), rng.uniform(0.5, 3.0, 2 * levels + qb)
    factor = sysm.factorize(w1, w2)
    assert not factor._multiplies
    Ci = _assert_inverse_as_dense(factor, np.hstack([X, a.toarray(), Zb]), w1, w2)
    blocks = factor.inverse_diag_blocks(2, 2, levels)
    for level in (0, 17, levels - 1):
        at = slice(2 + 2 * level, 4 + 2 * level)
        np.testing.assert_allclose(blocks[level], Ci[at, at], rtol=1e-9, atol=1e-13)


def _assert_inverse_as_dense(factor, T1, w1, w2):
    """diag(C^-1) and the rows' t_i'C^-1 t_i of ``factor`` equal the dense ones (two fixed
    effects first); returns the dense C^-1."""
    C = T1.T @ (w1[:, None] * T1)
    C[2:, 2:] += np.diag(w2)
    Ci = np.linalg.inv(C)
    np.testing.assert_allclose(factor.diag_inverse(), np.diag(Ci), rtol=1e-9, atol=1e-12)
    expected = np.einsum("ij,jk,ik->i", T1, Ci, T1)
    np.testing.assert_allclose(factor.rows_quadform(), expected, rtol=1e-9, atol=1e-12)
    return Ci


@pytest.mark.parametrize("vector", [False, True])
def test_e_sinv_bands_agree_with_dense(monkeypatch: pytest.MonkeyPatch, vector: bool) -> None:
    """Wide rows of E (many observations per level): E S^-1 is formed by bands of whole
    levels (here several bands, the last one short) and the leverages and diag(C^-1)
    agree with a dense inverse."""
    monkeypatch.setattr(schur_products, "E_SINV_BAND_ELEMENTS", 7 * 2 * 42)
    rng = np.random.default_rng(13)
    n, levels, qb = 1500, 30, 40
    x = rng.normal(size=n)
    codes = rng.integers(0, levels, n)
    if vector:
        a = Grouped.from_codes(codes, np.column_stack([np.ones(n), x]), levels)
        Za = a.toarray()
    else:
        Za = np.zeros((n, levels))
        Za[np.arange(n), codes] = 1.0
        a = as_block(Za)
    Zb = np.zeros((n, qb))
    Zb[np.arange(n), rng.integers(0, qb, n)] = 1.0
    X = np.column_stack([np.ones(n), x])
    sysm = AugmentedSystem(X, [a, as_block(Zb)])
    w1, w2 = rng.uniform(0.5, 2.0, n), rng.uniform(0.5, 3.0, Za.shape[1] + qb)
    factor = sysm.factorize(w1, w2)
    assert factor._multiplies
    _assert_inverse_as_dense(factor, np.hstack([X, Za, Zb]), w1, w2)


def test_only_a_factorization_builds_es_stored_products() -> None:
    """The pair products (or grouped Gram matrices) of E are built for factorizations:
    the products an outer loop holds (held_products) leave them unbuilt."""
    rng = np.random.default_rng(3)
    n = 600
    a, b = rng.integers(0, 60, n), rng.integers(0, 12, n)
    blocks = [as_block(np.eye(60)[a]), as_block(np.eye(12)[b])]
    system = AugmentedSystem(np.ones((n, 1)), blocks, scaled_weights=True)
    w1 = np.full(n, 2.0)
    system.held_products(w1)
    assert system._products.stored is None
    system.factorize(w1, np.ones(system.q))
    assert system._products.stored is not None
