"""fit.partition_halving: a step is halved while its penalized deviance is not finite,
and once guarded while it increases; MAX_HALVINGS halvings end in a Divergence."""

from __future__ import annotations

import numpy as np
import pytest

from hglm.fit.diagnostics import Divergence
from hglm.fit.partition_halving import accepted_step
from hglm.fit.pirls import MAX_HALVINGS


def _halve_through(values: list[float], before: float = 10.0):
    """A halving pass whose partitions (two) report the next of ``values`` (split in
    halves) and the previous iterate's ``before``."""
    calls = []

    def halve(states):
        calls.append(states)
        value = values[len(calls)]
        return states + 1, [{"pen": value / 2, "pen_before": before / 2}] * 2

    first = [{"pen": values[0] / 2, "pen_before": before / 2}] * 2
    return first, halve, calls


def test_a_finite_unguarded_step_is_taken() -> None:
    first, halve, calls = _halve_through([12.0])
    states, sums, halved = accepted_step(0, first, False, halve)
    assert (states, halved, calls) == (0, False, [])


def test_a_non_finite_step_is_halved_then_guarded() -> None:
    # inf, then finite but above the previous iterate (guarded now), then below it
    first, halve, calls = _halve_through([np.inf, 11.0, 9.5])
    states, sums, halved = accepted_step(0, first, False, halve)
    assert (states, halved) == (2, True)
    assert sum(s["pen"] for s in sums) == 9.5


def test_a_guarded_step_that_increases_is_halved() -> None:
    first, halve, _ = _halve_through([10.5, 10.0 + 1e-12])
    states, _, halved = accepted_step(0, first, True, halve)
    assert (states, halved) == (1, True)


def test_halvings_that_never_help_diverge() -> None:
    first, halve, _ = _halve_through([np.inf] * (MAX_HALVINGS + 1))
    with pytest.raises(Divergence, match=f"after {MAX_HALVINGS} step halvings"):
        accepted_step(0, first, False, halve)
