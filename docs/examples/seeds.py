"""Seed germination: binomial-Beta HGLM for proportions r/n with weights n (vignette 8)."""

import pandas as pd
from _common import data, show

import hglm

# --- from_r.md ---
seeds = pd.read_csv(data / "seeds.csv")             # plate, seed (O73/O75), extract, r, n
germ = hglm.hglm(fixed='r/n ~ extract*I(seed == "O73")', weights="n", data=seeds,
                 random="~ 1|plate", family=hglm.Binomial(),
                 rand_family=hglm.Beta(), conv=0.005)
show("fixef", germ.fixef)
show("var_fix", germ.var_fix)
show("var_ranef", germ.var_ranef)
# Lee & Nelder's model: binomial dispersion fixed at 1, default conv
germ1 = hglm.hglm(fixed='I(r/n) ~ extract*I(seed == "O73")', weights="n", data=seeds,
                  random="~ 1|plate", family="binomial", rand_family="beta", fix_disp=1)
show("fix_disp=1: fixef", germ1.fixef)
show("fix_disp=1: var_ranef", germ1.var_ranef)
