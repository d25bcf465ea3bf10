"""Small random problems of the augmented system and their dense reference.

For T1 = [X, Z] and weights (w1, w2) the dense reference is
C = T1' diag(w1) T1 + diag(0_p, w2); a factor must reproduce C^{-1} b, diag(C^{-1}),
t_i' C^{-1} t_i, log det C and log det(Z' diag(w1) Z + diag(w2)).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import sparse

from hglm.engine.augmented import AugmentedSystem
from hglm.engine.blocks import as_block

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
