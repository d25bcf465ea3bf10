"""The variance components table (hglm.results.varcorr): R's as.data.frame(VarCorr())
layout and the "Random effects:" block of lme4's print."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hglm.results.varcorr import group_labels, random_effects_block, varcorr_frame


def test_group_labels_number_repeated_factors():
    assert group_labels(["g", "g", "h", "g"]) == ["g", "g.1", "h", "g.2"]


def test_frame_layout_with_and_without_a_residual():
    vc = varcorr_frame(["Batch"], [["(Intercept)"]], [np.array([[1764.05]])], 2451.25)
    assert list(vc.columns) == ["grp", "var1", "var2", "vcov", "sdcor"]
    assert list(vc["grp"]) == ["Batch", "Residual"]
    assert vc["var1"].iloc[0] == "(Intercept)" and pd.isna(vc["var1"].iloc[1])
    assert vc["var2"].isna().all()
    np.testing.assert_allclose(vc["sdcor"], np.sqrt([1764.05, 2451.25]))
    no_residual = varcorr_frame(["herd", "obs"], [["(Intercept)"]] * 2, [[[0.4]], [[0.8]]],
                                None)
    assert list(no_residual["grp"]) == ["herd", "obs"]


def test_random_effects_block_as_lme4_prints_it():
    vc = varcorr_frame(["Batch"], [["(Intercept)"]], [[[1764.05]]], 2451.25)
    assert random_effects_block(vc) == [
        " Groups   Name        Variance Std.Dev.",
        " Batch    (Intercept) 1764     42.00",
        " Residual             2451     49.51",
    ]
    assert random_effects_block(vc, variance=False)[0] == " Groups   Name        Std.Dev."


def _sleepstudy() -> pd.DataFrame:
    """lme4's REML fit of Reaction ~ Days + (Days | Subject): its variance components."""
    cov = 0.0655 * np.sqrt(612.10 * 35.07)
    return varcorr_frame(["Subject"], [["(Intercept)", "Days"]],
                         [np.array([[612.10, cov], [cov, 35.07]])], 654.94)


def test_vector_term_rows_in_lme4s_order():
    vc = _sleepstudy()
    assert list(vc["grp"]) == ["Subject"] * 3 + ["Residual"]
    assert list(vc["var1"].fillna("-")) == ["(Intercept)", "Days", "(Intercept)", "-"]
    assert list(vc["var2"].fillna("-")) == ["-", "-", "Days", "-"]
    np.testing.assert_allclose(vc["vcov"], [612.10, 35.07, 0.0655 * np.sqrt(612.10 * 35.07),
                                            654.94])
    np.testing.assert_allclose(vc["sdcor"], [np.sqrt(612.10), np.sqrt(35.07), 0.0655,
                                             np.sqrt(654.94)])


def test_vector_term_printed_as_lme4_prints_it():
    # lme4's summary of the sleepstudy fit (trailing blanks aside)
    assert random_effects_block(_sleepstudy()) == [
        " Groups   Name        Variance Std.Dev. Corr",
        " Subject  (Intercept) 612.10   24.741",
        "          Days         35.07    5.922   0.07",
        " Residual             654.94   25.592",
    ]
    assert random_effects_block(_sleepstudy(), variance=False)[2] == (
        "          Days         5.922   0.07")


def test_three_effects_and_a_scalar_term():
    corr = np.array([[1.0, -0.5, 0.25], [-0.5, 1.0, 0.0], [0.25, 0.0, 1.0]])
    sd = np.array([2.0, 1.0, 0.5])
    vc = varcorr_frame(["g", "h"], [["(Intercept)", "x", "z"], ["(Intercept)"]],
                       [corr * np.outer(sd, sd), [[4.0]]], None)
    assert list(zip(vc["var1"], vc["var2"].fillna("-"), strict=True))[3:6] == [
        ("(Intercept)", "x"), ("(Intercept)", "z"), ("x", "z")]
    np.testing.assert_allclose(vc["sdcor"][3:6], [-0.5, 0.25, 0.0])
    assert random_effects_block(vc, variance=False) == [
        " Groups Name        Std.Dev. Corr",
        " g      (Intercept) 2.0",
        "        x           1.0      -0.50",
        "        z           0.5       0.25  0.00",
        " h      (Intercept) 2.0",
    ]
