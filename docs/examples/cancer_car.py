"""Scottish lip cancer: Poisson HGLM with CAR spatial random effects (tutorial 4.1)."""

import numpy as np
import pandas as pd
from _common import data, show

import hglm

# --- from_r.md ---
cancer = pd.read_csv(data / "cancer.csv")                       # E, O, Paff
nbr = pd.read_csv(data / "cancer_nbr.csv", header=None).to_numpy()
logE = np.log(cancer["E"])
X11 = pd.DataFrame({"(Intercept)": 1.0, "Paff": cancer["Paff"]})
m41 = hglm.hglm(X=X11, y=cancer["O"], Z=np.eye(len(cancer)),
                family=hglm.Poisson(), rand_family=hglm.CAR(nbr),
                offset=logE, conv=1e-9, maxit=200, fix_disp=1)
show("fixef", m41.fixef)
show("se_fixef", m41.se_fixef)
show("car_rho", m41.car_rho)
show("car_tau", m41.car_tau)
show("rand_disp_coef", m41.rand_disp_coef[0]["estimate"])
# the tutorial's call: method="HL11" (R's EQL1, the HL(1,1)-type correction)
m42 = hglm.hglm(X=X11, y=cancer["O"], Z=np.eye(len(cancer)),
                family=hglm.Poisson(), rand_family=hglm.CAR(nbr),
                offset=logE, conv=1e-9, maxit=200, fix_disp=1, method="HL11")
show("EQL1 fixef", m42.fixef)
show("EQL1 se_fixef", m42.se_fixef)
show("EQL1 car_rho", m42.car_rho)
show("EQL1 car_tau", m42.car_tau)
show("EQL1 rand_disp_coef", m42.rand_disp_coef[0]["estimate"])
