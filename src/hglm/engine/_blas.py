"""BLAS threading for the dense factorizations.

OpenBLAS's multithreaded Cholesky synchronizes its threads at every panel; on a machine
whose cores are busy with other work this makes a 500 x 500 factorization a hundred
times slower (0.8 s instead of 7 ms, measured on the 2-core development machine).
Factorizations below ``SINGLE_THREAD_BELOW`` rows therefore run on one BLAS thread,
where threads gain little anyway; larger ones keep the library's setting.  OpenBLAS does
not thread orders below about 100, so those skip the (one-off) set-up of the
thread-pool controller (:func:`._openblas.openblas_limiter`, 2 ms, or threadpoolctl's
scan of every loaded library, 6-15 ms).

The symmetric eigendecomposition (LAPACK syevd, for bigRR's G = Z Z') and the
matrix-vector products of bigRR's EQL rounds are worse still.  With the other core busy
(load 4-7; five runs each, alternating), numpy's eigh took 1.2-4.8 s on one thread and
12-32 s on two at order 2,000, and a median of 8.5 s against 29 s at order 3,000 (two
threads won only when a core happened to be free: 2.6 s); a 2,000 x 2,000
matrix-vector product took 17 ms on two threads instead of about 1 ms.  Those run on one
thread (:func:`eigh_threads`, :func:`single_thread`); the big products with Z itself
(Z Z' and the BLUPs' pass over Z) keep the library's setting.

Each choice depends on the order of the problem alone, never on the machine's load: the
number of threads changes the order of the floating-point sums, and a choice read from
the load (an earlier rule, threads for the eigendecomposition when no other process was
runnable) made the same script's estimates differ by 1e-9 (relative) with what else ran.

:func:`cholesky_solve` calls LAPACK's potrs directly: the fits solve small systems
thousands of times, and scipy's ``cho_solve`` spends about 25 microseconds checking its
arguments, ten times the solve of a 5 x 5 system.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from functools import cache

import numpy as np
from scipy import linalg
from threadpoolctl import ThreadpoolController

from ._openblas import OpenBLASThreads, openblas_limiter

SINGLE_THREAD_BELOW = 2000
THREADED_FROM = 100
EIGH_SINGLE_THREAD_BELOW = 4000


@cache
def _controller() -> OpenBLASThreads | ThreadpoolController:
    """The BLAS libraries' thread limits: the process's OpenBLAS ones found by name (a few
    ms at the first fit), else threadpoolctl's (:mod:`._openblas`)."""
    return openblas_limiter() or ThreadpoolController()


def lapack_threads(size: int) -> AbstractContextManager:
    """Context for a dense factorization of order ``size``."""
    if size < THREADED_FROM or size >= SINGLE_THREAD_BELOW:
        return nullcontext()
    return _controller().limit(limits=1, user_api="blas")


def inverse_threads(size: int) -> AbstractContextManager:
    """Context for the inverse from a Cholesky factor (LAPACK potri) of order ``size``:
    OpenBLAS threads potri's triangular product even at order 6, where it took 0.6 ms
    on two threads with the other core busy instead of 1 us on one, so every order below
    SINGLE_THREAD_BELOW runs on one thread."""
    if size >= SINGLE_THREAD_BELOW:
        return nullcontext()
    return _controller().limit(limits=1, user_api="blas")


def eigh_threads(size: int) -> AbstractContextManager:
    """Context for a symmetric eigendecomposition of order ``size``."""
    if size < THREADED_FROM or size >= EIGH_SINGLE_THREAD_BELOW:
        return nullcontext()
    return _controller().limit(limits=1, user_api="blas")


def optimizer_threads(size: int) -> AbstractContextManager:
    """Context for an outer optimisation whose factorizations are of order ``size``: one
    BLAS thread where they run on one anyway (order < SINGLE_THREAD_BELOW).  scipy's
    L-BFGS-B calls LAPACK on its own tiny matrices at every iteration, and OpenBLAS
    threads them: with the other core busy (load 5 on 2 cores) six iterations on three
    parameters took 54-75 ms on two threads and 0.4 ms on one."""
    if size >= SINGLE_THREAD_BELOW:
        return nullcontext()
    return _controller().limit(limits=1, user_api="blas")


def single_thread() -> AbstractContextManager:
    """One BLAS thread: for the O(n^2) products of each bigRR round (about 20 us to enter)."""
    return _controller().limit(limits=1, user_api="blas")


def cholesky_solve(chol: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A^{-1} b from the lower Cholesky factor ``chol`` of A (b a vector or a matrix of
    right-hand sides; non-finite entries of b give non-finite entries of the result)."""
    if chol.shape[0] == 0:
        return np.zeros(b.shape)
    x, info = linalg.lapack.dpotrs(chol, b, lower=1)
    if info != 0:
        raise ValueError(f"b: {-info}-th argument of potrs is invalid")
    return x
