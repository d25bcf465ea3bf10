"""One memory for the dense Schur complements of the factorizations of a fit.

Each factorization of the structured solver forms an m x m Schur complement S and factors
and inverts it in place (:mod:`.augmented_factor`): 10.5 MB at InstEval's order.  Formed
afresh at every step, S was freed when its factor went, and glibc then raised its
dynamic mmap threshold to S's size: every later array below it (the n-vectors of the
rounds) came from the heap, which the rounds fragmented (12.7 MB of holes at the peak of
InstEval's binomial EQL fit).  The structured systems alive at one time therefore share
one memory for S (:func:`shared_buffer`), kept while any of them lives and handed out
again only when nothing refers to it any more: a factor that is kept, or an array that
it gave out (S^{-1}), keeps that memory, and the next factorization then takes a new
array, as before.

The memory is taken with room for a slightly larger order (ROOM): the systems of one fit
differ by a few columns (a Laplace fit's system of Z alone and that of [Z, X]), memory
never written costs no resident memory, and a memory replaced by a larger one is freed
(raising the threshold again).
"""

from __future__ import annotations

import mmap
import sys
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

Array = np.ndarray

ROOM = 1 / 16  # the memory holds an order this much larger (and 8 more) than asked for


class SchurBuffer:
    """The memory of one m x m array, handed out again once nothing else refers to it.

    Whether anything does is read from the reference count of the memory's owner: every
    view of it (the factor's S, its Cholesky factor, S^{-1}) refers to the owner, so the
    count is that of a free memory only when none is alive."""

    def __init__(self) -> None:
        self._memory: Array | None = None
        self._free_count = 0
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple:
        # a copy (pickled with a system) shares the memory of its new process
        return shared_buffer, ()

    def zeros(self, m: int) -> Array:
        """A C-ordered m x m array of zeros: in the kept memory when nothing else refers
        to it (a larger one, with ROOM, when it is smaller than m x m), else a new
        array."""
        with self._lock:
            if self._memory is not None and self._references() > self._free_count:
                return np.zeros((m, m))
            fresh = self._memory is None or self._memory.size < m * m
            if fresh:
                self._memory = None  # the smaller memory goes before the larger is taken
                room = m + int(ROOM * m) + 8
                self._memory = _fresh_zeros(room * room)
                self._free_count = self._references()
            out = self._memory[: m * m].reshape(m, m)
        if not fresh:
            out.fill(0.0)
        return out

    def _references(self) -> int:
        """The reference count of the memory (read by this one expression, so that a free
        memory's count, taken right after it was made, compares like with like)."""
        return sys.getrefcount(self._memory)


def _fresh_zeros(size: int) -> Array:
    """``size`` float64 zeros in an anonymous mapping of their own, resident only where
    written and in small pages: numpy's own allocation of this size asks for transparent
    huge pages, which made the unwritten room resident in 2 MB steps (1 MB of S's memory
    at InstEval's order)."""
    memory = mmap.mmap(-1, size * 8)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        memory.madvise(mmap.MADV_NOHUGEPAGE)
    return np.frombuffer(memory, dtype=float)


_shared: weakref.ref[SchurBuffer] | None = None
_shared_lock = threading.Lock()


@contextmanager
def schur_memory() -> Iterator[SchurBuffer]:
    """The shared buffer held for a block of work: a fit in stages whose systems do not
    live at the same time (a GLMM's nAGQ = 0 stage, then its Laplace stage) keeps one
    memory from the one to the other."""
    buffer = shared_buffer()
    yield buffer


def shared_buffer() -> SchurBuffer:
    """The buffer of the structured systems alive in this process: the one they hold, or a
    new one when none lives (it goes, with its memory, when the last of them goes)."""
    global _shared
    with _shared_lock:
        buffer = None if _shared is None else _shared()
        if buffer is None:
            buffer = SchurBuffer()
            _shared = weakref.ref(buffer)
        return buffer
