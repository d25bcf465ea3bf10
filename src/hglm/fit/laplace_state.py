"""The state of a Laplace deviance (:mod:`.laplace`) at one x: the objective, the mode and
the pieces its gradient and curvatures are formed from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .conditional_mode import Mode
from .densities import ResponseDerivatives

Array = np.ndarray


@dataclass
class LaplaceState:
    """The objective and its pieces at one x (``objective`` inf where the mode or the
    factorization failed); ``deriv``, ``factor``, ``joint_factor`` and the mode's ``eta``
    None once let go (the deviance's ``derivatives``, ``factor`` and ``mode`` form them
    again)."""

    x: Array
    objective: float
    mode: Mode | None = None
    phi: Array | None = None
    lam: Array | None = None
    deriv: ResponseDerivatives | None = None
    random_curvature: Array | None = None
    factor: object | None = None
    gradient: Array | None = None
    # the factor of the joint system in (beta, v) at the mode's curvatures (nAGQ = 0's
    # gradient), formed on first use
    joint_factor: object | None = None
    # whether ``gradient`` holds the vector terms' entries (else they are differenced)
    vector_gradient: bool = False
