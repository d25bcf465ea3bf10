"""The QTLMAS animal model with a known covariance matrix instead of Z0 L (rand_cov, cov=)."""

import numpy as np
import pandas as pd
from _common import data, show

import hglm

# --- from_r.md ---
qtlmas = pd.read_csv(data / "QTLMAS.csv.gz")
ZL = qtlmas.loc[:, "Z1":"Z2025"].to_numpy()
A = ZL @ ZL.T                       # Z0 A Z0': relationships of the 1000 recorded animals
animal = pd.Series(np.arange(1, 1001), name="animal")
df = pd.DataFrame({"y": qtlmas["y"], "animal": animal})
A_df = pd.DataFrame(A, index=animal, columns=animal)
fit_cov = hglm.hglm2("y ~ 1 + (1|animal)", data=df, cov={"animal": A_df})
show("cov=: var_fix", fit_cov.var_fix)
show("cov=: var_ranef", fit_cov.var_ranef)
show("cov=: ranef[:3]", fit_cov.ranef[:3])
# the matrix interface: Z = identity (one record per animal), rand_cov = [A]
fit_mat = hglm.hglm(y=qtlmas["y"], X=np.ones((1000, 1)), Z=np.eye(1000), rand_cov=[A])
show("rand_cov: var_ranef", fit_mat.var_ranef)
# breeding values: the original-scale effects equal Z0 L u* of the Z0 L fit
fit_zl = hglm.hglm(y=qtlmas["y"], X=np.ones((1000, 1)), Z=ZL, bigrr=True)
show("same breeding values", np.allclose(ZL @ fit_zl.ranef, fit_cov.ranef, atol=1e-6))
