"""Random regression: random intercept and slope per child, two random terms (tutorial 1.3)."""

import pandas as pd
from _common import data, show

import hglm

# --- from_r.md ---
bacteria = pd.read_csv(data / "bacteria.csv")
X = pd.DataFrame({"(Intercept)": 1.0, "week": bacteria["week"]})
y = (bacteria["y"] == "y").astype(float)
Z = pd.get_dummies(bacteria["ID"], dtype=float)
week = bacteria["week"]
z_week = Z.mul((week - week.mean()) / week.std(), axis=0)  # Z * scale(week)
z_week.columns = [str(j) for j in range(1, 51)]             # colnames(Z.week) <- 1:50
g3 = hglm.hglm(X=X, y=y, Z=pd.concat([Z, z_week], axis=1),
               rand_c=[Z.shape[1], z_week.shape[1]],
               family=hglm.Binomial(link="logit"))
show("fixef", g3.fixef)
show("var_fix", g3.var_fix)
show("var_ranef", g3.var_ranef)
show("rand_disp_coef[1]", g3.rand_disp_coef[1].loc["(Intercept)"])
show("n_iter", g3.n_iter)
# the same model with the lme4-style formula: two independent terms per child
bacteria["sweek"] = (week - week.mean()) / week.std()
g3f = hglm.hglm2("y ~ week + (1|ID) + (0 + sweek|ID)", data=bacteria, family="binomial")
show("hglm2: var_ranef", g3f.var_ranef)
