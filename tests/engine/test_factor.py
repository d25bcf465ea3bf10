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
from hglm.engine.blocks import Grouped
from hglm.engine.factor import Factor, SolvingFactor, System, inverse_diag_blocks
from hglm.engine.nspace import MarginalSolver
from hglm.engine.sparse import SparseSystem

from .dense_reference import Dense, N, P

LAYOUTS = ["one_indicator", "two_crossed", "dense_and_indicator", "zero_rows", "grouped",
           "indicator_and_grouped", "two_grouped"]
SOLVERS = ["augmented", "sparse", "marginal"]


def factor_of(prob: Dense, solver: str, w1: np.ndarray, w2: np.ndarray) -> Factor:
    blocks = prob.blocks
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
    widths = [sl.stop - sl.start for sl in prob.slices]
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
    first_term = P + np.arange(prob.slices[0].stop)
    np.testing.assert_allclose(factor.inverse_block(first_term),
                               Cinv[np.ix_(first_term, first_term)], rtol=1e-9, atol=1e-13)
    assert factor.logdet() == pytest.approx(np.linalg.slogdet(C)[1], rel=1e-10)
    H = prob.Z.T @ (w1[:, None] * prob.Z) + np.diag(w2)
    assert factor.logdet_random_block() == pytest.approx(np.linalg.slogdet(H)[1], rel=1e-10)


@pytest.mark.parametrize("layout", ["three_crossed", "grouped_q3_and_indicator"])
@pytest.mark.parametrize("solver", ["augmented", "sparse"])
def test_solving_factor_against_dense(solver: str, layout: str) -> None:
    """C^{-1} b, the random rows' leverages and their sums per term."""
    prob = Dense(44, layout)
    factor = factor_of(prob, solver, prob.w1, prob.w2)
    C = prob.C()
    b = prob.rng.normal(size=P + prob.q)
    np.testing.assert_allclose(factor.solve(b), np.linalg.solve(C, b), rtol=1e-9, atol=1e-12)
    hat = prob.w2 * np.diag(np.linalg.inv(C))[P:]
    np.testing.assert_allclose(factor.random_leverages(prob.w2), hat, rtol=1e-9, atol=1e-13)
    slices = prob.slices
    np.testing.assert_allclose(factor.weighted_diag_sums(prob.w2, slices),
                               [hat[sl].sum() for sl in slices], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("layout", ["grouped_unused_level", "indicator_and_grouped",
                                    "two_grouped"])
def test_inverse_diag_blocks_of_a_vector_term(layout: str, solver: str) -> None:
    """The per-level q x q blocks of C^{-1} of each vector-valued term, by each solver's
    own method or the generic one (a level without rows: off the sparse factor's
    pattern, by solves)."""
    prob = Dense(LAYOUTS.index(layout) + 60 if layout in LAYOUTS else 60, layout)
    w2 = term_weights(prob)
    factor = factor_of(prob, solver, prob.w1, w2)
    Cinv = np.linalg.inv(prob.C(w2=w2))
    for b, sl in zip(prob.blocks, prob.slices, strict=True):
        if not isinstance(b, Grouped):
            continue
        blocks = inverse_diag_blocks(factor, P + sl.start, b.size, b.n_levels)
        for level in range(b.n_levels):
            at = slice(P + sl.start + level * b.size, P + sl.start + (level + 1) * b.size)
            np.testing.assert_allclose(blocks[level], Cinv[at, at], rtol=1e-9, atol=1e-13)
