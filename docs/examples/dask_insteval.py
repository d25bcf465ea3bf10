"""docs/scale.md: a fit on a Dask DataFrame gives the in-memory fit (lme4's InstEval:
73,421 ratings, 2,972 students crossed with 1,128 lecturers)."""
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

in_memory = hglm.hglm2(formula, data=ratings)
with dask.config.set(scheduler="threads"):         # or a dask.distributed Client
    ddf = dd.from_pandas(ratings, npartitions=8)   # e.g. dd.read_parquet("ratings/")
    on_dask = hglm.hglm2(formula, data=ddf)

show("fixef", on_dask.fixef)
show("dispersions (phi, s, d)", [on_dask.var_fix, *on_dask.var_ranef])
show("rounds", on_dask.n_iter)
show("fixef within 1e-10 of the in-memory fit",
     np.max(np.abs(on_dask.fixef - in_memory.fixef)) < 1e-10)
ranef = on_dask.ranef.compute()                     # a Dask Series: s's effects on the workers
show("ranef within 1e-10 of the in-memory fit (by name)",
     np.max(np.abs(ranef[in_memory.ranef.index] - in_memory.ranef)) < 1e-10)
show("fitted (a Dask Series), first rows", on_dask.fitted.compute().sort_index().head(3))
