"""Double HGLM: random effects in the residual dispersion, in one call (tutorial 3.1)."""

import numpy as np
import pandas as pd
from _common import data, show

import hglm

# --- from_r.md ---
sim = pd.read_csv(data / "dhglm_iter.csv")       # y, ID (10 clusters x 50)
fit = hglm.hglm2("y ~ 1 + (1|ID)", data=sim, disp="~ 1 + (1|ID)")
show("mean model: fixef", fit.fixef)
show("mean model: var_ranef", fit.var_ranef)
show("dispersion model: fixef", fit.disp_fit.fixef)
show("dispersion model: var_ranef", fit.disp_fit.var_ranef)
show("passes", fit.dhglm_passes)
# the ID effects of the dispersion model taken as fixed (X.disp = Z), one call
Z = pd.get_dummies(sim["ID"], dtype=float)
hg = hglm.hglm(X=np.ones((500, 1)), y=sim["y"], Z=Z, x_disp=Z)
show("x_disp=Z: var_ranef", hg.var_ranef)
show("x_disp=Z: disp_coef[:3]", hg.disp_coef["estimate"][:3])
