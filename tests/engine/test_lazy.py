"""Tests of ``hglm.engine.lazy``: a vector whose tail is computed on first use."""

from __future__ import annotations

import numpy as np

from hglm.engine.lazy import LazyTail


def test_lazy_tail() -> None:
    calls = []

    def tail() -> np.ndarray:
        calls.append(1)
        return np.array([3.0, 4.0])

    v = LazyTail(np.array([1.0, 2.0]), tail, 4)
    assert len(v) == 4 and v.shape == (4,)
    np.testing.assert_array_equal(v[:2], [1.0, 2.0])
    np.testing.assert_array_equal(v[0:1], [1.0])
    assert not calls and not v.computed
    np.testing.assert_array_equal(v[1:], [2.0, 3.0, 4.0])
    np.testing.assert_array_equal(np.asarray(v), [1.0, 2.0, 3.0, 4.0])
    assert v[3] == 4.0 and np.sum(v) == 10.0
    assert calls == [1] and v.computed
