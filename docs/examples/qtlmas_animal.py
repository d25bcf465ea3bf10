"""QTLMAS animal model with Z = Z0 L (tutorial 2.1, vignette 6); slow: a dense q = 2025 fit."""

import numpy as np
import pandas as pd
from _common import data, show

import hglm

# --- from_r.md ---
qtlmas = pd.read_csv(data / "QTLMAS.csv.gz")
y = qtlmas["y"]
X = np.ones((1000, 1))
Z = qtlmas.loc[:, "Z1":"Z2025"]                  # Z0 L, 1000 x 2025
poly1 = hglm.hglm(y=y, X=X, Z=Z)
h2 = poly1.var_ranef[0] / (poly1.var_ranef[0] + poly1.var_fix)
show("fixef", poly1.fixef)
show("var_fix", poly1.var_fix)
show("var_ranef", poly1.var_ranef)
show("h2", h2)
show("n_iter", poly1.n_iter)
