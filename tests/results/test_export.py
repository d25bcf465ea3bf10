"""Export of a fit (hglm.results.export): JSON round trip, values equal the fit's, NaN -> null."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import hglm
from hglm.results import export
from hglm.results.export import SCHEMA, to_dict, to_json


def _data(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g1 = np.repeat(np.arange(10), 9)
    g2 = np.tile(np.arange(6), 15)
    x = rng.normal(size=g1.size)
    xd = rng.binomial(1, 0.5, g1.size).astype(float)
    eta = 0.4 + 0.8 * x + rng.normal(0, 0.9, 10)[g1] + rng.normal(0, 0.5, 6)[g2]
    y = eta + rng.normal(0.0, np.sqrt(np.exp(-0.3 + 0.8 * xd)), g1.size)
    yb = rng.binomial(1, 1.0 / (1.0 + np.exp(-eta)))
    return pd.DataFrame({"y": y, "yb": yb, "x": x, "xd": xd, "g1": g1, "g2": g2})


@pytest.fixture(scope="module")
def gaussian_fit() -> hglm.HGLMResult:
    return hglm.hglm2("y ~ x + (1|g1) + (1|g2)", data=_data(21), calc_like=True)


@pytest.fixture(scope="module")
def disp_fit() -> hglm.HGLMResult:
    return hglm.hglm2("y ~ x + (1|g1)", data=_data(22), disp="~ xd")


@pytest.fixture(scope="module")
def binomial_fit() -> hglm.HGLMResult:
    return hglm.hglm2("yb ~ x + (1|g1)", data=_data(23), family="binomial", fix_disp=1)


def _table(frame: pd.DataFrame) -> dict:
    return {
        str(k): {"estimate": float(r["estimate"]), "std_error": float(r["std_error"])}
        for k, r in frame.iterrows()
    }


def test_json_round_trip_equals_to_dict(gaussian_fit, disp_fit, binomial_fit):
    for fit in (gaussian_fit, disp_fit, binomial_fit):
        text = fit.to_json()
        assert json.loads(text) == fit.to_dict() == to_dict(fit)
        assert "NaN" not in text and "Infinity" not in text


def test_values_equal_the_fit(gaussian_fit):
    fit = gaussian_fit
    d = json.loads(to_json(fit))
    assert d["schema"] == SCHEMA == "hglm.fit/1"
    assert d["hglm_version"] == hglm.__version__
    assert d["method"] == "EQL"
    assert d["family"] == {"name": "gaussian", "link": "identity"}
    assert d["random_terms"] == [
        {"term": "(1|g1)", "family": "gaussian", "link": "identity", "n_levels": 10},
        {"term": "(1|g2)", "family": "gaussian", "link": "identity", "n_levels": 6},
    ]
    assert d["link_disp"] == "log"
    assert d["n_obs"] == fit.n_obs == 90
    assert d["n_ranef"] == 16
    assert list(d["fixef"]) == ["(Intercept)", "x"]
    assert d["fixef"] == {k: float(v) for k, v in fit.fixef.items()}
    assert d["se_fixef"] == {k: float(v) for k, v in fit.se_fixef.items()}
    frame = fit.ranef_frame()
    assert [r["term"] for r in d["ranef"]] == list(frame["term"])
    assert [r["name"] for r in d["ranef"]] == list(frame["name"])
    assert [r["estimate"] for r in d["ranef"]] == list(frame["estimate"])
    assert [r["std_error"] for r in d["ranef"]] == list(frame["std_error"])
    assert d["var_fix"] == fit.var_fix
    assert d["var_ranef"] == [float(v) for v in fit.var_ranef]
    assert len(d["var_ranef"]) == 2
    assert d["disp_coef"] == _table(fit.disp_coef)
    assert d["fix_disp"] is None
    assert d["rand_disp_coef"] == [_table(t) for t in fit.rand_disp_coef]
    assert d["likelihood"] == {k: float(v) for k, v in fit.likelihood.items()}
    assert set(d["likelihood"]) == {"hlik", "pvh", "pbvh", "cAIC"}
    assert d["n_iter"] == fit.n_iter and isinstance(d["n_iter"], int)
    assert d["converged"] is True is fit.converged
    assert d["singular"] is False is fit.singular
    assert d["df_resid"] == fit.df_resid
    assert d["car_rho"] is None and d["sar_tau"] is None
    assert d["disp_fit"] is None


def test_dispersion_model_rows(disp_fit):
    d = disp_fit.to_dict()
    assert d["var_fix"] is None  # a model with covariates: no single dispersion
    assert list(d["disp_coef"]) == ["(Intercept)", "xd"]
    assert d["disp_coef"]["xd"]["estimate"] == float(disp_fit.disp_coef.loc["xd", "estimate"])
    assert d["disp_coef"]["xd"]["std_error"] == float(disp_fit.disp_coef.loc["xd", "std_error"])
    assert d["likelihood"] is None


def test_fixed_dispersion(binomial_fit):
    d = binomial_fit.to_dict()
    assert d["family"] == {"name": "binomial", "link": "logit"}
    assert d["disp_coef"] is None
    assert d["fix_disp"] == 1.0
    assert d["var_fix"] == 1.0


def test_to_json_writes_the_file(gaussian_fit, tmp_path):
    path = tmp_path / "fit.json"
    text = gaussian_fit.to_json(str(path))
    assert path.read_text(encoding="utf-8") == text + "\n"
    assert json.loads(path.read_text())["fixef"] == gaussian_fit.to_dict()["fixef"]
    one_line = to_json(gaussian_fit, indent=None)
    assert "\n" not in one_line
    assert json.loads(one_line) == json.loads(text)


def test_non_finite_numbers_become_null(gaussian_fit, monkeypatch):
    se = gaussian_fit.se_fixef.copy()
    se.iloc[1] = np.nan
    monkeypatch.setattr(gaussian_fit, "se_fixef", se)
    monkeypatch.setattr(gaussian_fit, "likelihood", {**gaussian_fit.likelihood,
                                                     "cAIC": math.inf})
    text = to_json(gaussian_fit)
    d = json.loads(text)  # strict JSON: NaN/Infinity tokens would be written otherwise
    assert d["se_fixef"]["x"] is None
    assert d["se_fixef"]["(Intercept)"] == float(se.iloc[0])
    assert d["likelihood"]["cAIC"] is None
    assert "NaN" not in text and "Infinity" not in text


def test_scalar_conversion():
    assert export.json_number(np.float64("nan")) is None
    assert export.json_number(-np.inf) is None
    assert export.json_number(None) is None
    assert export.json_number(np.int64(3)) == 3 and type(export.json_number(np.int64(3))) is int
    assert export.json_number(np.bool_(True)) is True
    assert type(export.json_number(np.float32(0.5))) is float


def test_every_key_is_documented(gaussian_fit):
    doc = export.__doc__
    for key in gaussian_fit.to_dict():
        assert f"``{key}``" in doc, key
