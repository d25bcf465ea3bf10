"""R habits that carry over, and the ones that differ (docs/from_r.md, last section)."""

import warnings

import numpy as np
import pandas as pd
from _common import data, show

import hglm

# --- from_r.md ---
bacteria = pd.read_csv(data / "bacteria.csv")
# a string response: the last level in sorted order ("y") is the success, as in R
fit = hglm.hglm2("y ~ week + (1|ID)", data=bacteria, family="binomial")
show("levels of ID (sorted)", fit.ranef.index[:3].str.replace("(Intercept)|ID:", ""))
# booleans work too
bacteria["present"] = bacteria["y"] == "y"
fit_bool = hglm.hglm2("present ~ week + (1|ID)", data=bacteria, family="binomial")
show("same fixef", np.allclose(fit.fixef, fit_bool.fixef))
# rows with missing values in the model's columns are dropped, with a warning
bacteria.loc[[0, 5], "week"] = np.nan
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    fit_na = hglm.hglm2("y ~ week + (1|ID)", data=bacteria, family="binomial")
show("warning", str(caught[0].message))
show("n_obs", fit_na.n_obs)
