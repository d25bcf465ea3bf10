"""QTLMAS animal model solved in the space of the n observations (R's bigRR = TRUE)."""

import warnings

import numpy as np
import pandas as pd
from _common import data, show

import hglm

# --- from_r.md ---
qtlmas = pd.read_csv(data / "QTLMAS.csv.gz")
y = qtlmas["y"]
X = np.ones((1000, 1))
Z = qtlmas.loc[:, "Z1":"Z2025"]
poly2 = hglm.hglm(y=y, X=X, Z=Z, bigrr=True)
show("fixef", poly2.fixef)
show("var_fix", poly2.var_fix)
show("var_ranef", poly2.var_ranef)
show("len(ranef)", len(poly2.ranef))
show("ranef[:3]", poly2.ranef[:3])
# R stops after 2 iterations (the criterion is already below conv); so does maxit=2 here
with warnings.catch_warnings():
    warnings.simplefilter("ignore", hglm.ConvergenceWarning)
    early = hglm.hglm(y=y, X=X, Z=Z, bigrr=True, maxit=2)
show("maxit=2: var_fix", early.var_fix, digits=7)
show("maxit=2: var_ranef", early.var_ranef, digits=7)
