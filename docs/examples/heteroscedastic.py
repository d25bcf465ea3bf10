"""Linear mixed model with fixed effects in the residual variance (vignette 3)."""

import numpy as np
import pandas as pd
from _common import data, show

import hglm

# --- from_r.md ---
sim = pd.read_csv(data / "simul_heterosc.csv")     # y, xd, cluster: simulated in R
X = np.ones((100, 1))
Z = pd.get_dummies(sim["cluster"], dtype=float)    # diag(5) %x% rep(1, 20)
X_d = np.column_stack([np.ones(100), sim["xd"]])   # cbind(1, rbinom(n, 1, .5))
simul1 = hglm.hglm(y=sim["y"], X=X, Z=Z, x_disp=X_d)
show("fixef", simul1.fixef)
show("disp_coef estimate", simul1.disp_coef["estimate"])
show("disp_coef std_error", simul1.disp_coef["std_error"])
show("var_ranef", simul1.var_ranef)
show("ranef", simul1.ranef)
show("n_iter", simul1.n_iter)
