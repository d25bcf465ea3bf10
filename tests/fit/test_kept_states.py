"""fit.kept_states: each x is evaluated once while it is among the last KEPT_STATES asked
for; the kept states let go of what can be formed again before each evaluation; an
overflow in an evaluation is silent (its objective is inf)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hglm.fit.kept_states import KEPT_STATES, KeptStates


@dataclass
class _State:
    x: np.ndarray
    objective: float


class _Square(KeptStates):
    def _evaluate(self, x: np.ndarray) -> _State:
        return _State(x, float(np.exp(x[0]) ** 2))


def test_states_are_evaluated_once_while_kept() -> None:
    dev = _Square()
    points = [np.array([float(k)]) for k in range(KEPT_STATES + 1)]
    for x in points[:KEPT_STATES]:
        dev.objective(x)
    for x in points[:KEPT_STATES]:
        assert dev.state(x).x is not x  # a copy, evaluated before
    assert dev.n_eval == KEPT_STATES
    dev.objective(points[-1])  # pushes the oldest out
    dev.objective(points[0])
    assert dev.n_eval == KEPT_STATES + 2


def test_overflow_is_an_infinite_objective_without_warning(recwarn) -> None:
    assert _Square().objective(np.array([800.0])) == np.inf
    assert not [w for w in recwarn.list if issubclass(w.category, RuntimeWarning)]


class _Releasing(_Square):
    def __init__(self) -> None:
        self.released: list[float] = []

    def _release(self, st: _State) -> None:
        self.released.append(float(st.x[0]))


def test_kept_states_are_released_before_each_evaluation_only() -> None:
    dev = _Releasing()
    dev.objective(np.array([1.0]))
    assert dev.released == []
    dev.objective(np.array([2.0]))
    assert dev.released == [1.0]
    dev.objective(np.array([1.0]))  # kept: no evaluation, nothing released
    assert dev.released == [1.0]
    dev.objective(np.array([3.0]))
    assert sorted(dev.released[1:]) == [1.0, 2.0]
