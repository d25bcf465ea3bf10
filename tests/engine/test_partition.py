"""engine.partition: the Schur complement of the eliminated term summed over partitions
of the rows is the whole system's, and each partition's view of the factor gives its
rows' leverages and diag(C^{-1}) as the whole factor does."""

from __future__ import annotations

import numpy as np
import pytest

from hglm.engine import Indicator, NotPositiveDefiniteError
from hglm.engine.augmented import AugmentedSystem
from hglm.engine.partition import PartitionSystem


def _crossed(seed: int = 0, n: int = 300, levels_a: int = 40, levels_b: int = 7):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, levels_a, n)
    b = rng.integers(0, levels_b, n)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    slope = rng.normal(size=n)
    blocks = [Indicator.from_codes(b, None, levels_b), Indicator.from_codes(a, slope, levels_a)]
    w1 = rng.uniform(0.5, 2.0, n)
    w2 = rng.uniform(0.5, 3.0, levels_a + levels_b)
    z1, z2 = rng.normal(size=n), rng.normal(size=levels_a + levels_b)
    return a, b, X, slope, blocks, w1, w2, z1, z2


def _split(a, b, X, slope, w1, w2, z1, n_parts, levels_b):
    """Partitions of the rows by a's level: (system, w1, w2, z1, z2 indices)."""
    out = []
    levels_a = int(a.max()) + 1
    for part in range(n_parts):
        rows = np.flatnonzero(a % n_parts == part)
        own, codes = np.unique(a[rows], return_inverse=True)
        blocks = [Indicator.from_codes(b[rows], None, levels_b),
                  Indicator.from_codes(codes, slope[rows], own.shape[0])]
        v_index = np.concatenate([np.arange(levels_b), levels_b + own])
        out.append((PartitionSystem(X[rows], blocks, eliminate=1), rows, v_index, part == 0))
    assert sum(o[1].shape[0] for o in out) == a.shape[0] and levels_a > n_parts
    return out


@pytest.mark.parametrize("n_parts", [1, 3])
def test_summed_pieces_solve_the_whole_system(n_parts: int) -> None:
    a, b, X, slope, blocks, w1, w2, z1, z2 = _crossed()
    whole = AugmentedSystem(X, blocks).factorize(w1, w2)
    expected = whole.solve(AugmentedSystem(X, blocks).rhs(w1, z1, w2, z2))
    parts = _split(a, b, X, slope, w1, w2, z1, n_parts, 7)
    elims = []
    for system, rows, v_index, owner in parts:
        w2_p, z2_p = w2[v_index].copy(), z2[v_index]
        if not owner:
            w2_p[:7] = 0.0  # the other term's random rows: once, in the owner's piece
        elims.append(system.eliminate(w1[rows], w2_p, z1[rows], z2_p))
    S, s = sum(e.S for e in elims), sum(e.s for e in elims)
    chol = np.linalg.cholesky(S)
    x_b = np.linalg.solve(S, s)
    s_inv = np.linalg.inv(S)
    p = X.shape[1]
    whole_hat = whole.rows_quadform()
    whole_diag = whole.diag_inverse()
    for (system, rows, v_index, _), elim in zip(parts, elims, strict=True):
        x = system.back_substitute(elim, x_b)
        np.testing.assert_allclose(x[:p], expected[:p], rtol=1e-10)
        np.testing.assert_allclose(x[p:], expected[p + v_index], rtol=1e-9, atol=1e-12)
        factor = system.factor(elim, chol, s_inv)
        np.testing.assert_allclose(factor.rows_quadform(), whole_hat[rows], rtol=1e-9)
        diag = factor.diag_inverse()
        # the partition's A effects are its v_index entries past the other term's 7
        own = p + v_index[system.perm_a - p]
        np.testing.assert_allclose(diag[system.perm_a], whole_diag[own], rtol=1e-9)


def test_partition_term_must_be_an_indicator() -> None:
    X = np.ones((4, 1))
    with pytest.raises(ValueError, match="indicator"):
        PartitionSystem(X, [np.eye(4)], eliminate=0)


def test_a_zero_diagonal_is_not_positive_definite() -> None:
    X = np.ones((3, 1))
    system = PartitionSystem(X, [Indicator.from_codes(np.array([0, 1, 1]), None, 2)], 0)
    with pytest.raises(NotPositiveDefiniteError):
        system.eliminate(np.array([0.0, 1.0, 1.0]), np.zeros(2), np.ones(3), np.zeros(2))


def test_products_sum_to_the_whole_systems() -> None:
    """R'WR summed over the partitions, and each partition's diag(Z_A'WZ_A) and
    E = Z_A'WR, are the whole system's (A's rows: the partition's own levels)."""
    a, b, X, slope, blocks, w1, w2, z1, _ = _crossed()
    whole = AugmentedSystem(X, blocks)
    F0, D0, E, _ = whole.weighted_products(w1)
    parts = _split(a, b, X, slope, w1, w2, z1, 3, 7)
    F_sum = np.zeros_like(F0)
    for system, rows, v_index, _ in parts:
        F_p = system.gram_b(w1[rows])
        d0_p, E_p = system.level_products(w1[rows])
        F_sum += F_p
        own = v_index[7:] - 7
        np.testing.assert_allclose(d0_p, D0.diagonal()[own], rtol=1e-13)
        np.testing.assert_allclose(np.asarray(E_p.todense()), np.asarray(E[own].todense()),
                                   rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(F_sum, F0, rtol=1e-12, atol=1e-12)
