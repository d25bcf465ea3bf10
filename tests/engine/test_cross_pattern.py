"""Tests of E = Z_A' W1 R on its fixed pattern (``hglm.engine.cross_pattern``), against
the dense product."""

from __future__ import annotations

import numpy as np
import pytest

from hglm.engine.cross_pattern import CrossPattern

N = 200


def _layout(seed: int, n_dense: int):
    """A (7 levels, one unused), a scalar term of 5 levels and a vector term of 4 levels
    x 2 columns (its entries interleaved: columns 2 l and 2 l + 1), n_dense dense columns."""
    rng = np.random.default_rng(seed)
    a_index = rng.choice([0, 1, 2, 4, 5, 6], size=N)
    scalar = rng.integers(0, 5, N)
    vector = rng.integers(0, 4, N)
    terms = [([scalar], 0), ([2 * vector, 2 * vector + 1], 5)]
    dense_start = 13
    m = dense_start + n_dense
    values = [rng.normal(size=N), np.ones(N), rng.normal(size=N)]
    dense = rng.normal(size=(N, n_dense)) * (rng.uniform(size=(N, n_dense)) < 0.7)
    R = np.zeros((N, m))
    rows = np.arange(N)
    for (codes, first), vals in zip([(terms[0][0][0], 0), (terms[1][0][0], 5),
                                      (terms[1][0][1], 5)], values, strict=True):
        R[rows, first + codes] += vals
    R[:, dense_start:] = dense
    ZA = np.zeros((N, 7))
    a_values = rng.normal(size=N)
    ZA[rows, a_index] = a_values
    return a_index, a_values, terms, values, dense, ZA, R, dense_start, m


@pytest.mark.parametrize("n_dense", [0, 3])
def test_cross_is_the_dense_product(n_dense: int) -> None:
    a_index, a_values, terms, values, dense, ZA, R, dense_start, m = _layout(1, n_dense)
    pattern = CrossPattern(a_index, 7, terms, dense_start, m)
    for seed in (2, 3):  # the same pattern at two weights
        w = np.random.default_rng(seed).uniform(0.5, 2.0, N)
        wa = w * a_values
        sums = ZA.T @ (w[:, None] * dense) if n_dense else None
        E = pattern.cross([wa * v for v in values], sums)
        np.testing.assert_allclose(E.toarray(), ZA.T @ (w[:, None] * R), rtol=1e-12,
                                   atol=1e-12)
        assert E.shape == (7, m)
        # the pattern's arrays themselves, not copies
        assert np.shares_memory(E.indices, pattern.indices)
        assert np.shares_memory(E.indptr, pattern.indptr)
        assert E.has_sorted_indices
        for row in range(7):  # sorted and without duplicates, as scipy would check
            cols = E.indices[E.indptr[row] : E.indptr[row + 1]]
            assert np.all(np.diff(cols) > 0)
    # the unused level's row holds the dense columns alone
    assert E.indptr[4] - E.indptr[3] == n_dense


def test_entries_and_weights_must_match() -> None:
    a_index, _, terms, values, _, _, _, dense_start, m = _layout(4, 0)
    pattern = CrossPattern(a_index, 7, terms, dense_start, m)
    with pytest.raises(ValueError):
        pattern.cross(values[:2], None)
