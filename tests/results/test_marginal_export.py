"""to_dict of a marginal-likelihood fit (hglm.results.marginal_export): strict JSON."""

from __future__ import annotations

import json

import pytest

from hglm.results.marginal_export import SCHEMA

from .marginal_cases import dispersion_model_result, glmm_result, lmm_fit


def test_an_lmm_fit_as_json():
    fit = lmm_fit()
    d = json.loads(fit.to_json())
    assert d["schema"] == SCHEMA and d["method"] == "REML" and d["nAGQ"] == 1
    assert d["fixef"]["x"] == pytest.approx(fit.fixef["x"])
    assert d["vcov"][1][1] == pytest.approx(fit.se_fixef["x"] ** 2)
    assert [r["grp"] for r in d["varcorr"]] == ["g", "Residual"]
    assert d["varcorr"][1]["var1"] is None and d["varcorr"][0]["var2"] is None
    assert d["varcorr"][0]["sdcor"] == pytest.approx(fit.varcorr["sdcor"].iloc[0])
    assert len(d["ranef"]) == 12 and set(d["ranef"][0]) == {"grpvar", "term", "grp",
                                                             "condval", "condsd"}
    assert d["reml_criterion"] == pytest.approx(fit.reml_criterion)
    assert d["df_resid"] == fit.df_resid and d["deviance"] == pytest.approx(fit.deviance)


def test_a_glmm_fit_has_no_reml_criterion():
    d = json.loads(glmm_result().to_json(indent=None))
    assert d["reml_criterion"] is None and d["family"] == {"name": "binomial",
                                                           "link": "logit"}
    assert [r["grp"] for r in d["varcorr"]] == ["g"]


def test_the_dispersion_model_is_exported():
    fit = dispersion_model_result()
    d = json.loads(fit.to_json())
    assert d["disp_coef"] == pytest.approx(fit.disp_coef.to_dict())
    assert json.loads(lmm_fit().to_json())["disp_coef"] is None
