"""Tests of a random term's block of Z (``hglm.engine.blocks``): ``as_block`` finds the
indicator blocks, whatever the input's format."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from hglm.engine.blocks import (
    Grouped,
    Indicator,
    as_block,
    block_csr,
    block_width,
    level_view,
)
from hglm.spec import design_from_lme4

from .dense_reference import one_hot


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


@pytest.mark.parametrize("covariate", ["1", "0 + x", "0 + z"])
def test_from_codes_is_as_block_of_z(covariate) -> None:
    """A formula term's block straight from its level codes is ``as_block(term.Z)``."""
    rng = np.random.default_rng(0)
    labels = ["a", "B", "b", "a:b", "10", "2", "é", "a b"]
    frame = pd.DataFrame({"y": rng.normal(size=60), "x": rng.normal(size=60),
                          "gs": rng.choice(labels, 60)})
    frame["z"] = np.where(np.arange(60) % 3 == 0, 0.0, frame["x"])
    frame.loc[4, "z"] = -0.0
    (term,) = design_from_lme4(f"y ~ x + ({covariate}|gs)", frame).random
    fast = Indicator.from_codes(term.codes, term.values, len(term.levels))
    slow = as_block(term.Z)
    np.testing.assert_array_equal(fast.index, slow.index)
    np.testing.assert_array_equal(fast.values, slow.values)
    assert np.signbit(fast.values).tolist() == np.signbit(slow.values).tolist()
    assert fast.index.dtype == slow.index.dtype and fast.values.dtype == slow.values.dtype
    assert fast.n_levels == slow.n_levels


def _grouped(n: int = 60, m: int = 7, seed: int = 1) -> tuple[Grouped, np.ndarray]:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, m, n)
    codes[:3] = -1  # rows in no level
    block = Grouped.from_codes(codes, np.column_stack([np.ones(n), rng.normal(size=n)]), m)
    return block, codes


def test_grouped_columns_are_level_major() -> None:
    block, codes = _grouped()
    Z = block.toarray()
    assert Z.shape == (60, 14) and block_width(block) == 14
    assert np.all(Z[:3] == 0)
    row = 5
    level = codes[row]
    assert Z[row, 2 * level] == 1.0 and Z[row, 2 * level + 1] == block.values[row, 1]
    assert np.count_nonzero(Z[row]) == 2


def test_grouped_products_and_csr_match_dense() -> None:
    block, _ = _grouped()
    Z = block.toarray()
    rng = np.random.default_rng(2)
    v, y = rng.normal(size=14), rng.normal(size=60)
    np.testing.assert_allclose(block.matvec(v), Z @ v)
    np.testing.assert_allclose(block.rmatvec(y), Z.T @ y)
    np.testing.assert_array_equal(block_csr(block, 60).toarray(), Z)


def test_level_view() -> None:
    # an indicator is the case q = 1 of a vector-valued term, without a copy
    g = np.array([2, 0, 1, 2, 0])
    block = as_block(one_hot(g, 4, np.array([1.0, 0.5, -2.0, 3.0, 1.0])))
    view = level_view(block)
    assert isinstance(view, Grouped) and view.size == 1 and view.width == 4
    assert np.shares_memory(view.values, block.values)
    np.testing.assert_array_equal(view.toarray(), block.toarray())
    grouped, _ = _grouped()
    assert level_view(grouped) is grouped


def test_random_intercept_value_rows_stay_broadcast() -> None:
    # a random intercept's ones are one number broadcast: its value rows too (no n-vector)
    block = level_view(Indicator.from_codes(np.array([2, 0, 1, 2, 0]), None, 3))
    rows = block.value_rows
    assert rows.shape == (1, 5) and rows.strides[1] == 0
    np.testing.assert_array_equal(rows, np.ones((1, 5)))
    np.testing.assert_array_equal(block.matvec(np.array([1.0, 2.0, 3.0])), [3, 1, 2, 3, 1])
    np.testing.assert_array_equal(block.rmatvec(np.arange(5.0)), [5, 2, 3])


def test_a_grouped_block_times_a_factor_shares_its_columns() -> None:
    rng = np.random.default_rng(8)
    block = Grouped(rng.integers(0, 4, 12), rng.normal(size=(12, 2)), 4)
    factor = np.array([[1.0, 0.3], [0.0, 0.5]])
    new = block.times(factor)
    np.testing.assert_array_equal(new.columns(), block.columns())
    assert block.times(factor).columns() is block.columns()  # shared once formed
    assert new.size == 2 and new.width == 8
    expected = Grouped(block.index, block.values @ factor, 4)
    np.testing.assert_allclose(new.values, expected.values, rtol=1e-15)
    np.testing.assert_allclose(new.toarray(), expected.toarray(), rtol=1e-15)
    v, y = rng.normal(size=8), rng.normal(size=12)
    np.testing.assert_allclose(new.matvec(v), expected.matvec(v), rtol=1e-13)
    np.testing.assert_allclose(new.rmatvec(y), expected.rmatvec(y), rtol=1e-13)
