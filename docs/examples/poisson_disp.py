"""Poisson GLMM with a model for the dispersion (vignette 4)."""

import numpy as np
import pandas as pd
from _common import data, show

import hglm

# --- from_r.md ---
sim = pd.read_csv(data / "simul_pois.csv")         # y, xd, cluster: simulated in R
X = np.ones((100, 1))
Z = pd.get_dummies(sim["cluster"], dtype=float)
X_d = np.column_stack([np.ones(100), sim["xd"]])
simul_pois = hglm.hglm(y=sim["y"], X=X, Z=Z, x_disp=X_d,
                       family=hglm.Poisson(link="log"))
show("fixef", simul_pois.fixef)
show("disp_coef estimate", simul_pois.disp_coef["estimate"])
show("var_ranef", simul_pois.var_ranef)
show("rand_disp_coef", simul_pois.rand_disp_coef[0].loc["(Intercept)"])
show("n_iter", simul_pois.n_iter)
