"""The partitions of a fit on Dask: the chunks of ``fit.partition_chunk`` persisted on
the workers, and the map-and-gather passes of ``fit.partitioned.Partitions`` over them.

A ``dask.distributed`` Client is used when one exists (``dask.persist`` and
``dask.compute`` find it), the local threaded scheduler otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dask
from dask import delayed


class DaskPartitions:
    """Chunks persisted as Dask objects (one per partition) and passes over them.

    Parameters
    ----------
    chunks : list of dask.delayed.Delayed
        One persisted chunk per partition.
    """

    def __init__(self, chunks: list) -> None:
        self.chunks = chunks

    def __len__(self) -> int:
        return len(self.chunks)

    def advance(self, fn: Callable, states: Any, *args: Any) -> tuple[list, list]:
        """``fn(chunk, state, *args) -> (state, sums)`` on every partition: the new states
        persisted where they were computed, the sums brought to the client."""
        states = [None] * len(self.chunks) if states is None else states
        outs = [
            delayed(fn, nout=2, pure=False)(c, s, *args)
            for c, s in zip(self.chunks, states, strict=True)
        ]
        outs = dask.persist(*outs)
        new_states = [o[0] for o in outs]
        sums = dask.compute(*[o[1] for o in outs])
        return new_states, list(sums)

    def gather(self, fn: Callable, states: Any, *args: Any, previous: Any = None) -> list:
        """``fn(chunk, state, previous, *args)`` of every partition, on the client."""
        n = len(self.chunks)
        states = [None] * n if states is None else states
        previous = [None] * n if previous is None else previous
        tasks = [
            delayed(fn, pure=False)(c, s, p, *args)
            for c, s, p in zip(self.chunks, states, previous, strict=True)
        ]
        return list(dask.compute(*tasks))

    def share(self, value: Any) -> Any:
        """One task holding ``value`` that every partition's task reads."""
        return delayed(value, traverse=False)

    def frames(self, fn: Callable, states: list, *args: Any) -> list:
        """Lazy ``fn(chunk, state, *args)`` of every partition (per-row pandas objects,
        for ``dask.dataframe.from_delayed``)."""
        return [
            delayed(fn, pure=False)(c, s, *args)
            for c, s in zip(self.chunks, states, strict=True)
        ]
