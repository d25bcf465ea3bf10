"""Tests of the deviance floor's screen (``hglm.engine.floor_screen``): the column norms
of Z in row chunks, and the shortfall below the floor against products with all of Z."""

from __future__ import annotations

import numpy as np
import pytest

from hglm.engine.floor_screen import FloorScreen, column_norms


def test_column_norms_in_row_chunks() -> None:
    rng = np.random.default_rng(13)
    Z = rng.normal(size=(23, 40))
    Z[:, [0, 7, 39]] = 0.0
    Z[22, 7] = 1.0  # non-zero only in the last, partial, chunk
    for rows in (1, 5, 23, 100):
        norms = column_norms(Z, rows=rows)
        np.testing.assert_allclose(norms, np.linalg.norm(Z, axis=0), rtol=1e-14)
        np.testing.assert_array_equal(norms == 0, ~np.any(Z != 0, axis=0))


def _shortfall(x: np.ndarray, t: float) -> float:
    return float(np.sum(np.maximum(t**2 - x**2, 0.0)))


def test_floor_screen_shortfall() -> None:
    """FloorScreen.shortfall gives sum_j max(0, t^2 - (z_j' p)^2) over the non-empty
    columns, as a product with all of Z does, over a sequence of p moving as the EQL
    rounds do (large steps, then smaller ones along a known direction and a small
    unknown one); it reads all of Z only when the bound leaves too many columns in
    doubt."""
    rng = np.random.default_rng(14)
    n, q = 30, 5000
    Z = rng.normal(size=(n, q)) / np.sqrt(q)
    Z[:, [3, 999]] = 0.0
    screen = FloorScreen(Z, column_norms(Z))
    direction = rng.normal(size=n)
    steps = [(1.0, 1.0), (1e-1, 1e-3), (1e-2, 1e-5), (1e-3, 1e-7), (1e-4, 1e-9), (0.0, 0.0)]
    p, t, found = rng.normal(size=n), 5e-4, 0
    nonempty = np.flatnonzero(np.linalg.norm(Z, axis=0) > 0)
    for along, other in steps:
        p = p + along * direction + other * rng.normal(size=n)
        exact = (p @ Z)[nonempty]
        expected = _shortfall(exact, t)
        got = screen.shortfall(p, t, lambda p=p: np.column_stack([p, direction]))
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-20)
        found += int(np.sum(np.abs(exact) < t))
    assert found > len(steps)
    assert screen.passes <= 2


def test_floor_screen_zero_products() -> None:
    """p = 0 (y in the span of X): every product is 0, all below any threshold."""
    Z = np.random.default_rng(15).normal(size=(6, 50))
    screen = FloorScreen(Z, column_norms(Z))
    for _ in range(2):
        got = screen.shortfall(np.zeros(6), 1e-4, lambda: np.zeros((6, 2)))
        assert got == pytest.approx(50 * 1e-8, rel=1e-12)


def test_floor_screen_without_basis_when_most_are_small() -> None:
    """When most products lie below the threshold, screening cannot pay: the next pass
    reads p alone (no basis is asked for); after a pass that finds few small products,
    the next round is screened again, without a pass."""
    rng = np.random.default_rng(16)
    Z = rng.normal(size=(8, 400))
    screen = FloorScreen(Z, column_norms(Z))
    asked = []

    def basis(p):
        asked.append(p)
        return p[:, None]

    ps = [rng.normal(size=8) for _ in range(3)]
    for p, t in zip(ps, (1e3, 1e3, 1e-6), strict=True):
        got = screen.shortfall(p, t, lambda p=p: basis(p))
        assert got == pytest.approx(_shortfall(p @ Z, t), rel=1e-13)
    assert screen.passes == 3
    assert len(asked) == 1 and asked[0] is ps[0]
    got = screen.shortfall(ps[2], 1e-6, lambda: basis(ps[2]))
    assert got == pytest.approx(_shortfall(ps[2] @ Z, 1e-6), rel=1e-13)
    assert screen.passes == 3
