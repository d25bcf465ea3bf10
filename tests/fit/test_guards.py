"""Tests of ``hglm.fit.guards``: R's deviance floor and leverage ceiling, and when they
leave a note for the NumericalGuardWarning."""

from __future__ import annotations

import numpy as np

from hglm.fit.guards import DEV_FLOOR, HAT_CEILING, DevianceFloor, cap_leverages


def test_absolute_and_relative_floors() -> None:
    scale = np.array([2.0, 1e-3])
    assert DevianceFloor("absolute").at(scale) == DEV_FLOOR
    np.testing.assert_array_equal(DevianceFloor("relative").at(scale), DEV_FLOOR * scale)


def test_the_floor_is_noted_only_when_it_moves_a_sum() -> None:
    floor, guards = DevianceFloor("relative"), set()
    floor.note(np.array([1.0, 2.0]), np.array([1.0 + 1e-7, 2.0]), guards)
    assert guards == set()  # 1e-7 relative: not worth a warning
    floor.note(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-5]), guards)
    assert len(guards) == 1 and "(relative floor)" in next(iter(guards))


def test_leverages_are_capped_and_noted_on_informative_rows_only() -> None:
    hat = np.array([0.5, 1.0, 1.0])
    guards: set[str] = set()
    capped = cap_leverages(hat, np.array([True, True, False]), guards)
    np.testing.assert_array_equal(capped, [0.5, HAT_CEILING, HAT_CEILING])
    assert len(guards) == 1
    quiet: set[str] = set()
    cap_leverages(hat, np.array([True, False, False]), quiet)  # h = 1 by construction
    assert quiet == set()
