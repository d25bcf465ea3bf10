"""The likelihood-ratio table (hglm.results.anova) against the likelihoods of the fits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import hglm
from hglm.results import anova_table
from hglm.results.anova import BOUNDARY_COLUMN

from .marginal_cases import lmm_data, lmm_fit


@pytest.fixture(scope="module")
def nested():
    return (lmm_fit(reml=False, formula="y ~ x + (1|g)"),
            lmm_fit(reml=False, formula="y ~ x + z + (1|g)"),
            lmm_fit(reml=False, formula="y ~ x + z + (1|g) + (1|h)"))


def test_the_table_is_the_likelihood_ratio_by_hand(nested):
    small, medium, large = nested
    table = anova_table([large, small, medium], ["large", "small", "medium"],
                        [None, "y ~ x + (1|g)", None])
    assert list(table.index) == ["small", "medium", "large"]  # ordered by npar
    assert list(table.columns) == ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df",
                                   "Pr(>Chisq)"]
    np.testing.assert_array_equal(table["npar"], [4, 5, 6])
    stat = 2.0 * (medium.loglik - small.loglik)
    assert table.loc["medium", "Chisq"] == pytest.approx(stat, rel=1e-12)
    assert table.loc["medium", "Df"] == 1
    assert table.loc["medium", "Pr(>Chisq)"] == pytest.approx(stats.chi2.sf(stat, 1))
    np.testing.assert_allclose(table["deviance"], [-2 * f.loglik for f in nested])
    np.testing.assert_allclose(table["AIC"], [f.aic for f in nested])
    assert np.isnan(table.loc["small", "Chisq"]) and np.isnan(table.loc["small", "Df"])
    assert table.heading == ["Models:", "small: y ~ x + (1|g)"]


def test_no_halving_by_default(nested):
    """As lme4's anova: Pr(>Chisq) is the chi-square tail, and no boundary column unless
    asked for."""
    _, medium, large = nested
    table = anova_table([medium, large], ["m", "l"], [None, None])
    assert BOUNDARY_COLUMN not in table.columns
    stat = table.loc["l", "Chisq"]
    assert table.loc["l", "Pr(>Chisq)"] == pytest.approx(stats.chi2.sf(stat, 1), rel=1e-12)
    assert str(hglm.anova(medium, large)) == str(
        anova_table([medium, large], ["fit1", "fit2"], [medium.formula, large.formula]))


def test_boundary_pvalue_for_one_variance_component(nested):
    _, medium, large = nested
    table = anova_table([medium, large], ["m", "l"], [None, None], boundary=True)
    stat = table.loc["l", "Chisq"]
    assert table.loc["l", BOUNDARY_COLUMN] == pytest.approx(0.5 * stats.chi2.sf(stat, 1))
    assert np.isnan(table.loc["m", BOUNDARY_COLUMN])
    fixed = anova_table([nested[0], medium], ["s", "m"], [None, None], boundary=True)
    assert np.isnan(fixed.loc["m", BOUNDARY_COLUMN])  # a fixed effect, not a variance


def test_print_is_rs_layout(nested):
    text = str(anova_table(list(nested[:2]), ["fit1", "fit2"], ["y ~ x + (1|g)", None]))
    lines = text.splitlines()
    assert lines[:2] == ["Models:", "fit1: y ~ x + (1|g)"]
    assert lines[2].split() == ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df",
                                "Pr(>Chisq)"]
    assert lines[3].split()[:2] == ["fit1", "4"] and len(lines[3].split()) == 6
    assert lines[-1].startswith("Signif. codes:")


def test_refuses_incomparable_fits(nested):
    small = nested[0]
    fewer = hglm.lmer("y ~ x + (1|g)", data=lmm_data().iloc[:60], REML=False)
    with pytest.raises(ValueError, match="number of observations"):
        anova_table([small, fewer], ["a", "b"], [None, None])
    other = lmm_fit(reml=False, seed=8)
    with pytest.raises(ValueError, match="different responses"):
        anova_table([small, other], ["a", "b"], [None, None])
    reml = lmm_fit(reml=True, formula="y ~ x + z + (1|g)")
    with pytest.raises(ValueError, match="REML"):
        anova_table([small, reml], ["a", "b"], [None, None])
    with pytest.raises(ValueError, match="different fixed effects"):
        anova_table([lmm_fit(reml=True), reml], ["a", "b"], [None, None])
    with pytest.raises(ValueError, match="two or more"):
        anova_table([small], ["a"], [None])
