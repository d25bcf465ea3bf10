"""BLAS threading rules (_blas.py): when the factorizations run on one thread."""

from __future__ import annotations

from contextlib import nullcontext

from hglm.engine import _blas


def test_eigh_threads() -> None:
    """One thread for mid-size orders, by the order alone (never the machine's load)."""
    assert isinstance(_blas.eigh_threads(50), nullcontext)
    assert isinstance(_blas.eigh_threads(5000), nullcontext)
    assert not isinstance(_blas.eigh_threads(2000), nullcontext)


def test_no_choice_reads_the_machine_load(monkeypatch) -> None:
    """The thread choices never look at /proc (the load), so results cannot depend on
    what else runs."""
    def forbidden(*args, **kwargs):
        raise AssertionError("a thread choice read a file")

    monkeypatch.setattr("builtins.open", forbidden)
    for size in (50, 500, 3000, 5000):
        _blas.eigh_threads(size)
        _blas.lapack_threads(size)


def test_optimizer_and_inverse_threads() -> None:
    """The outer optimisation and potri run on one BLAS thread below
    SINGLE_THREAD_BELOW, every BLAS library included (scipy's L-BFGS-B uses scipy's own)."""
    from threadpoolctl import threadpool_info

    for threads in (_blas.optimizer_threads, _blas.inverse_threads):
        assert isinstance(threads(_blas.SINGLE_THREAD_BELOW), nullcontext)
        with threads(6):
            counts = [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]
        assert counts and all(c == 1 for c in counts)
