"""Vectors of the report computed on first use."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import numpy as np

Array = np.ndarray


class LazyTail:
    """A vector of ``size`` entries whose first ones (``head``) are known and whose tail is
    computed by ``tail()`` on first use.

    The n-space solver has the observations' leverages and the fixed effects' variances
    at O(n^2) cost, but each random effect's own leverage or variance costs O(n^2 q) in
    all, and the EQL rounds need only their sums.  The augmented solver's leverages of
    the report (head empty) cost about as much as a round, for a vector most fits never
    read.  Slices within the head are served without computing the tail; any other
    indexing, and conversion to a numpy array (``np.asarray``), computes the whole
    vector once.
    """

    def __init__(self, head: Array, tail: Callable[[], Array], size: int) -> None:
        self.head = head
        self._tail = tail
        self.size = size

    def __len__(self) -> int:
        return self.size

    @property
    def shape(self) -> tuple[int]:
        return (self.size,)

    @property
    def ndim(self) -> int:
        return 1

    @property
    def dtype(self) -> np.dtype:
        return self.head.dtype

    @property
    def computed(self) -> bool:
        """Whether the tail has been computed."""
        return "values" in self.__dict__

    @cached_property
    def values(self) -> Array:
        return np.concatenate([self.head, self._tail()])

    def __getitem__(self, key: object) -> Array:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.size)
            if step == 1 and stop <= self.head.shape[0]:
                return self.head[start:stop]
        return self.values[key]

    def __array__(self, dtype: object = None, copy: bool | None = None) -> Array:
        out = self.values if dtype is None else self.values.astype(dtype, copy=False)
        return out.copy() if copy else out

    def __repr__(self) -> str:
        state = "computed" if self.computed else f"tail of {self.size - len(self.head)} pending"
        return f"LazyTail(size={self.size}, {state})"
