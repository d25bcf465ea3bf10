"""The common interface of the factors of C = T'WT (``hglm.engine.factor``): the three
solvers' factors of one Gaussian problem serve the same leverages, standard errors and
log-determinants, those of a dense C (:mod:`.dense_reference`).

The n-space factor needs one random-row weight per term (1 / lambda_k), so the weights
w2 here are constant within each term.
"""

from __future__ import annotations

import numpy as np
import pytest

from hglm.engine.augmented import AugmentedSystem
from hglm.engine.blocks import Grouped, as_block
from hglm.engine.factor import Factor, SolvingFactor, System, inverse_diag_blocks
from hglm.engine.nspace import MarginalSolver
from hglm.engine.sparse import SparseSystem

from .dense_reference import Dense, N, P

LAYOUTS = ["one_indicator", "two_crossed", "dense_and_indicator", "zero_rows"]
SOLVERS = ["augmented", "sparse", "marginal"]


def factor_of(prob: Dense, solver: str, w1: np.ndarray, w2: np.ndarray) -> Factor:
    blocks = [as_block(b) for b in prob.user_blocks]
    if solver == "marginal":
        marginal = MarginalSolver(prob.X, blocks, prob.rng.normal(size=N), np.ones(N))
        return marginal.factorize(w1, w2)
    system = (AugmentedSystem if solver == "augmented" else SparseSystem)(prob.X, blocks)
    assert isinstance(system, System)
    factor = system.factorize(w1, w2)
    assert isinstance(factor, SolvingFactor)
    return factor


def term_weights(prob: Dense) -> np.ndarray:
    """One random-row weight per term, repeated over its effects."""
    widths = [b.shape[1] for b in prob.user_blocks]
    return np.repeat(prob.rng.uniform(0.5, 4.0, len(widths)), widths)


@pytest.mark.parametrize("constant_w1", [False, True], ids=["w1", "constant w1"])
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_factor_interface_against_dense(layout: str, solver: str, constant_w1: bool) -> None:
    """diag(C^{-1}), t_i' C^{-1} t_i, a block of C^{-1}, log det C and
    log det(Z'W1Z + W2) from each solver's factor (the n-space solver rotates by the
    eigendecomposition of G under a constant w1 and one term)."""
    prob = Dense(LAYOUTS.index(layout) + 40, layout)
    w1 = np.full(N, 1.7) if constant_w1 else prob.w1
    w2 = term_weights(prob)
    factor = factor_of(prob, solver, w1, w2)
    assert isinstance(factor, Factor)
    C = prob.C(w1=w1, w2=w2)
    Cinv = np.linalg.inv(C)
    np.testing.assert_allclose(np.asarray(factor.diag_inverse()), np.diag(Cinv), rtol=1e-9,
                               atol=1e-13)
    np.testing.assert_allclose(factor.rows_quadform(),
                               np.einsum("ij,jk,ik->i", prob.T1, Cinv, prob.T1), rtol=1e-9,
                               atol=1e-13)
    first_term = P + np.arange(prob.user_blocks[0].shape[1])
    np.testing.assert_allclose(factor.inverse_block(first_term),
                               Cinv[np.ix_(first_term, first_term)], rtol=1e-9, atol=1e-13)
    assert factor.logdet() == pytest.approx(np.linalg.slogdet(C)[1], rel=1e-10)
    H = prob.Z.T @ (w1[:, None] * prob.Z) + np.diag(w2)
    assert factor.logdet_random_block() == pytest.approx(np.linalg.slogdet(H)[1], rel=1e-10)


@pytest.mark.parametrize("solver", ["augmented", "sparse"])
def test_solving_factor_against_dense(solver: str) -> None:
    """C^{-1} b, the random rows' leverages and their sums per term."""
    prob = Dense(44, "three_crossed")
    factor = factor_of(prob, solver, prob.w1, prob.w2)
    C = prob.C()
    b = prob.rng.normal(size=P + prob.q)
    np.testing.assert_allclose(factor.solve(b), np.linalg.solve(C, b), rtol=1e-9, atol=1e-12)
    hat = prob.w2 * np.diag(np.linalg.inv(C))[P:]
    np.testing.assert_allclose(factor.random_leverages(prob.w2), hat, rtol=1e-9, atol=1e-13)
    ends = np.cumsum([b.shape[1] for b in prob.user_blocks])
    slices = [slice(int(s), int(e)) for s, e in zip(np.r_[0, ends[:-1]], ends, strict=True)]
    np.testing.assert_allclose(factor.weighted_diag_sums(prob.w2, slices),
                               [hat[sl].sum() for sl in slices], rtol=1e-9, atol=1e-12)


def test_inverse_diag_blocks_of_a_vector_term() -> None:
    rng = np.random.default_rng(3)
    n, m = 80, 9
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    block = Grouped.from_codes(rng.integers(0, m, n),
                               np.column_stack([np.ones(n), rng.normal(size=n)]), m)
    w1, w2 = rng.uniform(0.5, 2.0, n), np.full(2 * m, 0.7)
    factor = SparseSystem(X, [block]).factorize(w1, w2)
    T = np.hstack([X, block.toarray()])
    inverse = np.linalg.inv(T.T @ (w1[:, None] * T) + np.diag(np.r_[0.0, 0.0, w2]))
    blocks = inverse_diag_blocks(factor, 2, 2, m)
    for level in range(m):
        at = 2 + 2 * level
        np.testing.assert_allclose(blocks[level], inverse[at:at + 2, at:at + 2], rtol=1e-10)
