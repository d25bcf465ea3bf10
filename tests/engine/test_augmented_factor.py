"""Tests of the factor of the structured Cholesky (``hglm.engine.augmented_factor``)
against dense linear algebra on small random problems (:mod:`.dense_reference`): it must
reproduce C^{-1} b, diag(C^{-1}) and its per-level blocks, t_i' C^{-1} t_i, the weighted
diagonal sums, log det C and log det(Z' diag(w1) Z + diag(w2)).
"""

from __future__ import annotations

import numpy as np
import pytest

from hglm.engine.blocks import Grouped, Indicator
from hglm.engine.factor import inverse_diag_blocks

from .dense_reference import LAYOUTS, Dense, P


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
