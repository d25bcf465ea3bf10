"""Small simulated ordinal data sets and their designs for the ordinal estimators' tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hglm.spec.ordinal import OrdinalDesign
from hglm.spec.ordinal_formula import ordinal_design


def ordinal_frame(n_clusters: int = 40, per: int = 5, seed: int = 1, q: int = 3,
                  slope_sd: float = 0.0) -> pd.DataFrame:
    """Cumulative-logit data: thresholds spread over [-1.5, 1.5], x ~ N(0, 1) with effect
    0.8, the cluster-level 0/1 covariate t with effect 0.3, a two-point random intercept
    (-1, 1.5 with masses 0.6, 0.4) and a Gaussian random slope of x with SD ``slope_sd``."""
    rng = np.random.default_rng(seed)
    n = n_clusters * per
    cluster = np.repeat(np.arange(1, n_clusters + 1), per)
    x = rng.normal(size=n)
    t = (np.arange(n_clusters) % 2)[cluster - 1].astype(float)
    b = np.where(rng.random(n_clusters) < 0.6, -1.0, 1.5)[cluster - 1]
    slope = slope_sd * rng.normal(size=n_clusters)[cluster - 1] if slope_sd else 0.0
    alpha = np.linspace(-1.5, 1.5, q)
    eta = alpha[None, :] + ((0.8 + slope) * x + 0.3 * t + b)[:, None]
    u = rng.random(n)
    y = 1 + np.sum(u[:, None] > 1 / (1 + np.exp(-eta)), axis=1)
    return pd.DataFrame({"y": y, "x": x, "t": t, "g": cluster})


def ordinal_problem(random: str | None = "~ 1", npo: str | None = None, seed: int = 1,
                    cumulative: bool = True, link: str = "logit") -> OrdinalDesign:
    """:func:`ordinal_frame`'s design for ``y ~ x + t``."""
    return ordinal_design("y ~ x + t", ordinal_frame(seed=seed), id="g", random=random,
                          formula_npo=npo, cumulative=cumulative, link=link)
