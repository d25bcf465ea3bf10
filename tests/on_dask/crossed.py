"""The start of the Dask tests' simulated frames: two crossed grouping factors."""

from __future__ import annotations

import numpy as np


def crossed(seed: int, n: int, G: int, H: int) -> tuple:
    """The generator, two crossed grouping codes (G and H levels, n rows) and a normal
    covariate, drawn in that order (the frames built on them depend on it)."""
    rng = np.random.default_rng(seed)
    g, h = rng.integers(0, G, n), rng.integers(0, H, n)
    return rng, g, h, rng.normal(size=n)
