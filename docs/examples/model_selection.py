"""Model selection with likelihoods (pbvh, cAIC) and the likelihood-ratio test (tutorial 3.3)."""

import numpy as np
import pandas as pd
from _common import data, show

import hglm

# --- from_r.md ---
sim = pd.read_csv(data / "model_selection.csv")  # y, ID, Z2_1..Z2_20 = scale(rnorm)
y = sim["y"]
X = np.ones((500, 1))
Z = pd.get_dummies(sim["ID"], dtype=float)
Z2 = sim.loc[:, "Z2_1":"Z2_20"]
hg1 = hglm.hglm(y=y, X=X, Z=pd.concat([Z, Z2], axis=1),
                rand_c=[Z.shape[1], Z2.shape[1]], calc_like=True)
hg2 = hglm.hglm(y=y, X=X, Z=Z, calc_like=True)
show("hg1 likelihood", pd.Series(hg1.likelihood), digits=7)
show("hg2 likelihood", pd.Series(hg2.likelihood), digits=7)
show("hg1 var_ranef", hg1.var_ranef)
hg1r = hglm.hglm(y=y, X=X, Z=pd.concat([Z, Z2], axis=1),
                 rand_c=[Z.shape[1], Z2.shape[1]], dev_floor="absolute")
show("hg1 var_ranef (R's floor, dev_floor='absolute')", hg1r.var_ranef)
test = hglm.lrt(hg2, hg1)                        # lrt(hg2, hg1)
show("lrt(hg2, hg1)", pd.Series({"statistic": test.statistic, "df": test.df,
                                 "p_value": test.p_value}))
show("lrt(hg2) statistic", hglm.lrt(hg2).statistic)
