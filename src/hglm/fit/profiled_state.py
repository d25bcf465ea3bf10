"""The profiled deviance of a linear mixed model (:mod:`.profiled_deviance`) at one
theta."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Array = np.ndarray


@dataclass
class ProfiledCore:
    """The profiled deviance at one theta: the fields the optimizer
    (:func:`.lmm.minimize_profiled`) and the profile of :mod:`hglm.results.confint` read,
    in memory or on partitions (:class:`.partitioned_lmm.PartitionedLMMState`)."""

    theta: Array
    delta: Array
    factor: object
    r2: float
    objective: float
    sigma2: float
    penalty_sums: Array
    lam: Array


@dataclass
class ProfiledState(ProfiledCore):
    """The profiled deviance and its pieces at one theta."""

    w2: Array = field(repr=False)
    score: Array = field(repr=False)  # [X, Z]'W1 r (the base's Z), user order
    gradient: Array | None = field(default=None, repr=False)
