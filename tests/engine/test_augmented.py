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
from hglm.engine.blocks import Grouped, Indicator, as_block
from hglm.engine.factor import NotPositiveDefiniteError, inverse_diag_blocks

from .dense_reference import GROUPED_LAYOUTS, LAYOUTS, Dense, N, P


@pytest.fixture(params=sorted(LAYOUTS))
def problem(request) -> Dense:
    return Dense(seed=sorted(LAYOUTS).index(request.param) + 100, layout=request.param)


def test_solve(problem: Dense) -> None:
    factor = problem.system.factorize(problem.w1, problem.w2)
    b = problem.rng.normal(size=(P + problem.q))
    expected = np.linalg.solve(problem.C(), b)
    np.testing.assert_allclose(factor.solve(b), expected, rtol=1e-9, atol=1e-11)


def test_diag_inverse(problem: Dense) -> None:
    factor = problem.system.factorize(problem.w1, problem.w2)
    Cinv = np.linalg.inv(problem.C())
    np.testing.assert_allclose(factor.diag_inverse(), np.diag(Cinv), rtol=1e-9, atol=1e-13)


def test_weighted_diag_sums_per_term(problem: Dense) -> None:
    # the per-term sums of w2_j (C^{-1})_jj without diag(C^{-1}) on the eliminated block
    factor = problem.system.factorize(problem.w1, problem.w2)
    slices = problem.slices
    weighted = problem.w2 * np.diag(np.linalg.inv(problem.C()))[P:]
    expected = [weighted[sl].sum() for sl in slices]
    np.testing.assert_allclose(
        factor.weighted_diag_sums(problem.w2, slices), expected, rtol=1e-9, atol=1e-12
    )


def test_weighted_diag_sums_with_trace_weights(problem: Dense) -> None:
    # E' diag(c / D^2) E formed with S (one complex sparse product) gives the same sums;
    # other weights at the call fall back to their own product
    slices = problem.slices
    diag = np.diag(np.linalg.inv(problem.C()))[P:]
    factor = problem.system.factorize(problem.w1, problem.w2, trace_weights=problem.w2)
    other = problem.rng.uniform(0.5, 4.0, problem.q)
    for weights in (problem.w2, other):
        expected = [(weights * diag)[sl].sum() for sl in slices]
        np.testing.assert_allclose(
            factor.weighted_diag_sums(weights, slices), expected, rtol=1e-9, atol=1e-12
        )


def test_rows_quadform(problem: Dense) -> None:
    factor = problem.system.factorize(problem.w1, problem.w2)
    Cinv = np.linalg.inv(problem.C())
    expected = np.einsum("ij,jk,ik->i", problem.T1, Cinv, problem.T1)
    np.testing.assert_allclose(factor.rows_quadform(), expected, rtol=1e-9, atol=1e-13)


def test_inverse_diag_blocks(problem: Dense) -> None:
    """The per-level blocks of C^{-1} of every term (q x q for a vector-valued term, 1 x 1
    for an indicator, the whole term for a dense block), eliminated or in B, and a block
    across X and the first term (by solves)."""
    factor = problem.system.factorize(problem.w1, problem.w2)
    Cinv = np.linalg.inv(problem.C())
    requests = [(P - 1, 2, 1)]
    for b, sl in zip(problem.blocks, problem.slices, strict=True):
        size = b.size if isinstance(b, Grouped) else 1 if isinstance(b, Indicator) else (
            sl.stop - sl.start)
        count = (sl.stop - sl.start) // size
        requests += [(P + sl.start, size, count), (P + sl.start + size, size, count // 2)]
    for start, size, count in requests:
        blocks = factor.inverse_diag_blocks(start, size, count)
        assert blocks.shape == (count, size, size)
        for level in range(count):
            at = slice(start + level * size, start + (level + 1) * size)
            np.testing.assert_allclose(blocks[level], Cinv[at, at], rtol=1e-9, atol=1e-13)
        np.testing.assert_array_equal(inverse_diag_blocks(factor, start, size, count), blocks)


def test_leverages_sum_to_number_of_parameters(problem: Dense) -> None:
    # trace of the augmented hat matrix = p + q (all rows); a level without observations
    # (or an a:b cell with none) has leverage exactly 1 on its pseudo-row
    factor = problem.system.factorize(problem.w1, problem.w2)
    h = np.concatenate(
        [problem.w1 * factor.rows_quadform(), problem.w2 * factor.diag_inverse()[P:]]
    )
    assert np.all((h >= 0) & (h <= 1 + 1e-12))
    assert float(np.sum(h)) == pytest.approx(P + problem.q, rel=1e-10)


def test_logdet(problem: Dense) -> None:
    factor = problem.system.factorize(problem.w1, problem.w2)
    sign, expected = np.linalg.slogdet(problem.C())
    assert sign == 1.0
    assert factor.logdet() == pytest.approx(expected, rel=1e-11, abs=1e-10)


def test_logdet_random_block(problem: Dense) -> None:
    factor = problem.system.factorize(problem.w1, problem.w2)
    H = problem.Z.T @ (problem.w1[:, None] * problem.Z) + np.diag(problem.w2)
    sign, expected = np.linalg.slogdet(H)
    assert sign == 1.0
    assert factor.logdet_random_block() == pytest.approx(expected, rel=1e-11, abs=1e-10)
    # from the factor of S, which LAPACK wrote over S (no copy of the m x m matrix)
    assert factor.S.size == 0 or np.shares_memory(factor._chol, factor.S)


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
