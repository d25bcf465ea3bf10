"""The hglm tutorial's chapter 5: SNP-BLUP and HEM of a binary trait on 216,100 SNPs
(R's bigRR and bigRR_update), with the plot of |u| of both fits."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from _common import REPO, data, show

import hglm

# --- from_r.md ---
y = pd.read_csv(data / "arabidopsis_y.csv")["y"].to_numpy(dtype=float)
Z = pd.read_csv(data / "arabidopsis_Z.csv.gz", header=None).to_numpy(dtype=float)
Z = (Z - Z.mean(axis=0)) / Z.std(axis=0, ddof=1)      # R: scale(Z)
X = np.ones((len(y), 1))
snp = hglm.hglm(y=y, X=X, Z=Z, family="binomial", fix_disp=1, bigrr=True,
                accelerate=False, conv=1e-8,          # R's bigRR: plain rounds, tol.conv,
                dev_floor="absolute")                 # and R's deviance floor
hem = hglm.bigrr_update(snp, Z)
for name, fit in (("SNP-BLUP", snp), ("HEM", hem)):
    show(f"{name}: beta", fit.fixef.iloc[0], digits=6)
    show(f"{name}: lambda", fit.var_ranef, digits=6)
    show(f"{name}: iterations", fit.n_iter)
    show(f"{name}: max |u|", np.abs(fit.ranef).max())
    show(f"{name}: max 1 - leverage", (1 - fit.leverage).max())      # R's bigRR's
    show(f"{name}: max 1 - hat_leverage", (1 - fit.hat_leverage).max())  # hat diagonal
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharex=True)
for ax, (name, fit) in zip(axes, (("SNP-BLUP", snp), ("HEM", hem)), strict=True):
    ax.plot(np.abs(fit.ranef.to_numpy()), ".", markersize=1)
    ax.set(title=name, xlabel="marker", ylabel="|u|")
fig.tight_layout()
fig.savefig(REPO / "docs" / "arabidopsis_hem.png", dpi=80)
