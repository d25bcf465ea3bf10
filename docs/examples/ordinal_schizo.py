"""docs/ordinal.md: the NIMH schizophrenia models of the GLMM notes (mixcat's npmlt)."""
# ruff: noqa: I001

from _common import data

# --- from_r.md ---
import pandas as pd
import hglm

schizo = pd.read_csv(data / "schizo.csv")         # R: data(schizo, package = "mixcat")
cond_log_0 = hglm.npmlt("y ~ trt + sqrt(wk) + trt*sqrt(wk)", schizo,
                        random="~ 1 + trt", id="id", k=2)
print(cond_log_0.summary())
cond_log_1 = hglm.npmlt("y ~ trt*sqrt(wk)", schizo, formula_npo="~ trt + sqrt(wk)",
                        random="~ 1 + trt", id="id", k=2)
print(cond_log_1.summary())
