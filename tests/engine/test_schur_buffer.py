"""Tests of the shared memory of the Schur complements (``hglm.engine.schur_buffer``): a
factorization reuses it once nothing refers to it any more, and never while a kept
factor (or an array it gave out) still does."""

from __future__ import annotations

import gc
import pickle
import threading

import numpy as np
import pytest

from hglm.engine import schur_buffer
from hglm.engine.augmented import AugmentedSystem
from hglm.engine.schur_buffer import SchurBuffer, schur_memory, shared_buffer

from .dense_reference import Dense, P


@pytest.fixture
def problem() -> Dense:
    return Dense(seed=7, layout="three_crossed")


def _memory(system: AugmentedSystem) -> np.ndarray:
    return system._schur._memory


def test_buffer_reused_once_the_factor_is_gone(problem: Dense) -> None:
    sysm = problem.system
    first = sysm.factorize(problem.w1, problem.w2)
    assert np.shares_memory(first.S, _memory(sysm))
    memory_id = id(_memory(sysm))
    del first
    w1 = problem.rng.uniform(0.3, 3.0, problem.w1.shape[0])
    second = sysm.factorize(w1, problem.w2)
    assert id(_memory(sysm)) == memory_id and np.shares_memory(second.S, _memory(sysm))
    b = problem.rng.normal(size=P + problem.q)
    np.testing.assert_allclose(second.solve(b), np.linalg.solve(problem.C(w1=w1), b),
                               rtol=1e-9, atol=1e-11)


def test_kept_factor_unchanged_by_later_factorizations(problem: Dense) -> None:
    sysm = AugmentedSystem(problem.X, problem.blocks)
    b = problem.rng.normal(size=P + problem.q)
    old = sysm.factorize(problem.w1, problem.w2)
    diag = old.diag_inverse()  # S^{-1} in place of the factor from here on
    solved, logdet = old.solve(b), old.logdet()
    for scale in (0.5, 3.0):
        new = sysm.factorize(scale * problem.w1, 2.0 * problem.w2)
        assert not np.shares_memory(new.S, old.S)
        np.testing.assert_allclose(
            new.solve(b), np.linalg.solve(problem.C(w1=scale * problem.w1, w2=2.0 * problem.w2), b),
            rtol=1e-9, atol=1e-11)
        del new
    np.testing.assert_array_equal(old.solve(b), solved)
    np.testing.assert_array_equal(old.diag_inverse(), diag)
    assert old.logdet() == logdet
    np.testing.assert_allclose(solved, np.linalg.solve(problem.C(), b), rtol=1e-9, atol=1e-11)


def test_kept_inverse_outlives_its_factor(problem: Dense) -> None:
    # S^{-1} given out by a factor that is gone still holds the memory
    sysm = AugmentedSystem(problem.X, problem.blocks)
    factor = sysm.factorize(problem.w1, problem.w2)
    inverse = factor.s_inverse
    kept = inverse.copy()
    del factor
    new = sysm.factorize(2.0 * problem.w1, problem.w2)
    assert not np.shares_memory(new.S, inverse)
    np.testing.assert_array_equal(inverse, kept)


def test_systems_alive_share_one_buffer_that_goes_with_them(problem: Dense) -> None:
    gc.collect()
    first = AugmentedSystem(problem.X, problem.blocks)
    second = AugmentedSystem(problem.X, problem.blocks[:1])
    assert first._schur is second._schur is shared_buffer()
    ref = schur_buffer._shared
    del first, second, problem.system
    gc.collect()
    assert ref() is None


def test_held_memory_outlives_one_system_for_the_next(problem: Dense) -> None:
    del problem.system
    gc.collect()
    with schur_memory() as held:
        first = AugmentedSystem(problem.X, problem.blocks)
        first.factorize(problem.w1, problem.w2)
        memory = id(held._memory)  # (a reference to it would keep it busy)
        del first
        second = AugmentedSystem(problem.X, problem.blocks)
        assert second._schur is held
        factor = second.factorize(problem.w1, problem.w2)
        assert id(held._memory) == memory and np.shares_memory(factor.S, held._memory)


def test_larger_order_takes_a_larger_memory() -> None:
    buffer = SchurBuffer()
    small = buffer.zeros(3)
    small[:] = 1.0
    first = id(buffer._memory)
    del small
    near = buffer.zeros(5)  # within the room of the first memory
    assert id(buffer._memory) == first and near.shape == (5, 5) and not near.any()
    near[:] = 1.0
    del near
    large = buffer.zeros(40)
    assert large.shape == (40, 40) and not large.any()
    assert buffer._memory.size >= 40 * 40
    del large
    again = buffer.zeros(4)  # a smaller order in the larger memory, zeroed
    assert np.shares_memory(again, buffer._memory) and not again.any()


def test_busy_memory_gives_a_new_array() -> None:
    buffer = SchurBuffer()
    held = buffer.zeros(4)
    other = buffer.zeros(4)
    assert not np.shares_memory(held, other)
    assert other.flags.c_contiguous and not other.any()


def test_threads_never_share_the_memory() -> None:
    buffer = SchurBuffer()
    buffer.zeros(8)  # the memory, free again
    taken: list[np.ndarray] = []
    barrier = threading.Barrier(4)

    def take() -> None:
        barrier.wait()
        taken.append(buffer.zeros(8))

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shared = [a for a in taken if np.shares_memory(a, buffer._memory)]
    assert len(shared) == 1


def test_pickled_system_uses_the_shared_buffer(problem: Dense) -> None:
    sysm = AugmentedSystem(problem.X, problem.blocks)
    copy = pickle.loads(pickle.dumps(sysm))
    assert copy._schur is shared_buffer()
    b = problem.rng.normal(size=P + problem.q)
    np.testing.assert_allclose(copy.factorize(problem.w1, problem.w2).solve(b),
                               np.linalg.solve(problem.C(), b), rtol=1e-9, atol=1e-11)
