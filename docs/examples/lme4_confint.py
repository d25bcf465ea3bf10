"""docs/from_lme4.md: profile confidence intervals of the notes' cbpp glmer fits
(Laplace and nAGQ = 20)."""
# ruff: noqa: I001

from _common import data

# --- from_r.md ---
import pandas as pd
import hglm

cbpp = pd.read_csv(data / "cbpp.csv")
cbpp["period"] = cbpp["period"].astype("category")
formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"

m1 = hglm.glmer(formula, data=cbpp, family="binomial")
print(m1.confint().round(5))                  # R: confint(m1)
m20 = hglm.glmer(formula, data=cbpp, family="binomial", nAGQ=20)
print(m20.confint().round(5))                 # R: confint(m20)
print(m1.confint(method="wald").round(5))     # R: confint(m1, method = "Wald")
