"""Tests of the products with S^{-1} (``hglm.engine.schur_products``): the in-place
symmetrization; the banded E S^{-1} is checked against a dense inverse in
tests/engine/test_augmented.py (test_e_sinv_bands_agree_with_dense)."""

from __future__ import annotations

import numpy as np
import pytest

from hglm.engine.schur_products import symmetrize_lower


@pytest.mark.parametrize("m", [0, 1, 64, 130])
def test_symmetrize_lower_fills_the_upper_triangle_in_place(m: int) -> None:
    rng = np.random.default_rng(m)
    L = np.asfortranarray(np.tril(rng.normal(size=(m, m))))
    expected = L + np.tril(L, -1).T
    out = symmetrize_lower(L)
    assert out is L
    np.testing.assert_array_equal(L, expected)
