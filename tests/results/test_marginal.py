"""MarginalResult (hglm.results.marginal): lme4's verbs on simulated linear mixed models,
checked against the estimator's own profiled deviance and against dense algebra."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from scipy.special import xlogy

import hglm
from hglm.fit.profiled_deviance import ProfiledDeviance

from .marginal_cases import (
    dispersion_model_result,
    glmm_result,
    inverse_gamma_result,
    lmm_data,
    lmm_fit,
)


@pytest.fixture(scope="module")
def reml_fit() -> hglm.MarginalResult:
    return lmm_fit(reml=True)


@pytest.fixture(scope="module")
def ml_fit() -> hglm.MarginalResult:
    return lmm_fit(reml=False)


def test_likelihood_verbs_of_an_ml_fit(ml_fit):
    n, p = ml_fit.problem.X.shape
    assert ml_fit.n_params == p + 1 + 1
    assert ml_fit.df_resid == n - ml_fit.n_params
    assert ml_fit.deviance == pytest.approx(-2.0 * ml_fit.loglik, rel=1e-12)
    assert ml_fit.aic == pytest.approx(-2.0 * ml_fit.loglik + 2.0 * ml_fit.n_params)
    assert ml_fit.bic == pytest.approx(-2.0 * ml_fit.loglik + np.log(n) * ml_fit.n_params)


def test_deviance_of_a_reml_fit_is_the_ml_deviance_at_its_estimates(reml_fit):
    ml = ProfiledDeviance(reml_fit.problem, reml=False)
    assert reml_fit.deviance == pytest.approx(ml.objective(reml_fit.theta), rel=1e-10)
    assert reml_fit.reml_criterion == pytest.approx(-2.0 * reml_fit.loglik, rel=1e-12)


def test_reml_criterion_of_an_ml_fit_is_evaluated_at_its_estimates(ml_fit):
    reml = ProfiledDeviance(ml_fit.problem, reml=True)
    assert ml_fit.reml_criterion == pytest.approx(reml.objective(ml_fit.theta), rel=1e-10)


def test_fitted_values_are_x_beta_plus_z_b(reml_fit):
    data = lmm_data()
    levels = reml_fit.ranef.set_index("grp")["condval"]
    expected = (reml_fit.fixef["(Intercept)"] + reml_fit.fixef["x"] * data["x"]
                + levels.loc[data["g"]].to_numpy())
    np.testing.assert_allclose(reml_fit.fitted, expected, rtol=1e-12)


def test_residuals_of_an_lmm(reml_fit):
    response = reml_fit.problem.y - reml_fit.fitted
    np.testing.assert_allclose(reml_fit.resid, response)
    for kind in ("response", "pearson", "deviance", "working"):
        np.testing.assert_allclose(np.abs(reml_fit.residuals(kind)), np.abs(response),
                                   rtol=1e-12)
    np.testing.assert_allclose(reml_fit.residuals("pearson", scaled=True),
                               response / reml_fit.sigma)
    with pytest.raises(ValueError, match="type"):
        reml_fit.residuals("studentized")


def test_ranef_layout(reml_fit):
    re = reml_fit.ranef
    assert list(re.columns) == ["grpvar", "term", "grp", "condval", "condsd"]
    assert len(re) == 12 and set(re["grpvar"]) == {"g"} and set(re["term"]) == {"(Intercept)"}
    assert np.all(re["condsd"] > 0)


def test_varcorr_names_a_repeated_grouping_factor_as_lme4():
    fit = lmm_fit(formula="y ~ x + (1|g) + (0 + x|g) + (1|h)")
    vc = fit.varcorr
    assert list(vc["grp"]) == ["g", "g.1", "h", "Residual"]
    assert list(vc["var1"].iloc[:3]) == ["(Intercept)", "x", "(Intercept)"]
    np.testing.assert_allclose(vc["vcov"].iloc[:3], fit.sigma**2 * fit.theta**2)


def test_predict_with_and_without_random_effects(reml_fit):
    data = lmm_data()
    np.testing.assert_allclose(reml_fit.predict(), reml_fit.fitted)
    population = reml_fit.predict(re_form="NA")
    np.testing.assert_allclose(population,
                               reml_fit.problem.X @ reml_fit.fixef.to_numpy())
    np.testing.assert_allclose(reml_fit.predict(re_form="~0"), population)
    new = data.iloc[:3].copy()
    np.testing.assert_allclose(reml_fit.predict(new), reml_fit.fitted[:3], rtol=1e-12)
    np.testing.assert_allclose(reml_fit.predict(new, re_form="NA"), population[:3])
    new["g"] = "never seen"
    np.testing.assert_allclose(reml_fit.predict(new), population[:3], rtol=1e-12)
    no_group = data[["x"]].iloc[:3]
    np.testing.assert_allclose(reml_fit.predict(no_group, re_form=np.nan), population[:3])
    with pytest.raises(ValueError, match="g"):
        reml_fit.predict(no_group)
    with pytest.raises(ValueError, match="re_form"):
        reml_fit.predict(re_form="~(1|g)")
    with pytest.raises(ValueError, match="type"):
        reml_fit.predict(type="probability")


def test_predict_newdata_needs_a_formula_fit():
    data = lmm_data()
    Z = pd.get_dummies(data["g"]).to_numpy(dtype=float)
    X = np.column_stack([np.ones(len(data)), data["x"]])
    fit = hglm.hglm(y=data["y"].to_numpy(), X=X, Z=Z, method="REML")
    assert isinstance(fit, hglm.MarginalResult)
    with pytest.raises(ValueError, match="newdata"):
        fit.predict(data)


def test_dispersion_of_an_lmm(reml_fit):
    np.testing.assert_allclose(reml_fit.dispersion(), reml_fit.sigma**2)


def test_print_is_lme4s_short_report(reml_fit):
    text = repr(reml_fit)
    assert text == reml_fit.summary().short()
    assert text.startswith("Linear mixed model fit by REML ['lmerMod']")


def test_glmm_verbs_follow_lme4():
    fit = glmm_result()
    pb = fit.problem
    mu = 1.0 / (1.0 + np.exp(-fit.linear_predictor))
    unit = 2.0 * (xlogy(pb.y, pb.y / mu) + xlogy(1 - pb.y, (1 - pb.y) / (1 - mu)))
    assert fit.deviance == pytest.approx(float(np.sum(pb.weights * unit)), rel=1e-12)
    np.testing.assert_allclose(fit.resid ** 2, pb.weights * unit, rtol=1e-10)
    np.testing.assert_allclose(fit.residuals("pearson"),
                               (pb.y - mu) * np.sqrt(pb.weights / (mu * (1 - mu))))
    assert fit.sigma == 1.0 and list(fit.varcorr["grp"]) == ["g"]
    np.testing.assert_allclose(fit.dispersion(), 1.0)
    np.testing.assert_allclose(fit.predict(type="response"), mu)
    with pytest.raises(ValueError, match="linear mixed models"):
        _ = fit.reml_criterion
    with pytest.raises(ValueError, match="wald"):
        fit.confint()
    assert fit.confint(method="wald").index[0] == ".sig01"


def test_terms_follow_lme4s_order_by_decreasing_number_of_levels():
    fit = lmm_fit(formula="y ~ x + (1|h) + (1|g)")  # h: 4 levels, g: 12
    same = lmm_fit(formula="y ~ x + (1|g) + (1|h)")
    np.testing.assert_array_equal(fit.term_order, [1, 0])
    np.testing.assert_allclose(fit.theta, fit._fit.theta[[1, 0]])
    np.testing.assert_allclose(fit.theta, same.theta, rtol=1e-6)
    assert list(fit.varcorr["grp"]) == ["g", "h", "Residual"]
    assert list(fit.ranef["grpvar"].drop_duplicates()) == ["g", "h"]
    pd.testing.assert_frame_equal(fit.ranef, same.ranef, rtol=1e-5)
    assert "groups:  g, 12; h, 4" in str(fit.summary())


def test_population_predictions_put_the_random_effects_at_their_mean():
    fit = inverse_gamma_result()  # v = 1/u, E(u) = 1: the mean of v is 1
    fixed = fit.problem.X @ fit.fixef.to_numpy()
    np.testing.assert_allclose(fit.predict(re_form="NA"), fixed + 1.0)
    new = pd.DataFrame({"x": [0.3, -1.0], "g": ["h00", "unseen"]})
    at_mean = fit.fixef["(Intercept)"] + fit.fixef["x"] * new["x"].to_numpy() + 1.0
    np.testing.assert_allclose(fit.predict(new, re_form="NA"), at_mean)
    assert fit.predict(new)[1] == pytest.approx(at_mean[1])
    assert fit.predict(new)[0] != pytest.approx(at_mean[0])


def test_a_fit_pickles(reml_fit):
    back = pickle.loads(pickle.dumps(reml_fit))
    assert str(back.summary()) == str(reml_fit.summary())
    np.testing.assert_array_equal(back.predict(lmm_data()), reml_fit.predict(lmm_data()))
    assert back.deviance == reml_fit.deviance


def test_a_residual_dispersion_model():
    fit = dispersion_model_result()
    pb = fit.problem
    phi = np.exp(pb.x_disp @ fit.disp_coef.to_numpy())
    assert list(fit.disp_coef.index) == ["(Intercept)", "z"]
    np.testing.assert_allclose(fit.dispersion(), phi)
    np.testing.assert_allclose(fit.residuals("pearson", scaled=True),
                               (pb.y - fit.fitted) / np.sqrt(phi))
    assert list(fit.varcorr["grp"]) == ["g"]  # no single residual variance
    assert not fit.is_lmm
