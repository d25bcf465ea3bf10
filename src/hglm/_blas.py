"""BLAS threading for the dense factorizations.

OpenBLAS's multithreaded Cholesky synchronizes its threads at every panel; on a machine
whose cores are busy with other work this makes a 500 x 500 factorization a hundred
times slower (0.8 s instead of 7 ms, measured on the 2-core development machine).
Factorizations below ``SINGLE_THREAD_BELOW`` rows therefore run on one BLAS thread,
where threads gain little anyway; larger ones keep the library's setting.  OpenBLAS does
not thread orders below about 100, so those skip the (one-off, ~15 ms) set-up of the
thread-pool controller.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from functools import cache

from threadpoolctl import ThreadpoolController

SINGLE_THREAD_BELOW = 2000
THREADED_FROM = 100


@cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


def lapack_threads(size: int) -> AbstractContextManager:
    """Context for a dense factorization of order ``size``."""
    if size < THREADED_FROM or size >= SINGLE_THREAD_BELOW:
        return nullcontext()
    return _controller().limit(limits=1, user_api="blas")
