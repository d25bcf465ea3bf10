"""Bacteria binomial GLMM, design-matrix interface (tutorial 1.2)."""

import pandas as pd
from _common import data, show

import hglm

# --- from_r.md ---
bacteria = pd.read_csv(data / "bacteria.csv")
X = pd.DataFrame({"(Intercept)": 1.0, "week": bacteria["week"]})  # model.matrix(~week)
y = (bacteria["y"] == "y").astype(float)                           # binary outcome
Z = pd.get_dummies(bacteria["ID"], dtype=float)                     # model.matrix(~0 + ID)
g2 = hglm.hglm(X=X, y=y, Z=Z, family=hglm.Binomial(link="logit"))
show("fixef", g2.fixef)
show("se_fixef", g2.se_fixef)
show("var_fix", g2.var_fix)
show("var_ranef", g2.var_ranef)
show("ranef[:3]", g2.ranef[:3])
show("n_iter", g2.n_iter)
fit_fix = hglm.hglm(X=X, y=y, Z=Z, family="binomial", fix_disp=1)  # fix.disp = 1
show("fix_disp=1: fixef", fit_fix.fixef)
show("fix_disp=1: var_ranef", fit_fix.var_ranef)
