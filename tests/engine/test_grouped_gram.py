"""Tests of the grouped Gram matrices (``hglm.engine.grouped_gram``) against dense
products, and of their use by the structured solver on a balanced crossed design."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from hglm.engine.augmented import AugmentedSystem
from hglm.engine.blocks import as_block
from hglm.engine.grouped_gram import GroupedGram


def test_grouped_gram_matches_dense() -> None:
    rng = np.random.default_rng(2)
    E = sparse.random(40, 12, density=0.3, format="csr", random_state=rng)
    keys = rng.integers(0, 3, 40).astype(float)
    grams = GroupedGram(E, keys).scaled(-1.5)
    d = rng.uniform(0.5, 2.0, 3)[np.unique(keys, return_inverse=True)[1]]
    dense = -1.5 * E.toarray()
    S = np.asfortranarray(rng.normal(size=(12, 12)))
    reduced = S.copy(order="K")
    grams.subtract_gram(reduced, grams.group_values(d))
    np.testing.assert_allclose(reduced, S - dense.T @ (d[:, None] * dense), rtol=1e-13,
                               atol=1e-13)
    M = rng.normal(size=(12, 12))
    M = np.asfortranarray(M + M.T)
    np.testing.assert_allclose(grams.frobenius(M, grams.group_values(d)),
                               np.sum(M * (dense.T @ (d[:, None] * dense))), rtol=1e-12)
    assert grams.group_values(d + np.arange(40) * 1e-3) is None
    with pytest.raises(ValueError, match="S: must be a contiguous array"):
        grams.subtract_gram(np.zeros((12, 24))[:, ::2], grams.group_values(d))


def _balanced(rng: np.random.Generator, levels: int = 20, per_level: int = 12):
    """A crossed design where every level of a has the same number of rows."""
    n = levels * per_level
    a = np.repeat(np.arange(levels), per_level)
    b = rng.integers(0, 9, n)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    return X, a, b


@pytest.mark.parametrize("constant_w2", [True, False])
def test_balanced_design_uses_grouped_grams_and_matches_dense(constant_w2: bool) -> None:
    """Every level of the eliminated factor shares its weight sum: one group, whose Gram
    matrix replaces the pair products; the factor's solves, inverse diagonal, traces and
    log-determinant are those of the dense system, also at proportional weights and when
    the random weights vary over the levels (then the product is formed afresh)."""
    rng = np.random.default_rng(4)
    X, a, b = _balanced(rng)
    n = X.shape[0]
    blocks = [as_block(np.eye(20)[a]), as_block(np.eye(9)[b])]
    T = np.column_stack([X, np.eye(20)[a], np.eye(9)[b]])
    sysm = AugmentedSystem(X, blocks, scaled_weights=True)
    for scale in (1.0, 2.5):
        w1 = np.full(n, 0.8 * scale)
        w2 = np.full(29, 0.5) if constant_w2 else rng.uniform(0.3, 0.9, 29)
        factor = sysm.factorize(w1, w2, trace_weights=w2)
        assert factor.pairs is None and factor.grouped is not None
        C = T.T @ (w1[:, None] * T) + np.diag(np.concatenate([np.zeros(2), w2]))
        C_inv = np.linalg.inv(C)
        rhs = rng.normal(size=C.shape[0])
        np.testing.assert_allclose(factor.solve(rhs), C_inv @ rhs, rtol=1e-10)
        np.testing.assert_allclose(factor.diag_inverse(), np.diag(C_inv), rtol=1e-10)
        slices = [slice(0, 20), slice(20, 29)]
        expected = [float(np.sum((w2 * np.diag(C_inv)[2:])[sl])) for sl in slices]
        np.testing.assert_allclose(factor.weighted_diag_sums(w2, slices), expected,
                                   rtol=1e-10)
        assert factor.logdet() == pytest.approx(np.linalg.slogdet(C)[1], rel=1e-12)
