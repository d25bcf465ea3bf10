"""docs/scale.md: lmer on a Dask DataFrame gives the in-memory (and lme4's) ML fit of
lme4's InstEval: 73,421 ratings, 2,972 students crossed with 1,128 lecturers."""
# ruff: noqa: I001

from _common import data, show

# --- from_r.md ---
import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import hglm

ratings = pd.read_csv(data / "InstEval.csv.gz")     # R: data(InstEval, package = "lme4")
ratings["service"] = ratings["service"].astype(float)
formula = "y ~ service + (1|s) + (1|d)"

in_memory = hglm.lmer(formula, data=ratings, REML=False)
with dask.config.set(scheduler="threads"):         # or a dask.distributed Client
    ddf = dd.from_pandas(ratings, npartitions=8)   # e.g. dd.read_parquet("ratings/")
    on_dask = hglm.lmer(formula, data=ddf, REML=False)

show("logLik", on_dask.loglik, digits=10)
show("fixef", on_dask.fixef, digits=6)
show("se_fixef", on_dask.se_fixef)
show("theta (s, d)", on_dask.theta)
show("sigma", on_dask.sigma)
show("evaluations (in memory, on Dask)", [in_memory.n_iter, on_dask.n_iter])
key = ["grpvar", "grp"]
ranef = on_dask.ranef.compute()                     # a Dask DataFrame: s's rows on the workers
modes = ranef.set_index(key)["condval"][in_memory.ranef.set_index(key).index]
print("the pandas fit's logLik, fixef, SEs, theta and ranef (by label) to 1e-9:",
      np.isclose(on_dask.loglik, in_memory.loglik, rtol=1e-12)
      and np.allclose(on_dask.fixef, in_memory.fixef, rtol=1e-9, atol=0)
      and np.allclose(on_dask.se_fixef, in_memory.se_fixef, rtol=1e-9, atol=0)
      and np.allclose(on_dask.theta, in_memory.theta, rtol=1e-9, atol=0)
      and np.allclose(modes, in_memory.ranef["condval"], rtol=0, atol=1e-9))
show("fitted (a Dask Series), first rows", on_dask.fitted.compute().sort_index().head(3))
