"""docs/ordinal.md: the housing model of the GLMM notes (npmlt, k = 3, EB), and k chosen
by BIC."""
# ruff: noqa: I001

from _common import data, show

# --- from_r.md ---
import pandas as pd
import hglm

house = pd.read_csv(data / "housing_sim.csv")     # housing-like data (the notes' is private)
house_glmm = hglm.npmlt("House ~ factor(Sec) + factor(Time) + factor(Sec)*factor(Time)",
                        house, random="~ 1", id="ID", k=3, eb=True)
print(house_glmm.summary())
print(house_glmm.eb.head())                        # R: house_glmm$eBayes
print(house_glmm.posterior.head().round(4))
auto = hglm.npmlt("House ~ factor(Sec) * factor(Time)", house, random="~ 1", id="ID",
                  k="auto")
print(auto.k_table.round(3))
show("k chosen by BIC", auto.k)
