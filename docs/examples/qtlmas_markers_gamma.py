"""Random regression on 90 markers with Gamma(log) random effects (vignette 7)."""

import numpy as np
import pandas as pd
from _common import data, show

import hglm

# --- from_r.md ---
qtlmas = pd.read_csv(data / "QTLMAS.csv.gz")
y = qtlmas["y"]
X = np.ones((1000, 1))
Z_markers = qtlmas.loc[:, "M1":"M90"]            # QTLMAS[, 2027:2116]
test2 = hglm.hglm(y=y, X=X, Z=Z_markers, rand_family=hglm.Gamma(link="log"))
log_u = np.log(test2.ranef)                      # plot(log(test2$ranef))
show("fixef", test2.fixef)
show("var_fix", test2.var_fix)
show("var_ranef", test2.var_ranef)
show("largest marker effect", log_u.idxmax())
show("n_iter", test2.n_iter)
