"""The variance components table (hglm.results.varcorr): R's as.data.frame(VarCorr())
layout and the "Random effects:" block of lme4's print."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hglm.results.varcorr import group_labels, random_effects_block, varcorr_frame


def test_group_labels_number_repeated_factors():
    assert group_labels(["g", "g", "h", "g"]) == ["g", "g.1", "h", "g.2"]


def test_frame_layout_with_and_without_a_residual():
    vc = varcorr_frame(["Batch"], ["(Intercept)"], np.array([1764.05]), 2451.25)
    assert list(vc.columns) == ["grp", "var1", "var2", "vcov", "sdcor"]
    assert list(vc["grp"]) == ["Batch", "Residual"]
    assert vc["var1"].iloc[0] == "(Intercept)" and pd.isna(vc["var1"].iloc[1])
    assert vc["var2"].isna().all()
    np.testing.assert_allclose(vc["sdcor"], np.sqrt([1764.05, 2451.25]))
    no_residual = varcorr_frame(["herd", "obs"], ["(Intercept)"] * 2, np.array([0.4, 0.8]),
                                None)
    assert list(no_residual["grp"]) == ["herd", "obs"]


def test_random_effects_block_as_lme4_prints_it():
    vc = varcorr_frame(["Batch"], ["(Intercept)"], np.array([1764.05]), 2451.25)
    assert random_effects_block(vc) == [
        " Groups   Name        Variance Std.Dev.",
        " Batch    (Intercept) 1764     42.00",
        " Residual             2451     49.51",
    ]
    assert random_effects_block(vc, variance=False)[0] == " Groups   Name        Std.Dev."
