"""R's number formatting (hglm.results.r_format) on outputs R prints."""

from __future__ import annotations

import numpy as np

from hglm.results import r_format as rf


def test_format_uses_a_common_number_of_decimals():
    assert rf.format_r([42.0006, 49.5101], 4) == ["42.00", "49.51"]
    assert rf.format_r([1764.05, 2451.25], 4) == ["1764", "2451"]
    assert rf.format_r([-1.41170, 0.14181, 1.8296], 4) == ["-1.4117", "0.1418", "1.8296"]
    assert rf.format_r([0.1], 3) == ["0.1"]


def test_format_switches_to_scientific_when_narrower():
    assert rf.format_r([1.466e-9], 3) == ["1.47e-09"]
    assert rf.format_r([1e-10, 1.0], 7) == ["1e-10", "1e+00"]
    assert rf.format_r([np.nan, 2.0], 4) == ["NA", "2"]


def test_coefficients_as_printcoefmat():
    # lme4's summary of the Dyestuff REML fit: 1527.50, 19.38
    assert rf.format_coefficients(np.array([[1527.5, 19.3834]])) == [["1527.50"], ["19.38"]]
    table = np.array([[2.94373, 0.23510], [0.09146, 0.31465], [-0.95974, 0.23691]])
    est, se = rf.format_coefficients(table)
    assert est == ["2.94373", "0.09146", "-0.95974"] and se[0] == "0.23510"


def test_statistics_and_pvalues():
    assert rf.format_statistics(np.array([78.8041])) == ["78.8"]
    assert rf.format_statistics(np.array([12.5212, 0.2907, -4.0511])) == ["12.521", "0.291",
                                                                      "-4.051"]
    assert rf.format_pvalues(np.array([1e-20, 0.7712, 0.6806, 5.1e-05])) == [
        "< 2e-16", "0.771", "0.681", "5.1e-05"]
    assert [rf.signif_stars(p) for p in (1e-5, 0.005, 0.03, 0.07, 0.5)] == [
        "***", "**", "*", ".", " "]


def test_named_vector_and_tables():
    lines = rf.named_vector(["AIC", "df.resid"], ["333.3", "27"])
    assert lines == ["     AIC df.resid", "   333.3       27"]
    assert len(rf.named_vector([f"n{i}" for i in range(30)], ["1"] * 30, width=20)) > 2
    assert rf.text_table(["", "b"], [["row", "1"], ["r", "22"]], [True, False]) == [
        "     b", "row  1", "r   22"]


def test_abbreviate_as_r():
    assert rf.abbreviate("(Intercept)") == "(Intr)"
    assert rf.abbreviate("period2") == "perid2"
    assert rf.abbreviate("x") == "x"
