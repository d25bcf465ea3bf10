"""docs/scale.md: a residual-dispersion model (disp=) on a Dask DataFrame, persisted and
read from Parquet at every pass (persist=False), against R's hglm (vignette 3)."""
# ruff: noqa: I001

from _common import data, show

# --- from_r.md ---
import tempfile

import dask
import dask.dataframe as dd
import pandas as pd
import hglm

sim = pd.read_csv(data / "simul_heterosc.csv")   # R's simul1: y, xd, cluster
sim["cluster"] = sim["cluster"].astype(str)
model = dict(formula="y ~ 1 + (1|cluster)", disp="~ xd")

with dask.config.set(scheduler="threads"), tempfile.TemporaryDirectory() as folder:
    kept = hglm.hglm2(data=dd.from_pandas(sim, npartitions=3), **model)
    # written once partitioned by the term with the most levels, then read every pass
    dd.from_pandas(sim, npartitions=3).shuffle(on="cluster").to_parquet(folder)
    read = hglm.hglm2(data=dd.read_parquet(folder), persist=False, **model)

for fit in (kept, read):
    show("fixef", fit.fixef)
    show("disp_coef estimate", fit.disp_coef["estimate"])
    show("disp_coef std_error", fit.disp_coef["std_error"])
    show("var_ranef", fit.var_ranef)
    show("n_iter", fit.n_iter)
