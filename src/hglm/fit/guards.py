"""R's numerical guards on the inputs of the dispersion GLMs (DESIGN.md, step 3):
deviance components floored at 1e-8 (or 1e-8 times the dispersion), leverages capped
at 1 - 1e-8, and the notes they leave for a NumericalGuardWarning."""

from __future__ import annotations

import numpy as np

from ..engine import LazyTail

Array = np.ndarray

DEV_FLOOR = 1e-8
HAT_CEILING = 1.0 - 1e-8


class DevianceFloor:
    """The floor of the deviance components.

    Parameters
    ----------
    mode : {"absolute", "relative"}
        1e-8, or 1e-8 times the dispersion of the row.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def at(self, scale: Array) -> Array | float:
        """The floor of rows whose dispersions are ``scale`` (one number where ``scale``
        is one value broadcast, as the fits pass a dispersion without covariates: no
        n-vector)."""
        if self.mode == "absolute":
            return DEV_FLOOR
        broadcast = isinstance(scale, np.ndarray) and scale.ndim == 1 and scale.size > 0
        if broadcast and not scale.strides[0]:
            return DEV_FLOOR * float(scale[0])
        return DEV_FLOOR * scale

    def note(self, raw: Array, floored: Array, guards: set[str]) -> None:
        """Notes in ``guards`` when the floor changed the sum of the deviances of the
        observations or of any random term (``raw``, ``floored``: those sums; the
        dispersion estimates' numerators) by more than 1e-6 relative: a few residuals
        below 1e-4 among many rows are not worth a warning."""
        if np.any(floored - raw > 1e-6 * floored):
            guards.add(
                f"Residuals numerically 0 are replaced by 1e-8 ({self.mode} floor); "
                "this moved a dispersion estimate by more than 1e-6 (relative)"
            )


def floored_squares(delta: LazyTail, p: int, floors: Array, sizes: list[int]) -> Array:
    """The deviances v_j^2 of Gaussian random effects, floored at each term's floor."""
    v = np.asarray(delta)[p:]
    return np.maximum(v**2, np.repeat(floors, sizes))


def cap_leverages(hat: Array, informative_rows: Array, guards: set[str]) -> Array:
    """The leverages capped at HAT_CEILING, with a note in ``guards`` when a row whose
    leverage is not 1 by construction (``informative_rows``) reached it."""
    if np.any((hat > HAT_CEILING) & informative_rows):
        guards.add("Hat-values numerically 1 are replaced by 1 - 1e-8")
    return np.minimum(hat, HAT_CEILING)
