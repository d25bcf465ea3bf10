"""docs/from_lme4.md: the heart-rate models of the GLMM notes (glmer with nAGQ = 20;
glmer and lmer with a correlated random intercept and slope per patient)."""
# ruff: noqa: I001

from _common import data

# --- from_r.md ---
import pandas as pd
import hglm

hr = pd.read_csv(data / "hr_sim.csv", dtype={"Patient": "category"})

fm1HR = hglm.glmer("HR_incr ~ Time + Drug + Time*Drug + (1 | Patient)", data=hr,
                   family="binomial", nAGQ=20)
print(pd.DataFrame({"Estimate": fm1HR.fixef, "Std. Error": fm1HR.se_fixef}).round(4))
fm2HR = hglm.glmer("HR_incr ~ Time + Drug + Time*Drug + (1 + Time | Patient)", data=hr,
                   family="binomial")
print(fm2HR)
fm3HR = hglm.lmer("HR ~ Time + Drug + Time*Drug + (1 + Time | Patient)", data=hr)
print(fm3HR.summary())
print(fm3HR.varcorr)
