"""The partitions of a fit on Dask: the chunks of ``fit.partition_chunk`` persisted on
the workers, and the map-and-gather passes of ``fit.partitioned.Partitions`` over them.

A ``dask.distributed`` Client is used when one exists (``dask.persist`` and
``dask.compute`` find it), the local threaded scheduler otherwise.
"""

from __future__ import annotations

import contextlib
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
        self.homes = _homes(chunks)

    def __len__(self) -> int:
        return len(self.chunks)

    def advance(self, fn: Callable, states: Any, *args: Any) -> tuple[list, list]:
        """``fn(chunk, state, *args) -> (state, sums)`` on every partition: the new states
        persisted where they were computed, the sums brought to the client."""
        states = [None] * len(self.chunks) if states is None else states
        outs = []
        for c, s, home in zip(self.chunks, states, self.homes, strict=True):
            with _at(home):
                outs.append(delayed(fn, nout=2, pure=False)(c, s, *args))
        outs = dask.persist(*outs)
        new_states = [o[0] for o in outs]
        sums = dask.compute(*[o[1] for o in outs])
        return new_states, list(sums)

    def gather(self, fn: Callable, states: Any, *args: Any, previous: Any = None) -> list:
        """``fn(chunk, state, previous, *args)`` of every partition, on the client."""
        n = len(self.chunks)
        states = [None] * n if states is None else states
        previous = [None] * n if previous is None else previous
        tasks = []
        for c, s, p, home in zip(self.chunks, states, previous, self.homes, strict=True):
            with _at(home):
                tasks.append(delayed(fn, pure=False)(c, s, p, *args))
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


def _homes(chunks: list) -> list[str | None]:
    """The worker holding each chunk under a dask.distributed Client (None without one):
    a partition's passes run there, so that neither its rows nor its state move."""
    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):
        return [None] * len(chunks)
    keys = [c.key for c in chunks]
    who = client.who_has(keys)
    return [next(iter(who.get(k) or []), None) for k in keys]


def _at(home: str | None) -> Any:
    """Tasks built inside run on ``home`` when it is alive (else anywhere)."""
    if home is None:
        return contextlib.nullcontext()
    return dask.annotate(workers=[home], allow_other_workers=True)
