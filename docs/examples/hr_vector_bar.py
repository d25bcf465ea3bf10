"""Correlated random effects: R's hglm2 splits (1 + Time | Patient); here || does."""

import pandas as pd
from _common import data, show

import hglm

# --- from_r.md ---
hr = pd.read_csv(data / "hr_sim.csv", dtype={"Patient": "category"})
# R's hglm2 result: the independent terms (1|Patient) + (0 + Time|Patient), written ||
split = hglm.hglm2("HR ~ Time * Drug + (1 + Time || Patient)", data=hr)
show("terms", ", ".join(split.names.terms))
show("fixef", split.fixef)
show("var_ranef", split.var_ranef)
show("var_fix", split.var_fix)
# lme4's meaning of |: one term, intercept and slope correlated within a patient
vector = hglm.hglm2("HR ~ Time * Drug + (1 + Time | Patient)", data=hr,
                    conv=1e-12, maxit=500)
show("terms", ", ".join(vector.names.terms))
show("its effects", ", ".join(vector.ranef.index[:4]) + ", ...")
print(vector.varcorr)
