"""Tests of ``hglm.engine.free_pages``: the heap's free pages go back to the system."""

from __future__ import annotations

import os
import platform

import numpy as np
import pytest

from hglm.engine import free_pages

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def _resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_holes_in_the_heap_are_returned() -> None:
    # 100 KB blocks come from the heap (below glibc's mmap threshold); freeing every
    # other one leaves 20 MB of holes that free() keeps resident
    blocks = [np.ones(12_800) for _ in range(400)]
    del blocks[::2]
    before = _resident_mb()
    free_pages.release_free_pages()
    assert _resident_mb() < before - 10.0
    assert len(blocks) == 200


def test_a_no_op_where_the_c_library_has_no_malloc_trim(monkeypatch) -> None:
    class NoTrim:  # a C library without the symbol (macOS, musl)
        pass

    monkeypatch.setattr(free_pages.ctypes, "CDLL", lambda name: NoTrim())
    free_pages._malloc_trim.cache_clear()
    try:
        assert free_pages._malloc_trim() is None
        free_pages.release_free_pages()  # nothing to call: no error
    finally:
        free_pages._malloc_trim.cache_clear()
