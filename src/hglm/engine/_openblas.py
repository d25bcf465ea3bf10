"""One BLAS thread for the OpenBLAS libraries of the process, found without threadpoolctl's
scan.

threadpoolctl's controller resolves the path of every shared library the process has
loaded (about 180 once numpy, scipy and pandas are imported) to recognise the BLAS ones:
6-11 ms, paid by the first fit of every process.  The wheels of numpy and scipy each
bring an OpenBLAS (``libscipy_openblas64_`` and ``libscipy_openblas``), which Linux lists
by name in ``/proc/self/maps``: :func:`openblas_limiter` finds them there (0.3 ms) and
sets their threads itself.  Where anything else may be a BLAS (a library named like one
that is not OpenBLAS: MKL, BLIS, FlexiBLAS, a ``libblas.so.3`` alternative), where an
OpenBLAS runs on OpenMP (whose limit is per calling thread), or off Linux, it returns
None and the caller uses threadpoolctl.

The limit is shared by the threads of the process: the first to enter records the
libraries' settings and sets one thread, the last to leave restores them, so that
concurrent fits (Dask's threads) never leave the process at one thread.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

MAPS = Path("/proc/self/maps")
# names of shared libraries that may hold a BLAS, as Linux names them (lower case; Python's
# extension modules, scipy's _fblas among them, are not named lib*): any that is not an
# OpenBLAS sends the caller to threadpoolctl
_BLAS_WORDS = ("blas", "lapack", "mkl", "blis")
_BLAS_LIKE = re.compile(r"^lib.*(" + "|".join(_BLAS_WORDS) + ")")
_SYMBOL_AFFIXES = list(itertools.product(("", "scipy_"), ("", "64_", "_64")))
# openblas_get_parallel(): 0 sequential, 1 pthreads, 2 OpenMP
_OPENMP = 2


class OpenBLASThreads:
    """The thread settings of the process's OpenBLAS libraries, each as its (get, set)
    pair, limited by :meth:`limit` (module docstring)."""

    def __init__(self, libraries: list[tuple[Callable[[], int], Callable[[int], None]]]
                 ) -> None:
        self.libraries = libraries
        self._lock = threading.Lock()
        self._depth = 0
        self._saved: list[int] = []

    @contextmanager
    def limit(self, limits: int = 1, user_api: str = "blas") -> Iterator[OpenBLASThreads]:
        """At most ``limits`` threads in every library while inside (``user_api`` only
        "blas": threadpoolctl's signature)."""
        if user_api != "blas":
            raise ValueError(f"user_api: only 'blas', got {user_api!r}")
        with self._lock:
            if self._depth == 0:
                self._saved = [get() for get, _ in self.libraries]
                for (_, set_threads), n in zip(self.libraries, self._saved, strict=True):
                    set_threads(min(n, limits))
            self._depth += 1
        try:
            yield self
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    for (_, set_threads), n in zip(self.libraries, self._saved, strict=True):
                        set_threads(n)


def openblas_limiter(maps: Path = MAPS) -> OpenBLASThreads | None:
    """The limiter of the OpenBLAS libraries listed in ``maps`` (the process's mapped
    files), or None where threadpoolctl must decide (module docstring)."""
    try:
        text = maps.read_text(errors="replace")
    except OSError:
        return None
    # the lines that name a library at all like one (_BLAS_WORDS), before any path is
    # split out: of a thousand lines, splitting each, or any() or a regex over the words,
    # costs 2-3 times these four substring tests
    lines = (line for line in text.splitlines()
             if "blas" in line or "lapack" in line or "mkl" in line or "blis" in line)
    fields = (line.split(None, 5) for line in lines)
    paths = dict.fromkeys(f[5] for f in fields if len(f) == 6)
    blas = [p for p in paths if _BLAS_LIKE.search(os.path.basename(p))]
    if not blas or any("openblas" not in os.path.basename(p) for p in blas):
        return None
    libraries = [_thread_functions(p) for p in blas]
    if any(f is None for f in libraries):
        return None
    return OpenBLASThreads(libraries)


def _thread_functions(path: str) -> tuple[Callable[[], int], Callable[[int], None]] | None:
    """(get, set) of one loaded OpenBLAS's threads, or None: not loaded, no such symbols
    (any of OpenBLAS's prefixes and suffixes), or its threads are OpenMP's."""
    try:
        lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD)
    except OSError:
        return None
    for prefix, suffix in _SYMBOL_AFFIXES:
        get = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}", None)
        set_threads = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}", None)
        parallel = getattr(lib, f"{prefix}openblas_get_parallel{suffix}", None)
        if get is None or set_threads is None:
            continue
        get.restype, set_threads.restype = ctypes.c_int, None
        set_threads.argtypes = [ctypes.c_int]
        if parallel is not None and parallel() == _OPENMP:
            return None
        return get, set_threads
    return None
