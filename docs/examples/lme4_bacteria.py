"""docs/from_lme4.md: the bacteria data (MASS) fitted by glmer with the Laplace
approximation, adaptive quadrature (nAGQ = 10) and nAGQ = 0."""
# ruff: noqa: I001

from _common import data

# --- from_r.md ---
import pandas as pd
import hglm

bac = pd.read_csv(data / "bacteria.csv")          # R: data(bacteria, package = "MASS")
bac["yy"] = (bac["y"] == "y").astype(int)         # presence of H. influenzae

fits = {k: hglm.glmer("yy ~ week + (1 | ID)", data=bac, family="binomial", nAGQ=k)
        for k in (1, 10, 0)}
print(fits[1].summary())
table = pd.DataFrame({f"nAGQ = {k}": [*f.fixef, f.theta[0], f.loglik]
                      for k, f in fits.items()},
                     index=["(Intercept)", "week", "theta", "logLik"])
print(table.round(4))
