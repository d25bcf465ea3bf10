"""Semiconductor: Gamma HGLM with a structured dispersion (vignette 9)."""

import pandas as pd
from _common import data, show

import hglm

# --- from_r.md ---
semiconductor = pd.read_csv(data / "semiconductor.csv")
gamma_model = hglm.hglm(fixed="y ~ x1 + x3 + x5 + x6", random="~ 1|Device",
                        family=hglm.Gamma(link="log"), disp="~ x2 + x3",
                        data=semiconductor)
show("fixef", gamma_model.fixef)
show("se_fixef", gamma_model.se_fixef)
show("disp_coef estimate", gamma_model.disp_coef["estimate"])
show("disp_coef std_error", gamma_model.disp_coef["std_error"])
show("var_ranef", gamma_model.var_ranef)
show("rand_disp_coef", gamma_model.rand_disp_coef[0].loc["(Intercept)"])
show("n_iter", gamma_model.n_iter)
figures = gamma_model.plot()        # needs matplotlib: pip install "hglm[plot]"
show("figures", [f.get_label() for f in figures])
