"""lme4's print and summary of a marginal-likelihood fit (hglm.results.lme4_summary):
its blocks present, numbers formatted as R formats them."""

from __future__ import annotations

import numpy as np
import pytest

import hglm
from hglm.results.lme4_summary import SINGULAR_NOTE, fixed_effects_table, title

from .marginal_cases import dispersion_model_result, glmm_result, lmm_data, lmm_fit


@pytest.fixture(scope="module")
def fits():
    return lmm_fit(reml=True), lmm_fit(reml=False, formula="y ~ x + z + (1|g) + (1|h)")


def test_titles_name_the_method(fits):
    reml, ml = fits
    assert title(reml) == "Linear mixed model fit by REML ['lmerMod']"
    assert title(ml) == "Linear mixed model fit by maximum likelihood  ['lmerMod']"


def test_reml_summary_blocks(fits):
    reml, _ = fits
    text = str(reml.summary())
    lines = text.splitlines()
    assert lines[0] == title(reml)
    assert lines[1] == "Formula: y ~ x + (1|g)"
    assert f"REML criterion at convergence: {reml.reml_criterion:.1f}" in lines
    assert "Scaled residuals: " in lines and "Random effects:" in lines
    assert "Number of obs: 72, groups:  g, 12" in lines
    fixed = lines.index("Fixed effects:")
    assert lines[fixed + 1].split() == ["Estimate", "Std.", "Error", "t", "value"]
    assert "Pr(>|z|)" not in text and "AIC" not in text
    assert "Correlation of Fixed Effects:" in lines
    assert SINGULAR_NOTE not in text


def test_ml_summary_shows_the_information_criteria(fits):
    _, ml = fits
    lines = str(ml.summary()).splitlines()
    at = lines.index("     AIC      BIC   logLik deviance df.resid")
    values = lines[at + 1].split()
    assert values == [f"{ml.aic:.1f}", f"{ml.bic:.1f}", f"{ml.loglik:.1f}",
                      f"{-2 * ml.loglik:.1f}", str(ml.df_resid)]
    assert "Number of obs: 72, groups:  g, 12; h, 4" in lines


def test_numbers_are_formatted_as_r(fits):
    reml, _ = fits
    table = fixed_effects_table(reml)
    assert list(table.columns) == ["Estimate", "Std. Error", "t value"]
    row = next(s for s in str(reml.summary()).splitlines() if s.startswith("x "))
    estimate, se, t = row.split()[1:]
    decimals = len(estimate.split(".")[1])
    assert decimals == len(se.split(".")[1])  # printCoefmat: a common number of decimals
    assert float(estimate) == pytest.approx(reml.fixef["x"], abs=10.0**-decimals)
    assert float(t) == pytest.approx(reml.fixef["x"] / reml.se_fixef["x"], abs=1e-3)


def test_short_print(fits):
    reml, _ = fits
    text = reml.summary().short()
    assert text.splitlines()[2] == f"REML criterion at convergence: {reml.reml_criterion:.4f}"
    assert "Fixed Effects:" in text and "Std.Dev." in text and "Variance" not in text
    assert SINGULAR_NOTE not in text


def test_singular_fit_is_flagged():
    data = lmm_data()
    # every group has the same mean: the between-group variance is estimated at 0
    data["y"] = 1.0 + data["y"] - data.groupby("g")["y"].transform("mean")
    fit = hglm.lmer("y ~ 1 + (1|g)", data=data)
    assert fit.singular and fit.theta[0] < 1e-4
    assert np.isclose(fit.varcorr["vcov"].iloc[0], 0.0, atol=1e-10)
    assert str(fit.summary()).splitlines()[-1] == SINGULAR_NOTE
    assert SINGULAR_NOTE in repr(fit)


def test_glmm_summary_and_print():
    fit = glmm_result()
    lines = str(fit.summary()).splitlines()
    assert lines[:3] == [
        "Generalized linear mixed model fit by maximum likelihood (Laplace Approximation) "
        "['glmerMod']",
        " Family: binomial  ( logit )",
        "Formula: p ~ x + (1|g)",
    ]
    header = lines[lines.index("Fixed effects:") + 1]
    assert header.split() == ["Estimate", "Std.", "Error", "z", "value", "Pr(>|z|)"]
    assert "Residual" not in "\n".join(lines)
    assert lines[lines.index("Fixed effects:") + 4 : lines.index("Fixed effects:") + 6] == [
        "---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"]
    table = fixed_effects_table(fit)
    assert list(table.columns) == ["Estimate", "Std. Error", "z value", "Pr(>|z|)"]
    short = repr(fit).splitlines()
    assert short[3].split() == ["AIC", "BIC", "logLik", "deviance", "df.resid"]


def test_quadrature_title():
    assert title(glmm_result(nAGQ=20)) == (
        "Generalized linear mixed model fit by maximum likelihood (Adaptive Gauss-Hermite "
        "Quadrature, nAGQ = 20) ['glmerMod']")


def test_a_dispersion_model_is_shown():
    fit = dispersion_model_result()
    lines = str(fit.summary()).splitlines()
    at = lines.index("Dispersion model (log link):")
    assert lines[at + 1].split() == ["(Intercept)", "z"]
    assert [float(x) for x in lines[at + 2].split()] == pytest.approx(
        fit.disp_coef.to_numpy(), abs=1e-3)
