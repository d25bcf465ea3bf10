"""Double HGLM by alternating two hglm fits, the tutorial's loop (tutorial 3.1)."""

import numpy as np
import pandas as pd
from _common import data, show

import hglm

# --- from_r.md ---
sim = pd.read_csv(data / "dhglm_iter.csv")
y = sim["y"].to_numpy()
n = len(y)
X = np.ones((n, 1))
Z = pd.get_dummies(sim["ID"], dtype=float)
w_mean = np.ones(n)                                  # initial weights
res_var, it = 0.0, 0
while abs(res_var - 1) > 0.0001 and it < 20:
    it += 1
    hg1 = hglm.hglm(X=X, y=y, Z=Z, weights=w_mean)
    res_var = hg1.var_fix
    print(f"Iteration: {it}  Convergence to 1: {res_var:.6f}")
    res = y - hg1.fitted
    hv = hg1.hat_values[:n]
    dev = res**2 / (1 - hv)
    hg2 = hglm.hglm(y=dev, X=X, Z=Z, family=hglm.Gamma(link="log"), weights=(1 - hv) / 2)
    w_mean = 1 / hg2.fitted
show("hg1 var_ranef", hg1.var_ranef)
show("hg2 var_ranef", hg2.var_ranef)
