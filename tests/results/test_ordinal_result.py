"""The ordinal results (hglm.results.ordinal_result, npmlt_result): the verbs, the summary
layouts, JSON, fitted probabilities, plots."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pytest
from scipy import integrate, stats

import hglm
from tests.fit.ordinal_problems import ordinal_frame

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def fits():
    data = ordinal_frame()
    return (hglm.npmlt("y ~ x + t", data, random="~ 1 + t", id="g", k=2, eb=True),
            hglm.clmm("y ~ x + t + (1 | g)", data, nAGQ=5))


def test_likelihood_verbs(fits) -> None:
    for fit in fits:
        assert fit.aic == pytest.approx(-2 * fit.loglik + 2 * fit.n_params)
        assert fit.bic == pytest.approx(-2 * fit.loglik + np.log(fit.nobs) * fit.n_params)
    npml, clmm = fits
    assert npml.n_params == 3 + 2 + 2 * 2 - 2 + 1  # thresholds, x, t, points - mean, mass
    assert clmm.n_params == 3 + 2 + 1
    assert npml.m2LogL == pytest.approx(-2 * npml.loglik)


def test_fitted_and_predicted_probabilities(fits) -> None:
    data = ordinal_frame()
    for fit in fits:
        for conditional in (False, True):
            probs = fit.predict(conditional=conditional)
            assert probs.shape == (fit.nobs, 4)
            np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
            np.testing.assert_allclose(fit.predict(data, conditional=conditional), probs,
                                       rtol=1e-12)
        np.testing.assert_allclose(fit.fitted, fit.predict(conditional=True), rtol=1e-12)
        with pytest.raises(ValueError, match="clusters not in the fit: 999"):
            fit.predict(data.assign(g=999), conditional=True)
        with pytest.raises(ValueError, match="unknown column"):
            fit.predict(data.drop(columns="x"))


def test_npmlt_predictions_are_mixtures(fits) -> None:
    npml, _ = fits
    row = ordinal_frame().iloc[[0]]
    eta = npml.coefficients.to_numpy()
    alpha, beta = eta[:3], eta[3:]
    x = row[["x", "t"]].to_numpy()[0]
    expected = 0.0
    for (_, point), mass in zip(npml.mass_points.iterrows(), npml.masses, strict=True):
        cum = 1 / (1 + np.exp(-(alpha + x @ beta + point["(Intercept)"] + x[1] * point["t"])))
        expected = expected + mass * np.diff(np.concatenate([[0.0], cum, [1.0]]))
    np.testing.assert_allclose(npml.predict(row)[0], expected, rtol=1e-10)


def test_clmm_marginal_probabilities_integrate_the_intercept(fits) -> None:
    _, clmm = fits
    row = ordinal_frame().iloc[[0]]
    coef = clmm.coefficients.to_numpy()
    lin = coef[:3] - row[["x", "t"]].to_numpy()[0] @ coef[3:]
    sd = np.sqrt(clmm.var_ranef.iloc[0])

    def prob(r):
        def f(b):
            cum = np.concatenate([[0.0], 1 / (1 + np.exp(-(lin - b))), [1.0]])
            return np.diff(cum)[r] * stats.norm.pdf(b, scale=sd)
        return integrate.quad(f, -12 * sd, 12 * sd, epsabs=1e-13)[0]

    np.testing.assert_allclose(clmm.predict(row)[0], [prob(r) for r in range(4)], atol=1e-9)


def test_summaries_in_the_r_layouts(fits) -> None:
    npml, clmm = fits
    text = npml.summary()
    for part in ["Coefficients:", "Mass Points:", "Masses:", "constrained to 0",
                 "-2(Log-Likelihood):", "(Intercept) 1"]:
        assert part in text
    text = clmm.summary()
    for part in ["Cumulative Link Mixed Model fitted with the adaptive Gauss-Hermite",
                 "Random effects:", "Threshold coefficients:", "1|2"]:
        assert part in text
    assert "NPMLTResult k=2" in repr(npml) and "CLMMResult AGQ5" in repr(clmm)


def test_json_and_eb(fits) -> None:
    npml, clmm = fits
    d = json.loads(npml.to_json())
    assert d["k"] == 2 and d["m2LogL"] == pytest.approx(npml.m2LogL)
    assert json.loads(clmm.to_json())["var_ranef"] == {"(Intercept)": clmm.var_ranef.iloc[0]}
    assert npml.eb.shape == (40, 2) and list(npml.posterior.columns) == ["mass 1", "mass 2"]
    assert clmm.ranef.shape == (40, 1) and np.all(clmm.condvar > 0)


def test_plots(fits, tmp_path) -> None:
    npml, clmm = fits
    assert len(npml.plot(tmp_path)) == 2 and len(clmm.plot()) == 1
    assert (tmp_path / "ordinal_2.png").exists()
