"""Free heap pages handed back to the operating system after a build of many temporaries.

glibc's malloc keeps the pages of blocks freed below the heap's top resident.  A build
that makes and frees many temporaries of a few MB (the pair products of
:mod:`.pair_products`: 1.5 to 2.5 MB of such holes at InstEval's order, beside the 10 MB
Schur complement) leaves them counted in the fit's peak memory.  ``malloc_trim(0)``
returns the free pages (Dask's workers do the same); where the C library has no such
function (macOS, Windows, musl) nothing is done.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the process's C library has none."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None


def release_free_pages() -> None:
    """Return the heap's free pages to the operating system (glibc; elsewhere a no-op)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
