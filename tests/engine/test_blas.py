"""BLAS threading rules (_blas.py): when the factorizations run on one thread."""

from __future__ import annotations

import builtins
import importlib
import importlib.util
import io
import os
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest

from hglm.engine import _blas


def test_eigh_threads() -> None:
    """One thread for mid-size orders, by the order alone (never the machine's load)."""
    assert isinstance(_blas.eigh_threads(50), nullcontext)
    assert isinstance(_blas.eigh_threads(5000), nullcontext)
    assert not isinstance(_blas.eigh_threads(2000), nullcontext)


CHOICES = (_blas.lapack_threads, _blas.inverse_threads, _blas.eigh_threads,
           _blas.optimizer_threads)


def _watch_the_load(monkeypatch) -> list[str]:
    """Every route to the machine's load, watched: os.getloadavg and psutil's load and
    CPU use answer a busy machine, and a read of /proc (loadavg, stat, pressure) by
    open, io.open, os.open or pathlib is let through; each is recorded in the list
    returned (recorded, not refused, so that no caller can swallow the refusal)."""
    reads: list[str] = []

    def answer(name: str, value: object):
        def spy(*args, **kwargs):
            reads.append(name)
            return value
        return spy

    def watched(real):
        def opener(file, *args, **kwargs):
            if str(file).startswith("/proc"):
                reads.append(str(file))
            return real(file, *args, **kwargs)
        return opener

    if importlib.util.find_spec("psutil") is not None:
        psutil = importlib.import_module("psutil")  # imported before open is watched
        for name, value in (("getloadavg", (64.0, 64.0, 64.0)), ("cpu_percent", 100.0),
                            ("cpu_times_percent", None), ("cpu_times", None)):
            monkeypatch.setattr(psutil, name, answer(f"psutil.{name}", value))
    monkeypatch.setattr(os, "getloadavg", answer("os.getloadavg", (64.0, 64.0, 64.0)))
    for module, name in ((builtins, "open"), (io, "open"), (os, "open"),
                         (Path, "open"), (Path, "read_text"), (Path, "read_bytes")):
        monkeypatch.setattr(module, name, watched(getattr(module, name)))
    return reads


def _one_thread(choice, size: int) -> bool:
    """Whether a choice limits BLAS to one thread (the limit lifted on leaving it)."""
    with choice(size) as limiter:
        return limiter is not None


def test_no_choice_reads_the_machine_load(monkeypatch) -> None:
    """The thread choices never look at the machine's load, by any route, so results
    cannot depend on what else runs; on a busy machine they follow the order alone."""
    _blas._controller()  # the BLAS libraries found once (not a reading of the load)
    reads = _watch_the_load(monkeypatch)
    sizes = (50, 500, 3000, 5000)
    chosen = {size: [_one_thread(choice, size) for choice in CHOICES] for size in sizes}
    with _blas.single_thread():
        pass
    assert reads == []
    # lapack (100 <= order < 2000), inverse and optimizer (< 2000), eigh (100 <= order < 4000)
    assert chosen == {50: [False, True, False, True], 500: [True] * 4,
                      3000: [False, False, True, False], 5000: [False] * 4}


def test_optimizer_and_inverse_threads() -> None:
    """The outer optimisation and potri run on one BLAS thread below
    SINGLE_THREAD_BELOW, every BLAS library included (scipy's L-BFGS-B uses scipy's own)."""
    from threadpoolctl import threadpool_info

    for threads in (_blas.optimizer_threads, _blas.inverse_threads):
        assert isinstance(threads(_blas.SINGLE_THREAD_BELOW), nullcontext)
        with threads(6):
            counts = [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]
        assert counts and all(c == 1 for c in counts)


@pytest.mark.parametrize("shape", [(5,), (5, 3), (0,)])
def test_cholesky_solve_is_the_solve(shape):
    """A^{-1} b from A's lower Cholesky factor, for a vector, a matrix and order 0."""
    rng = np.random.default_rng(1)
    m = shape[0]
    A = rng.normal(size=(m, m))
    A = A @ A.T + m * np.eye(m)
    b = rng.normal(size=shape)
    x = _blas.cholesky_solve(np.linalg.cholesky(A), b)
    assert x.shape == b.shape
    np.testing.assert_allclose(A @ x, b, atol=1e-12)


def test_controller_is_threadpoolctls_where_the_libraries_are_not_all_openblas(monkeypatch):
    """Where the OpenBLAS-only limiter declines (another BLAS, OpenMP, not Linux), the
    choices limit through threadpoolctl's controller: every BLAS at one thread inside."""
    from threadpoolctl import ThreadpoolController, threadpool_info

    monkeypatch.setattr(_blas, "openblas_limiter", lambda: None)
    _blas._controller.cache_clear()
    try:
        assert isinstance(_blas._controller(), ThreadpoolController)
        with _blas.single_thread():
            counts = [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]
        assert counts and all(c == 1 for c in counts)
    finally:
        _blas._controller.cache_clear()
