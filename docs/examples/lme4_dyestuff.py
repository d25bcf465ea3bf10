"""docs/from_lme4.md: the Dyestuff example of the GLMM notes (lmer, REML and ML)."""
# ruff: noqa: I001

from _common import data

# --- from_r.md ---
import pandas as pd
import hglm

dye = pd.read_csv(data / "Dyestuff.csv")          # R: data(Dyestuff, package = "lme4")
fm1 = hglm.lmer("Yield ~ 1 + (1 | as.factor(Batch))", data=dye)
print(fm1.summary())
fm1ML = hglm.lmer("Yield ~ 1 + (1 | as.factor(Batch))", data=dye, REML=False)
print(fm1ML)
print(fm1ML.varcorr)
