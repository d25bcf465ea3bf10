"""distributed.partitions: passes over persisted chunks keep the new states and return
the sums."""

from __future__ import annotations

import numpy as np
import pytest

dask = pytest.importorskip("dask", reason="dask is not installed")

from hglm.distributed.partitions import DaskPartitions  # noqa: E402


def _add(chunk, state, step):
    new = (0 if state is None else state) + chunk * step
    return new, {"total": new}


def _read(chunk, state, previous, scale):
    return (state, previous, chunk * scale)


def test_advance_keeps_states_and_gather_reads_them() -> None:
    parts = DaskPartitions(list(dask.persist(*[dask.delayed(c) for c in (1, 2, 3)])))
    with dask.config.set(scheduler="sync"):
        states, sums = parts.advance(_add, None, 10)
        # the sums come back added on the workers: one dict, the total
        assert [s["total"] for s in sums] == [60]
        newer, _ = parts.advance(_add, states, 1)
        out = parts.gather(_read, newer, parts.share(2), previous=states)
    assert out == [(11, 10, 2), (22, 20, 4), (33, 30, 6)]


def test_total_adds_the_partitions_sums_pairwise() -> None:
    """``total`` reduces on the workers: the sum of every partition's dict, whatever
    their number (odd counts carry the last one up a level)."""
    for n in (1, 2, 5):
        parts = DaskPartitions([dask.delayed(k, traverse=False) for k in range(n)])
        with dask.config.set(scheduler="sync"):
            out = parts.total(_piece, None, 2.0)
        assert out["k"] == sum(range(n))
        np.testing.assert_array_equal(out["a"], np.full(3, 2.0 * n))


def test_an_entry_one_partition_reports_is_kept_by_the_sum() -> None:
    """An entry the other partitions give as None (the owner's weights) survives the
    pairwise sum as the reporting partition's value."""
    parts = DaskPartitions([dask.delayed(k, traverse=False) for k in range(3)])
    with dask.config.set(scheduler="sync"):
        _, sums = parts.advance(_owned, None)
    assert len(sums) == 1 and sums[0]["n"] == 3
    np.testing.assert_array_equal(sums[0]["w"], np.full(2, 1.0))


def _owned(chunk: int, state: object) -> tuple[int, dict]:
    return chunk, {"n": 1, "w": np.full(2, 1.0) if chunk == 1 else None}


def _piece(chunk: int, state: object, previous: object, c: float) -> dict:
    return {"k": chunk, "a": np.full(3, c)}
