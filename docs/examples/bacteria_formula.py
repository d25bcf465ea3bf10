"""Bacteria binomial GLMM, formula interface (tutorial 1.1, vignette 2.5)."""

import pandas as pd
from _common import data

import hglm

# --- from_r.md ---
bacteria = pd.read_csv(data / "bacteria.csv")
g1 = hglm.hglm(fixed="y ~ week", random="~ 1|ID", data=bacteria,
               family=hglm.Binomial(link="logit"))
print(g1.summary())
