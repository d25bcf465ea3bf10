"""Tests of ``hglm.engine.augmented`` against dense linear algebra on small random problems.

For T1 = [X, Z] and weights (w1, w2) the dense reference is
C = T1' diag(w1) T1 + diag(0_p, w2), and the factor must reproduce C^{-1} b,
diag(C^{-1}), t_i' C^{-1} t_i, log det C and log det(Z' diag(w1) Z + diag(w2)).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy import sparse

from hglm.engine.augmented import (
    AugmentedSystem,
    Indicator,
    NotPositiveDefiniteError,
    PairProducts,
    _entries,
    as_block,
    block_width,
    scaled_gram,
    scaled_gram_pair,
)

N, P = 48, 3


def one_hot(groups: np.ndarray, levels: int, values: np.ndarray | None = None) -> np.ndarray:
    out = np.zeros((groups.shape[0], levels))
    out[np.arange(groups.shape[0]), groups] = 1.0 if values is None else values
    return out


def _groups(rng: np.random.Generator, levels: int) -> np.ndarray:
    # every level used at least once, the rest at random
    g = np.concatenate([np.arange(levels), rng.integers(0, levels, N - levels)])
    return rng.permutation(g)


# Each layout returns the list of Z blocks (as the user would pass them, per term).
def layout_one_indicator(rng):
    return [one_hot(_groups(rng, 6), 6)]


def layout_two_crossed(rng):
    # the second (larger) factor becomes the eliminated A block: tests the permutation
    return [one_hot(_groups(rng, 4), 4), one_hot(_groups(rng, 7), 7)]


def layout_three_crossed(rng):
    return [one_hot(_groups(rng, 3), 3), one_hot(_groups(rng, 8), 8), one_hot(_groups(rng, 5), 5)]


def layout_nested(rng):
    a = _groups(rng, 4)
    b = rng.integers(0, 3, N)
    ab = a * 3 + b
    return [one_hot(a, 4), one_hot(ab, 12)]


def layout_slope(rng):
    g = _groups(rng, 5)
    x = rng.normal(size=N)
    return [one_hot(g, 5), one_hot(g, 5, x)]


def layout_dense_only(rng):
    return [rng.normal(size=(N, 4))]


def layout_dense_and_indicator(rng):
    return [rng.normal(size=(N, 3)), one_hot(_groups(rng, 6), 6)]


def layout_sparse_input(rng):
    g = _groups(rng, 6)
    dense = rng.normal(size=(N, 2)) * (rng.uniform(size=(N, 2)) < 0.6)
    dense[0] = [1.0, 2.0]  # ensure at least one row with two non-zeros
    return [sparse.csr_matrix(one_hot(g, 6)), sparse.csc_matrix(dense), sparse.coo_matrix(
        one_hot(_groups(rng, 3), 3))]


def layout_zero_rows(rng):
    g = _groups(rng, 5)
    Z1 = one_hot(g, 5)
    Z1[rng.choice(N, 10, replace=False)] = 0.0
    Z2 = rng.normal(size=(N, 2))
    Z2[rng.choice(N, 8, replace=False)] = 0.0
    Z3 = one_hot(_groups(rng, 3), 3, rng.uniform(0.5, 2.0, N))
    Z3[:5] = 0.0
    return [Z1, Z2, Z3]


def layout_unused_level(rng):
    # level 4 has no observations: its row of C is the prior weight only
    g = rng.integers(0, 4, N)
    return [one_hot(g, 5), one_hot(_groups(rng, 3), 3)]


LAYOUTS: dict[str, Callable] = {
    "one_indicator": layout_one_indicator,
    "two_crossed": layout_two_crossed,
    "three_crossed": layout_three_crossed,
    "nested": layout_nested,
    "indicator_slope": layout_slope,
    "dense_only": layout_dense_only,
    "dense_and_indicator": layout_dense_and_indicator,
    "sparse_input": layout_sparse_input,
    "zero_rows": layout_zero_rows,
    "unused_level": layout_unused_level,
}


class Dense:
    """The dense reference of one problem."""

    def __init__(self, seed: int, layout: str) -> None:
        rng = np.random.default_rng(seed)
        self.X = np.column_stack([np.ones(N), rng.normal(size=(N, P - 1))])
        self.user_blocks = LAYOUTS[layout](rng)
        self.Z = np.hstack(
            [b.toarray() if sparse.issparse(b) else b for b in self.user_blocks]
        )
        self.q = self.Z.shape[1]
        self.w1 = rng.uniform(0.3, 3.0, N)
        self.w2 = rng.uniform(0.5, 4.0, self.q)
        self.T1 = np.hstack([self.X, self.Z])
        self.system = AugmentedSystem(self.X, [as_block(b) for b in self.user_blocks])
        self.rng = rng

    def C(self, w1=None, w2=None) -> np.ndarray:
        w1 = self.w1 if w1 is None else w1
        w2 = self.w2 if w2 is None else w2
        C = self.T1.T @ (w1[:, None] * self.T1)
        C[P:, P:] += np.diag(w2)
        return C


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
    widths = [b.shape[1] for b in problem.user_blocks]
    ends = np.cumsum(widths)
    slices = [slice(int(e - w), int(e)) for w, e in zip(widths, ends, strict=True)]
    weighted = problem.w2 * np.diag(np.linalg.inv(problem.C()))[P:]
    expected = [weighted[sl].sum() for sl in slices]
    np.testing.assert_allclose(
        factor.weighted_diag_sums(problem.w2, slices), expected, rtol=1e-9, atol=1e-12
    )


def test_weighted_diag_sums_with_trace_weights(problem: Dense) -> None:
    # E' diag(c / D^2) E formed with S (one complex sparse product) gives the same sums;
    # other weights at the call fall back to their own product
    widths = [b.shape[1] for b in problem.user_blocks]
    ends = np.cumsum(widths)
    slices = [slice(int(e - w), int(e)) for w, e in zip(widths, ends, strict=True)]
    diag = np.diag(np.linalg.inv(problem.C()))[P:]
    factor = problem.system.factorize(problem.w1, problem.w2, trace_weights=problem.w2)
    other = problem.rng.uniform(0.5, 4.0, problem.q)
    for weights in (problem.w2, other):
        expected = [(weights * diag)[sl].sum() for sl in slices]
        np.testing.assert_allclose(
            factor.weighted_diag_sums(weights, slices), expected, rtol=1e-9, atol=1e-12
        )


def test_entries_of_c_and_f_ordered_matrices() -> None:
    rng = np.random.default_rng(3)
    M = rng.normal(size=(7, 5))
    rows, cols = rng.integers(0, 7, 20), rng.integers(0, 5, 20)
    for layout in (M, np.asfortranarray(M), M[:, ::-1][:, ::-1], M.T.copy().T):
        np.testing.assert_array_equal(_entries(layout, rows, cols), M[rows, cols])
        np.testing.assert_array_equal(_entries(layout, rows, 2), M[rows, 2])


def test_scaled_gram_pair_matches_dense() -> None:
    rng = np.random.default_rng(5)
    E = sparse.random(30, 9, density=0.3, format="csr", random_state=rng)
    d1, d2 = rng.uniform(0.1, 2.0, 30), rng.uniform(0.1, 2.0, 30)
    G1, G2 = scaled_gram_pair(E, d1, d2)
    dense = E.toarray()
    np.testing.assert_allclose(G1, dense.T @ (d1[:, None] * dense), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(G2, dense.T @ (d2[:, None] * dense), rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(G1, scaled_gram(E, d1))


def test_rows_quadform(problem: Dense) -> None:
    factor = problem.system.factorize(problem.w1, problem.w2)
    Cinv = np.linalg.inv(problem.C())
    expected = np.einsum("ij,jk,ik->i", problem.T1, Cinv, problem.T1)
    np.testing.assert_allclose(factor.rows_quadform(), expected, rtol=1e-9, atol=1e-13)


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
    sysm = AugmentedSystem(
        problem.X, [as_block(b) for b in problem.user_blocks], scaled_weights=True
    )
    widths = [b.shape[1] for b in problem.user_blocks]
    ends = np.cumsum(widths)
    slices = [slice(int(e - w), int(e)) for w, e in zip(widths, ends, strict=True)]
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


@pytest.mark.parametrize("budget, used", [(0, False), (10**9, True)])
def test_pair_products_budget_grows_with_rows(monkeypatch, budget, used) -> None:
    """Pair products are stored up to PAIR_PRODUCTS_MAX pairs, or PAIRS_PER_ROW per row
    of data when that is more; beyond, the factorization multiplies E afresh."""
    from hglm.engine import augmented

    rng = np.random.default_rng(3)
    n = 400
    a, b = rng.integers(0, 20, n), rng.integers(0, 15, n)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    blocks = [as_block(np.eye(20)[a]), as_block(np.eye(15)[b])]
    monkeypatch.setattr(augmented, "PAIR_PRODUCTS_MAX", 0)
    monkeypatch.setattr(augmented, "PAIRS_PER_ROW", budget // n)
    sysm = AugmentedSystem(X, blocks, scaled_weights=True)
    w1, w2 = np.full(n, 2.0), np.full(35, 0.5)
    factor = sysm.factorize(w1, w2, trace_weights=w2)
    assert (factor.pairs is not None) is used
    T = np.column_stack([X, np.eye(20)[a], np.eye(15)[b]])
    C = T.T @ (w1[:, None] * T) + np.diag(np.concatenate([np.zeros(2), w2]))
    rhs = rng.normal(size=C.shape[0])
    np.testing.assert_allclose(factor.solve(rhs), np.linalg.solve(C, rhs), rtol=1e-10)


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
    assert PairProducts.count(E) >= pairs.K.nnz
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
    # with trace weights, the same pass gives E' diag(c) E in a form whose sum against a
    # symmetric matrix is the trace of the product
    c = rng.uniform(0.1, 2.0, 40)
    both = S.copy()
    G = scaled.subtract_gram(both, d, c)
    np.testing.assert_allclose(both, scaled_reduced, rtol=1e-13, atol=1e-13)
    gram_c = 2.25 * dense.T @ (c[:, None] * dense)
    np.testing.assert_allclose(np.sum(M * G), np.trace(M @ gram_c), rtol=1e-12)
    off = np.triu(G, 1) / 2.0  # the upper triangle, off-diagonal entries doubled
    np.testing.assert_allclose(np.diag(np.diag(G)) + off + off.T, gram_c, rtol=1e-12,
                               atol=1e-13)


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


def test_a_block_is_the_largest_indicator() -> None:
    prob = Dense(3, "two_crossed")
    assert prob.system.a_term == 1
    assert prob.system.q_a == 7
    prob = Dense(3, "dense_only")
    assert prob.system.A is None


def test_not_positive_definite_raises() -> None:
    prob = Dense(5, "unused_level")
    w2 = prob.w2.copy()
    w2[4] = 0.0  # the unused level then has an all-zero row and column
    with np.errstate(divide="ignore"), pytest.raises(NotPositiveDefiniteError):
        prob.system.factorize(prob.w1, w2)


def test_not_positive_definite_in_dense_part() -> None:
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(N), np.ones(N)])  # duplicated column, not full rank
    sysm = AugmentedSystem(X, [rng.normal(size=(N, 2))])
    with pytest.raises(np.linalg.LinAlgError):
        sysm.factorize(np.ones(N), np.ones(2))


# --- as_block ----------------------------------------------------------------------


def test_as_block_indicator_from_numpy() -> None:
    g = np.array([2, 0, 1, 2, 0])
    vals = np.array([1.0, 0.5, -2.0, 3.0, 1.0])
    Z = one_hot(g, 4, vals)
    block = as_block(Z)
    assert isinstance(block, Indicator)
    assert block.n_levels == 4 and block_width(block) == 4
    np.testing.assert_array_equal(block.index, g)
    np.testing.assert_array_equal(block.values, vals)
    np.testing.assert_array_equal(block.toarray(), Z)
    x = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(block.matvec(x), Z @ x)
    y = np.arange(5.0)
    np.testing.assert_allclose(block.rmatvec(y), Z.T @ y)
    np.testing.assert_array_equal(block.incidence.toarray(), (Z != 0).T.astype(float))


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "lil"])
def test_as_block_indicator_from_sparse(fmt: str) -> None:
    g = np.array([1, 1, 0, 2, 2, 0])
    Z = one_hot(g, 3, np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
    block = as_block(sparse.csr_matrix(Z).asformat(fmt))
    assert isinstance(block, Indicator)
    np.testing.assert_array_equal(block.toarray(), Z)
    np.testing.assert_array_equal(block.index, g)


def test_as_block_zero_rows_and_explicit_zeros() -> None:
    Z = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]])
    block = as_block(Z)
    assert isinstance(block, Indicator)
    np.testing.assert_array_equal(block.toarray(), Z)
    assert block.values[1] == 0.0
    # a sparse matrix storing an explicit zero next to a non-zero is still an indicator
    S = sparse.csr_matrix(
        (np.array([1.0, 0.0, 0.0, 2.0]), np.array([0, 1, 0, 1]), np.array([0, 2, 2, 4])),
        shape=(3, 2),
    )
    assert S.nnz == 4
    sblock = as_block(S)
    assert isinstance(sblock, Indicator)
    np.testing.assert_array_equal(sblock.toarray(), Z)


def test_as_block_dense_when_a_row_has_two_nonzeros() -> None:
    Z = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    block = as_block(Z)
    assert isinstance(block, np.ndarray)
    np.testing.assert_array_equal(block, Z)
    sblock = as_block(sparse.csc_matrix(Z))
    assert isinstance(sblock, np.ndarray)
    np.testing.assert_array_equal(sblock, Z)
    assert block_width(sblock) == 2


def test_as_block_all_zero_block() -> None:
    block = as_block(np.zeros((4, 2)))
    assert isinstance(block, Indicator)
    np.testing.assert_array_equal(block.toarray(), np.zeros((4, 2)))
    sblock = as_block(sparse.csr_matrix((4, 2)))
    assert isinstance(sblock, Indicator)
    np.testing.assert_array_equal(sblock.toarray(), np.zeros((4, 2)))


@pytest.mark.parametrize("layout", ["one_indicator", "two_crossed", "dense_only", "zero_rows"])
def test_no_fixed_columns(layout: str) -> None:
    # the Z-only system (p = 0) used by the EQL1 correction
    prob = Dense(31, layout)
    sysm = AugmentedSystem(np.zeros((N, 0)), [as_block(b) for b in prob.user_blocks])
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
    assert factor._e_sinv is None
    T1 = np.hstack([X, Za, Zb])
    C = T1.T @ (w1[:, None] * T1)
    C[2:, 2:] += np.diag(w2)
    Ci = np.linalg.inv(C)
    np.testing.assert_allclose(factor.diag_inverse(), np.diag(Ci), rtol=1e-9, atol=1e-12)
    expected = np.einsum("ij,jk,ik->i", T1, Ci, T1)
    np.testing.assert_allclose(factor.rows_quadform(), expected, rtol=1e-9, atol=1e-12)
