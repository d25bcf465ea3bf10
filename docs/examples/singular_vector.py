"""A vector-valued term at the boundary: EQL's singular fit is lmer's REML fit."""

import warnings

import numpy as np
import pandas as pd
from _common import show

import hglm

warnings.simplefilter("ignore", hglm.BoundaryWarning)  # shown as the summary's line
# --- from_r.md ---
rng = np.random.default_rng(5)  # no slope variance between the 30 groups
g = np.repeat(np.arange(30), 6)
x = np.tile(np.arange(6), 30) / 6
y = 1 + rng.normal(size=30)[g] + 0.5 * x + rng.normal(size=180)
d = pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})
fit = hglm.hglm2("y ~ x + (1 + x | g)", data=d)
show("singular", fit.singular)
show("converged", fit.converged)
print(fit.varcorr)
print(str(fit.summary()).splitlines()[-1])
reml = hglm.lmer("y ~ x + (1 + x | g)", data=d)
show("lmer singular", reml.singular)
show("lmer vcov", reml.varcorr["vcov"])
