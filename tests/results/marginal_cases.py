"""Simulated data and fits shared by the tests of the marginal-likelihood results."""

from __future__ import annotations

import numpy as np
import pandas as pd

import hglm


def lmm_data(seed: int = 7, n_groups: int = 12, per: int = 6) -> pd.DataFrame:
    """y = 2 + 0.5 x + b_g + c_h + e with groups g (sd 1.2), crossed h (sd 0.5), e (sd 1)
    and a second covariate z that has no effect."""
    rng = np.random.default_rng(seed)
    n = n_groups * per
    g = np.repeat(np.arange(n_groups), per)
    h = rng.integers(0, 4, n)
    x, z = rng.normal(size=n), rng.normal(size=n)
    y = (2.0 + 0.5 * x + rng.normal(0.0, 1.2, n_groups)[g] + rng.normal(0.0, 0.5, 4)[h]
         + rng.normal(size=n))
    return pd.DataFrame({"y": y, "x": x, "z": z, "g": [f"G{k:02d}" for k in g],
                         "h": [f"H{k}" for k in h]})


def lmm_fit(reml: bool = True, formula: str = "y ~ x + (1|g)", seed: int = 7
            ) -> hglm.MarginalResult:
    return hglm.lmer(formula, data=lmm_data(seed), REML=reml)
