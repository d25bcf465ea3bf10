"""An animal model on a pedigree through the sparse inverse relationship matrix."""

import numpy as np
import pandas as pd
from _common import show

import hglm

# --- from_r.md ---
rng = np.random.default_rng(1)
# a pedigree: 300 founders, then 4 generations of 300 (10 sires each); 0 = unknown parent
animal = np.arange(1, 1501)
sire = np.zeros(1500, dtype=int)
dam = np.zeros(1500, dtype=int)
for g in range(1, 5):
    prev, rows = np.arange((g - 1) * 300, g * 300), slice(g * 300, (g + 1) * 300)
    sire[rows] = rng.choice(rng.choice(prev[:150], 10, replace=False), 300) + 1
    dam[rows] = rng.choice(prev[150:], 300) + 1
Ainv = hglm.pedigree_precision(animal, sire, dam)    # sparse A^-1 (Henderson), labelled
show("non-zeros of A^-1 per animal", Ainv.matrix.nnz / 1500)
show("mean inbreeding", Ainv.inbreeding.mean())
# breeding values along the pedigree, records on the last 1200 animals
u = np.zeros(1500)
F = Ainv.inbreeding.to_numpy()
for i in range(1500):
    s, d = sire[i] - 1, dam[i] - 1
    m = 1.0 if s < 0 else 0.5 - 0.25 * (F[s] + F[d])
    u[i] = (0.0 if s < 0 else 0.5 * (u[s] + u[d])) + rng.normal(0, np.sqrt(0.4 * m))
df = pd.DataFrame({"animal": animal[300:]})
df["y"] = 10 + u[300:] + rng.normal(0, np.sqrt(0.6), 1200)
fit = hglm.hglm2("y ~ 1 + (1|animal)", data=df, cov={"animal": Ainv})
show("var_fix", fit.var_fix)
show("var_ranef", fit.var_ranef)
show("effects (recorded + founders)", len(fit.ranef))
show("founder sire of animal 301", fit.ranef[f"(Intercept)|animal:{sire[300]}"])
# the same model with the dense A of the recorded animals: the same estimates
A = np.linalg.inv(Ainv.matrix.toarray())[300:, 300:]
A_df = pd.DataFrame(A, index=animal[300:], columns=animal[300:])
dense = hglm.hglm2("y ~ 1 + (1|animal)", data=df, cov={"animal": A_df})
show("same estimates", np.allclose([fit.var_fix, *fit.var_ranef, *fit.fixef],
                                   [dense.var_fix, *dense.var_ranef, *dense.fixef],
                                   rtol=1e-5))
# a binary trait on the same pedigree, by glmer's Laplace ML (method="ML")
df["b"] = (df["y"] > 10.5).astype(int)
binary = hglm.hglm2("b ~ 1 + (1|animal)", data=df, cov={"animal": Ainv},
                    family="binomial", method="ML")
show("binary trait: logLik", binary.loglik)
show("binary trait: sd of breeding values (logit scale)", binary.varcorr["sdcor"].iloc[0])
