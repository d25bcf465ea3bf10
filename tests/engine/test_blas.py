"""BLAS threading rules (_blas.py): when the factorizations run on one thread."""

from __future__ import annotations

import io
import os
from contextlib import nullcontext

import pytest

from hglm.engine import _blas


def _fake_loadavg(text: str):
    def fake_open(path, *args, **kwargs):
        assert path == "/proc/loadavg"
        return io.StringIO(text)

    return fake_open


@pytest.mark.parametrize(
    "text, own, cpus, idle",
    [
        ("0.10 0.20 0.30 1/90 123\n", 1, 2, True),  # only the reader runs
        ("0.10 0.20 0.30 2/90 123\n", 2, 2, True),  # the reader and its own BLAS thread
        ("1.90 1.20 1.00 2/90 123\n", 1, 2, False),  # another task runs
        ("0.10 0.20 0.30 1/90 123\n", 1, 1, False),  # one core: no thread to gain
        ("garbage", 1, 2, False),
    ],
)
def test_machine_idle(monkeypatch, text, own, cpus, idle) -> None:
    monkeypatch.setattr(_blas, "open", _fake_loadavg(text), raising=False)
    monkeypatch.setattr(_blas, "_own_runnable_threads", lambda: own)
    monkeypatch.setattr(_blas.os, "cpu_count", lambda: cpus)
    assert _blas.machine_idle(samples=2, interval=0.0) is idle


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_own_runnable_threads_counts_the_caller() -> None:
    """The calling thread is running while it reads its own state."""
    assert 1 <= _blas._own_runnable_threads() <= len(os.listdir("/proc/self/task"))


def test_machine_idle_without_proc(monkeypatch) -> None:
    def missing(*args, **kwargs):
        raise OSError("no /proc")

    monkeypatch.setattr(_blas, "open", missing, raising=False)
    assert _blas.machine_idle(samples=1, interval=0.0) is False


def test_eigh_threads() -> None:
    """One thread for mid-size orders unless the machine is idle."""
    assert isinstance(_blas.eigh_threads(2000, idle=True), nullcontext)
    assert isinstance(_blas.eigh_threads(50), nullcontext)
    assert isinstance(_blas.eigh_threads(5000), nullcontext)
    assert not isinstance(_blas.eigh_threads(2000), nullcontext)
