"""Small random problems of the augmented system and their dense reference.

For T1 = [X, Z] and weights (w1, w2) the dense reference is
C = T1' diag(w1) T1 + diag(0_p, w2); a factor must reproduce C^{-1} b, diag(C^{-1}),
t_i' C^{-1} t_i, log det C and log det(Z' diag(w1) Z + diag(w2)).

A layout gives each random term's block of Z as the user would pass it (an array or a
sparse matrix) or, for a vector-valued term (q effects per level), as an engine
``Grouped`` block.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import sparse

from hglm.engine.augmented import AugmentedSystem
from hglm.engine.blocks import Grouped, as_block, block_array, block_width

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


def _grouped(rng, levels: int, q: int, empty: int = 0, used: int | None = None) -> Grouped:
    """(1 + x_1 + ... | g): q effects per level, ``empty`` rows in no level, levels from
    ``used`` on without rows."""
    codes = _groups(rng, levels) if used is None else rng.integers(0, used, N)
    codes[rng.choice(N, empty, replace=False)] = -1
    values = np.column_stack([np.ones(N), rng.normal(size=(N, q - 1))])
    return Grouped.from_codes(codes, values, levels)


def layout_grouped(rng):
    # (1 + x | g) alone, some rows in no level: the eliminated term
    return [_grouped(rng, 6, 2, empty=5)]


def layout_grouped_q3_and_indicator(rng):
    # q = 3 eliminated (24 columns), an indicator and a dense block in B
    return [one_hot(_groups(rng, 5), 5), _grouped(rng, 8, 3, empty=4),
            rng.normal(size=(N, 2))]


def layout_indicator_and_grouped(rng):
    # the indicator (12 levels) eliminated, (1 + x | g) with 4 levels in B
    return [_grouped(rng, 4, 2, empty=3), one_hot(_groups(rng, 12), 12)]


def layout_two_grouped(rng):
    # q = 2 eliminated, q = 3 in B beside an indicator with zero rows
    Z3 = one_hot(_groups(rng, 3), 3, rng.uniform(0.5, 2.0, N))
    Z3[:6] = 0.0
    return [_grouped(rng, 3, 3, empty=2), _grouped(rng, 9, 2, empty=4), Z3]


def layout_grouped_unused_level(rng):
    # level 4 of the vector-valued term has no rows: its block of C is diag(w2) only
    return [_grouped(rng, 5, 2, used=4), one_hot(_groups(rng, 3), 3)]


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
    "grouped": layout_grouped,
    "grouped_q3_and_indicator": layout_grouped_q3_and_indicator,
    "indicator_and_grouped": layout_indicator_and_grouped,
    "two_grouped": layout_two_grouped,
    "grouped_unused_level": layout_grouped_unused_level,
}

GROUPED_LAYOUTS = [name for name in LAYOUTS if "grouped" in name]


def engine_block(b):
    """A layout's block as the solvers take it."""
    return b if isinstance(b, Grouped) else as_block(b)


class Dense:
    """The dense reference of one problem."""

    def __init__(self, seed: int, layout: str) -> None:
        rng = np.random.default_rng(seed)
        self.X = np.column_stack([np.ones(N), rng.normal(size=(N, P - 1))])
        self.user_blocks = LAYOUTS[layout](rng)
        self.blocks = [engine_block(b) for b in self.user_blocks]
        self.Z = np.hstack([block_array(b) for b in self.blocks])
        self.q = self.Z.shape[1]
        ends = np.cumsum([block_width(b) for b in self.blocks])
        self.slices = [slice(int(e - block_width(b)), int(e))
                       for b, e in zip(self.blocks, ends, strict=True)]
        self.w1 = rng.uniform(0.3, 3.0, N)
        self.w2 = rng.uniform(0.5, 4.0, self.q)
        self.T1 = np.hstack([self.X, self.Z])
        self.system = AugmentedSystem(self.X, self.blocks)
        self.rng = rng

    def C(self, w1=None, w2=None) -> np.ndarray:
        w1 = self.w1 if w1 is None else w1
        w2 = self.w2 if w2 is None else w2
        C = self.T1.T @ (w1[:, None] * self.T1)
        C[P:, P:] += np.diag(w2)
        return C
