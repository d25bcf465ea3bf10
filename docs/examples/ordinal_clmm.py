"""docs/ordinal.md: the schizophrenia model with a Gaussian random intercept (ordinal's
clmm): Laplace and adaptive quadrature."""
# ruff: noqa: I001

from _common import data, show

# --- from_r.md ---
import pandas as pd
import hglm

schizo = pd.read_csv(data / "schizo.csv")
laplace = hglm.clmm("y ~ trt * sqrt(wk) + (1 | id)", schizo)
print(laplace.summary())
agq = hglm.clmm("y ~ trt * sqrt(wk) + (1 | id)", schizo, nAGQ=10)
print(agq.summary())
show("ranef (first 5)", agq.ranef["(Intercept)"].head())
slopes = hglm.clmm("y ~ trt * sqrt(wk) + (1 + sqrt(wk) | id)", schizo)   # Laplace
print(slopes.summary())
