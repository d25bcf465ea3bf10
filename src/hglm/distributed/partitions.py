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
import numpy as np
from dask import delayed


class DaskPartitions:
    """Chunks as Dask objects (one per partition) and passes over them.

    Parameters
    ----------
    chunks : list of dask.delayed.Delayed
        One chunk per partition: persisted, or (``persist=False``) a task that reads
        and encodes the partition again at every pass.
    persist : bool
        Whether the chunks and the states stay in the workers' memory between passes;
        if not, the states are brought to the client made small by ``lighten``.
    lighten : callable, optional
        ``lighten(state)``: the state without what can be recomputed from it.
    """

    def __init__(self, chunks: list, persist: bool = True, lighten: Callable | None = None
                 ) -> None:
        self.chunks = chunks
        self.persist = persist
        self.lighten = lighten
        self.homes = _homes(chunks) if persist else [None] * len(chunks)

    def __len__(self) -> int:
        return len(self.chunks)

    def advance(
        self, fn: Callable, states: Any, *args: Any, previous: Any = None
    ) -> tuple[list, list]:
        """``fn(chunk, state, *args[, previous=previous state]) -> (state, sums)`` on
        every partition: the new states persisted where they were computed, the sums
        added pairwise on the workers and brought to the client as one (a list of one
        dict: the callers use only the total, and an m x m piece per partition would
        cross the network at every step)."""
        n = len(self.chunks)
        states = [None] * n if states is None else states
        extra = [{}] * n if previous is None else [{"previous": p} for p in previous]
        if not self.persist:
            outs = dask.compute(*[
                delayed(_lightened, pure=False)(self.lighten, fn, c, s, *args, **kw)
                for c, s, kw in zip(self.chunks, states, extra, strict=True)
            ])
            return [o[0] for o in outs], [o[1] for o in outs]
        outs = []
        for c, s, kw, home in zip(self.chunks, states, extra, self.homes, strict=True):
            with _at(home):
                outs.append(delayed(fn, nout=2, pure=False)(c, s, *args, **kw))
        outs = dask.persist(*outs)
        return [o[0] for o in outs], [_aligned(_pairwise_sum([o[1] for o in outs]).compute())]

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

    def total(self, fn: Callable, states: Any, *args: Any) -> dict:
        """The sum over the partitions of ``fn(chunk, state, None, *args)`` (dicts of
        numbers and arrays, added key by key), reduced pairwise on the workers: the
        client receives one sum, whatever the number of partitions."""
        n = len(self.chunks)
        states = [None] * n if states is None else states
        pieces = []
        for c, s, home in zip(self.chunks, states, self.homes, strict=True):
            with _at(home):
                pieces.append(delayed(fn, pure=False)(c, s, None, *args))
        return _aligned(_pairwise_sum(pieces).compute())

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


def light_state(state: Any) -> Any:
    """A partition's state without what can be recomputed from it (its ``light()``)."""
    return state.light()


def added(a: dict, b: dict) -> dict:
    """Two partitions' sums added key by key; an entry only one partition reports (the
    others give None, e.g. the owner partition's weights of the other terms' rows) is
    that partition's."""
    return {key: a[key] if b[key] is None else b[key] if a[key] is None else a[key] + b[key]
            for key in a}


def _pairwise_sum(pieces: list) -> Any:
    """One task adding the partitions' sums pairwise (a tree of ``added`` tasks), so that
    the reduction runs on the workers."""
    level = list(pieces)
    while len(level) > 1:
        pairs = [delayed(added, pure=False)(*level[i : i + 2])
                 for i in range(0, len(level) - 1, 2)]
        level = pairs + level[len(level) - len(level) % 2 :]
    return level[0]


def _aligned(sums: dict) -> dict:
    """``sums`` with its arrays aligned: arrays received from a worker process may be
    unaligned views of its message (scipy's solvers refuse them)."""
    return {key: np.require(value, requirements=["A", "W"])
            if isinstance(value, np.ndarray) else value for key, value in sums.items()}


def _lightened(lighten: Callable | None, fn: Callable, *args: Any, **kwargs: Any) -> tuple:
    """``fn``'s (state, sums) with the state lightened."""
    state, sums = fn(*args, **kwargs)
    return (state if lighten is None else lighten(state)), sums


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
