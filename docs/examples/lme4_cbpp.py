"""docs/from_lme4.md: the cbpp examples of the GLMM notes (glmer: Laplace, proportions
with weights, an observation-level effect, adaptive quadrature, anova)."""
# ruff: noqa: I001

from _common import data

# --- from_r.md ---
import pandas as pd
import hglm

cbpp = pd.read_csv(data / "cbpp.csv")               # R: data(cbpp, package = "lme4")
cbpp["period"] = cbpp["period"].astype("category")  # a factor, as in R
cbpp["obs"] = range(1, len(cbpp) + 1)

m1 = hglm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                data=cbpp, family="binomial")
print(m1)
mlp = hglm.glmer("incidence / size ~ period + (1 | herd)", weights="size",
                 data=cbpp, family="binomial")
print(mlp.fixef.round(5).to_dict())
m2 = hglm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | obs)",
                data=cbpp, family="binomial")
print(hglm.anova(m1, m2))
m20 = hglm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                 data=cbpp, family="binomial", nAGQ=20)
print(f"nAGQ = 20: logLik {m20.loglik:.4f} (all binomial constants included)")
