"""Tests of the structure of the augmented system (``hglm.engine.augmented_structure``):
the [A | B] order of the unknowns and the products with T1 = [X, Z], against dense
linear algebra (:mod:`.dense_reference`).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from hglm.engine import augmented_structure
from hglm.engine.augmented_structure import _beside, _entries

from .dense_reference import LAYOUTS, Dense, N, P


@pytest.fixture(params=sorted(LAYOUTS))
def problem(request) -> Dense:
    return Dense(seed=sorted(LAYOUTS).index(request.param) + 100, layout=request.param)


def test_dimensions(problem: Dense) -> None:
    sysm = problem.system
    assert (sysm.n, sysm.p, sysm.q) == (N, P, problem.q)
    assert sorted(np.concatenate([sysm.perm_a, sysm.perm_b])) == list(range(P + problem.q))


def test_products_with_T(problem: Dense) -> None:
    sysm, rng = problem.system, problem.rng
    v = rng.normal(size=problem.q)
    y = rng.normal(size=N)
    beta = rng.normal(size=P)
    np.testing.assert_allclose(sysm.z_matvec(v), problem.Z @ v, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sysm.z_rmatvec(y), problem.Z.T @ y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        sysm.linear_predictor(np.concatenate([beta, v])),
        problem.X @ beta + problem.Z @ v,
        rtol=1e-12,
        atol=1e-12,
    )
    z1, z2 = rng.normal(size=N), rng.normal(size=problem.q)
    expected = problem.T1.T @ (problem.w1 * z1)
    expected[P:] += problem.w2 * z2
    np.testing.assert_allclose(
        sysm.rhs(problem.w1, z1, problem.w2, z2), expected, rtol=1e-12, atol=1e-12
    )


def test_a_block_is_the_largest_indicator() -> None:
    prob = Dense(3, "two_crossed")
    assert prob.system.a_term == 1
    assert prob.system.q_a == 7
    prob = Dense(3, "dense_only")
    assert prob.system.A is None
    # a vector-valued term qualifies by its columns (q per level)
    prob = Dense(3, "grouped_q3_and_indicator")
    assert (prob.system.a_term, prob.system.q_a, prob.system.a_size) == (1, 24, 3)
    prob = Dense(3, "indicator_and_grouped")
    assert (prob.system.a_term, prob.system.q_a, prob.system.a_size) == (1, 12, 1)


def test_entries_of_c_and_f_ordered_matrices() -> None:
    rng = np.random.default_rng(3)
    M = rng.normal(size=(7, 5))
    rows, cols = rng.integers(0, 7, 20), rng.integers(0, 5, 20)
    for layout in (M, np.asfortranarray(M), M[:, ::-1][:, ::-1], M.T.copy().T):
        np.testing.assert_array_equal(_entries(layout, rows, cols), M[rows, cols])
        np.testing.assert_array_equal(_entries(layout, rows, 2), M[rows, 2])
        # rows and columns counted from given starts
        r, c = rows[(rows < 5) & (cols < 3)], cols[(rows < 5) & (cols < 3)]
        np.testing.assert_array_equal(_entries(layout, r, c, 2, 2), M[r + 2, c + 2])
        np.testing.assert_array_equal(_entries(layout, r, 1, 2), M[r + 2, 1])


def test_beside_is_scipys_hstack() -> None:
    # the same arrays as scipy's: L's zeros not stored, indices sorted, an empty row of E
    rng = np.random.default_rng(5)
    E = sparse.random(9, 6, density=0.3, format="csr", random_state=6)
    E = sparse.csr_matrix(E.toarray() * (np.arange(9) != 4)[:, None])
    E.sort_indices()
    L = rng.normal(size=(9, 3)) * (rng.uniform(size=(9, 3)) < 0.6)
    out = _beside(E, L)
    expected = sparse.hstack([E, sparse.csr_matrix(L)], format="csr")
    for name in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(out, name), getattr(expected, name))
    assert out.shape == expected.shape


@pytest.mark.parametrize("dense_limit", [0, 10**9])
def test_cross_products_sparse_or_dense(problem: Dense, monkeypatch, dense_limit: int) -> None:
    """E = Z_A'W1R is that of the dense matrices, sparse (also when R has no
    level-structured part) or dense."""
    monkeypatch.setattr(augmented_structure, "_DENSE_CROSS_ELEMENTS", dense_limit)
    sysm = problem.system
    if sysm.A is None:
        return
    E = sysm._cross_a(problem.w1)
    E = E.toarray() if hasattr(E, "toarray") else E
    T = problem.T1
    expected = T[:, sysm.perm_a].T @ (problem.w1[:, None] * T[:, sysm.perm_b])
    np.testing.assert_allclose(E, expected, rtol=1e-12, atol=1e-12)
