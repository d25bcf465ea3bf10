"""Tests of ``hglm.results.summary``: R's summary.hglm report and its tables."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

import hglm
from hglm.results.summary import Summary
from hglm.results.varcorr import varcorr_frame


def test_summary_text(fit) -> None:
    text = str(fit.summary())
    assert "MEAN MODEL" in text
    assert "DISPERSION MODEL" in text
    assert text.index("MEAN MODEL") < text.index("DISPERSION MODEL")
    for name in ("(Intercept)", "dose"):
        assert name in text
    assert f"{fit.df_resid} degrees of freedom" in text
    assert "converged" in text


def test_fixed_table_and_p_values(fit) -> None:
    tab = fit.summary().tables["fixed"]
    assert list(tab.columns) == ["estimate", "std_error", "t_value", "p_value"]
    assert list(tab.index) == ["(Intercept)", "dose"]
    np.testing.assert_allclose(tab["estimate"], fit.fixef, rtol=1e-15)
    np.testing.assert_allclose(tab["std_error"], fit.se_fixef, rtol=1e-15)
    t = fit.fixef.to_numpy() / fit.se_fixef.to_numpy()
    np.testing.assert_allclose(tab["t_value"], t, rtol=1e-14)
    np.testing.assert_allclose(
        tab["p_value"], 2.0 * stats.t.sf(np.abs(t), fit.df_resid), rtol=1e-12
    )
    assert np.all((tab["p_value"] >= 0) & (tab["p_value"] <= 1))


def test_dispersion_tables(fit) -> None:
    disp = fit.summary().tables["dispersion"]
    assert list(disp.columns) == ["estimate", "std_error"]
    # intercept-only log link: var_fix = exp(intercept); SE = sqrt(2 / sum(1 - h))
    n = fit.fitted.shape[0]
    assert fit.var_fix == pytest.approx(np.exp(disp["estimate"].iloc[0]), rel=1e-12)
    se = np.sqrt(2.0 / np.sum(1.0 - fit.hat_values[:n]))
    assert disp["std_error"].iloc[0] == pytest.approx(se, rel=1e-10)
    rd = fit.rand_disp_coef[0]
    assert fit.var_ranef[0] == pytest.approx(np.exp(rd["estimate"].iloc[0]), rel=1e-12)
    se_r = np.sqrt(2.0 / np.sum(1.0 - fit.hat_values[n:]))
    assert rd["std_error"].iloc[0] == pytest.approx(se_r, rel=1e-10)


def test_fix_disp_summary(data) -> None:
    y, X, Z = data
    fit = hglm.hglm(y=y, X=X, Z=Z, fix_disp=1.0)
    assert fit.disp_coef is None
    assert fit.summary().tables["dispersion"] is None
    assert "fix_disp" in str(fit.summary())



def test_random_effects_table_title_and_header(fit_plain) -> None:
    """The title shows a formula term in its own parentheses once, "(1|g)", and the table
    has no stray "name" header line between the column names and the rows."""
    lines = str(fit_plain.summary()).splitlines()
    title = lines.index("Summary of the random effects estimates (1|g):")
    assert lines[title + 2].split() == ["Estimate", "Std.", "Error"]
    assert lines[title + 3].startswith(fit_plain.ranef.index[0])
    assert "((" not in "\n".join(lines)


def test_random_effects_title_of_a_matrix_term(fit) -> None:
    text = str(fit.summary())
    assert f"Summary of the random effects estimates ({fit.names.terms[0]}):" in text


def test_covariance_block_of_vector_terms() -> None:
    # issue 15's contract: a vector term's covariance in lme4's layout, scalar terms not
    cov = np.array([[4.0, 0.6], [0.6, 0.25]])
    vc = varcorr_frame(["h", "g"], [["(Intercept)"], ["(Intercept)", "x"]],
                       [[[1.0]], cov], 2.0)
    terms = [SimpleNamespace(n_theta=1), SimpleNamespace(n_theta=3)]
    fake = SimpleNamespace(varcorr=vc, _engine=SimpleNamespace(
        problem=SimpleNamespace(terms=terms)))
    assert Summary._covariances(SimpleNamespace(fit=fake)) == [
        "Covariance of the correlated random effects (as lme4's VarCorr):",
        " Groups Name        Variance Std.Dev. Corr",
        " g      (Intercept) 4.00     2.0",
        "        x           0.25     0.5      0.60",
        "",
    ]
    fake._engine.problem.terms = terms[:1]
    assert Summary._covariances(SimpleNamespace(fit=fake)) == []
