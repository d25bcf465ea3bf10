"""One BLAS thread for the process's OpenBLAS libraries (hglm.engine._openblas), against
threadpoolctl's view of the same libraries."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg  # noqa: F401  (scipy's own OpenBLAS, loaded)
from threadpoolctl import threadpool_info

from hglm.engine._openblas import OpenBLASThreads, openblas_limiter


def _blas_threads() -> dict[str, int]:
    return {d["filepath"]: d["num_threads"] for d in threadpool_info()
            if d["user_api"] == "blas"}


def _openblas_only() -> bool:
    info = [d for d in threadpool_info() if d["user_api"] == "blas"]
    return bool(info) and all(d["internal_api"] == "openblas"
                              and d["threading_layer"] != "openmp" for d in info)


needs_openblas = pytest.mark.skipif(
    not Path("/proc/self/maps").exists() or not _openblas_only(),
    reason="numpy's and scipy's BLAS are not all OpenBLAS on pthreads under Linux here")


@needs_openblas
def test_limit_is_one_thread_in_every_blas_threadpoolctl_sees_and_restores_it():
    limiter = openblas_limiter()
    assert isinstance(limiter, OpenBLASThreads)
    before = _blas_threads()
    assert len(limiter.libraries) == len(before)
    with limiter.limit(1) as inside:
        assert inside is limiter
        assert set(_blas_threads().values()) == {1}
        with limiter.limit(1):  # nested: the outer one restores
            pass
        assert set(_blas_threads().values()) == {1}
    assert _blas_threads() == before
    np.testing.assert_allclose(np.eye(3) @ np.ones(3), np.ones(3))


def test_concurrent_limits_leave_the_settings_restored():
    """Threads entering and leaving in any order: the first in sets the limit, the last
    out restores the settings (never left at the limit)."""
    threads = {"a": 4, "b": 2}
    libraries = [(lambda k=k: threads[k], lambda n, k=k: threads.__setitem__(k, n))
                 for k in threads]
    limiter = OpenBLASThreads(libraries)
    entered, release = threading.Barrier(3), threading.Event()

    def fit():
        with limiter.limit(1):
            entered.wait()
            release.wait()

    workers = [threading.Thread(target=fit) for _ in range(2)]
    for w in workers:
        w.start()
    entered.wait()
    assert threads == {"a": 1, "b": 1}
    release.set()
    for w in workers:
        w.join()
    assert threads == {"a": 4, "b": 2}


def test_only_blas_threads_are_limited():
    with pytest.raises(ValueError, match="user_api"), OpenBLASThreads([]).limit(1, "openmp"):
        pass


def _maps(tmp_path: Path, *paths: str) -> Path:
    lines = [f"7f00-7f01 r-xp 00000000 08:01 {i} {p}" for i, p in enumerate(paths)]
    lines.append("7f02-7f03 rw-p 00000000 00:00 0")  # an anonymous mapping: no path
    maps = tmp_path / "maps"
    maps.write_text("\n".join(lines) + "\n")
    return maps


@pytest.mark.parametrize("other", [
    "/opt/intel/lib/libmkl_rt.so.2", "/usr/lib/x86_64-linux-gnu/libblas.so.3",
    "/usr/lib/libblis.so.4", "/usr/lib/x86_64-linux-gnu/liblapack.so.3",
])
def test_another_blas_leaves_it_to_threadpoolctl(tmp_path, other):
    """A library named like a BLAS that is not OpenBLAS (MKL, BLIS, an alternatives
    libblas): None, whatever else is loaded."""
    openblas = "/site-packages/numpy.libs/libscipy_openblas64_-32a4b2a6.so"
    assert openblas_limiter(_maps(tmp_path, openblas, other)) is None


def test_no_blas_unreadable_maps_or_unloaded_library_give_none(tmp_path):
    """Python's extension modules named like BLAS wrappers are not BLAS libraries; no
    BLAS, no maps, or an OpenBLAS that is not loaded (dlopen without loading): None."""
    scipy_ext = "/site-packages/scipy/linalg/_fblas.cpython-311-x86_64-linux-gnu.so"
    assert openblas_limiter(_maps(tmp_path, scipy_ext)) is None
    assert openblas_limiter(tmp_path / "absent") is None
    assert openblas_limiter(_maps(tmp_path, str(tmp_path / "libopenblas.so.0"))) is None
