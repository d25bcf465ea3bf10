"""Pump failures: Poisson-Gamma HGLM with an offset (vignette 5)."""

import pandas as pd
from _common import data, show

import hglm

# --- from_r.md ---
pump = pd.read_csv(data / "pump.csv")               # System, S, t, Gr
offset_model = hglm.hglm(fixed="S ~ factor(Gr)", random="~ 1|System",
                         offset="np.log(t)", family=hglm.Poisson(),
                         rand_family=hglm.Gamma(link="log"), fix_disp=1, data=pump)
show("fixef", offset_model.fixef)
show("var_ranef", offset_model.var_ranef)
show("log(var_ranef) se", offset_model.rand_disp_coef[0]["std_error"])
show("ranef[:3]", offset_model.ranef[:3])
# the vignette's own call: Gamma() with R's default inverse link, dispersion estimated
inverse = hglm.hglm(fixed="S ~ factor(Gr)", random="~ 1|System", offset="np.log(t)",
                    family=hglm.Poisson(), rand_family=hglm.Gamma(), data=pump)
show("Gamma(inverse): fixef", inverse.fixef)
# var_fix is driven towards 0: its last value is rounding (about 1e-7)
show("Gamma(inverse): var_fix < 1e-6", bool(inverse.var_fix < 1e-6))
show("Gamma(inverse): var_ranef", inverse.var_ranef)
