"""Tests of ``hglm.fit.dispersion``: the gamma GLMs of d/(1-h), and those of a round."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from shared import require

import hglm
from hglm.fit.diagnostics import Divergence
from hglm.fit.dispersion import fit_dispersion, fit_random_dispersions, fit_residual_dispersion
from hglm.spec import RandomTermModel
from hglm.spec.families import random_family
from hglm.spec.links import LINKS

# fit_dispersion stops its IRLS on R's glm rule (relative deviance change < 1e-8), on
# purpose (it keeps R's fixed point).  With covariates and a non-canonical link IRLS
# converges linearly, and on these data the stopping point is up to ~4e-5 (relative)
# from the exact gamma MLE; closed forms are exact.
IRLS_RTOL = 1e-4


def _data(seed: int, n: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    phi = np.exp(0.3 + 0.5 * x)
    dev = phi * rng.chisquare(1, size=n) + 1e-3
    hat = rng.uniform(0.02, 0.5, size=n)
    return dev, hat, x


def test_intercept_only_log_closed_form() -> None:
    dev, hat, _ = _data(1)
    fit = fit_dispersion(dev, hat, None, LINKS["log"])
    total = np.sum(1.0 - hat)
    phi = np.sum(dev) / total
    np.testing.assert_allclose(fit.coef, [np.log(phi)], rtol=1e-14)
    np.testing.assert_allclose(fit.std_error, [np.sqrt(2.0 / total)], rtol=1e-14)
    np.testing.assert_allclose(fit.fitted, np.full(dev.shape, phi), rtol=1e-14)


def test_closed_form_is_the_weighted_gamma_mle() -> None:
    # the weighted gamma log-likelihood of responses r = d/(1-h), weights w = (1-h)/2,
    # is maximised at the weighted mean of r, which must be the closed form
    dev, hat, _ = _data(2)
    r, w = dev / (1.0 - hat), (1.0 - hat) / 2.0
    fit = fit_dispersion(dev, hat, None, LINKS["log"])

    def loglik(log_mu: float) -> float:
        mu = np.exp(log_mu)
        return float(np.sum(w * (-r / mu - np.log(mu))))

    b, h = float(fit.coef[0]), 1e-4
    score = float(np.sum(w * (r / np.exp(b) - 1.0)))  # d loglik / d log(mu)
    assert score == pytest.approx(0.0, abs=1e-10)
    assert loglik(b) > max(loglik(b + 0.01), loglik(b - 0.01))
    # and its Fisher information is sum(w), so SE = 1 / sqrt(sum w)
    curvature = -(loglik(b + h) - 2 * loglik(b) + loglik(b - h)) / h**2
    assert 1.0 / np.sqrt(curvature) == pytest.approx(float(fit.std_error[0]), rel=1e-4)


def test_closed_form_agrees_with_general_irls_path() -> None:
    dev, hat, _ = _data(3)
    closed = fit_dispersion(dev, hat, None, LINKS["log"])
    general = fit_dispersion(dev, hat, np.ones((dev.shape[0], 1)), LINKS["log"])
    np.testing.assert_allclose(general.coef, closed.coef, rtol=IRLS_RTOL)
    np.testing.assert_allclose(general.std_error, closed.std_error, rtol=IRLS_RTOL)
    np.testing.assert_allclose(general.fitted, closed.fitted, rtol=IRLS_RTOL)


@pytest.mark.parametrize("link", ["identity", "inverse"])
def test_intercept_only_other_links_fit_the_same_dispersion(link: str) -> None:
    # an intercept-only gamma GLM fits the weighted mean whatever the link
    dev, hat, _ = _data(4)
    phi = np.sum(dev) / np.sum(1.0 - hat)
    fit = fit_dispersion(dev, hat, None, LINKS[link])
    np.testing.assert_allclose(fit.fitted, phi, rtol=IRLS_RTOL)
    np.testing.assert_allclose(LINKS[link].inverse(fit.coef), [phi], rtol=IRLS_RTOL)
    # delta method from SE(log phi) = sqrt(2 / sum(1-h)): SE(g(phi)) = |g'(phi)| phi SE
    se_log = np.sqrt(2.0 / np.sum(1.0 - hat))
    gprime = float(LINKS[link].deta_dmu(np.array(phi)))
    np.testing.assert_allclose(fit.std_error, [abs(gprime) * phi * se_log], rtol=IRLS_RTOL)


def test_closed_form_matches_statsmodels() -> None:
    sm = require("statsmodels.api")
    dev, hat, _ = _data(5)
    ref = sm.GLM(
        dev / (1 - hat),
        np.ones((dev.shape[0], 1)),
        family=sm.families.Gamma(link=sm.families.links.Log()),
        var_weights=(1 - hat) / 2,
    ).fit(scale=1.0, tol=1e-14)
    fit = fit_dispersion(dev, hat, None, LINKS["log"])
    np.testing.assert_allclose(fit.coef, ref.params, rtol=1e-10)
    np.testing.assert_allclose(fit.std_error, ref.bse, rtol=1e-10)


@pytest.mark.parametrize("link", ["log", "inverse", "identity"])
def test_covariates_match_statsmodels(link: str) -> None:
    sm = require("statsmodels.api")
    dev, hat, x = _data(6, n=120)
    X = np.column_stack([np.ones_like(x), x])
    sm_link = {
        "log": sm.families.links.Log(),
        "inverse": sm.families.links.InversePower(),
        "identity": sm.families.links.Identity(),
    }[link]
    if link != "log":
        # keep the fitted dispersions positive for the linear-in-1/phi or -phi links
        X = np.column_stack([np.ones_like(x), np.abs(x)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sm.GLM(
            dev / (1 - hat), X, family=sm.families.Gamma(link=sm_link), var_weights=(1 - hat) / 2
        ).fit(scale=1.0, tol=1e-15, maxiter=1000)
    fit = fit_dispersion(dev, hat, X, LINKS[link])
    np.testing.assert_allclose(fit.coef, ref.params, rtol=IRLS_RTOL, atol=1e-8)
    np.testing.assert_allclose(fit.std_error, ref.bse, rtol=IRLS_RTOL)
    np.testing.assert_allclose(fit.fitted, ref.fittedvalues, rtol=IRLS_RTOL)


def test_log_link_covariate_standard_errors_closed_form() -> None:
    # log link: the IRLS working weights are the prior weights (1-h)/2 at every mu, so
    # the SEs are sqrt(diag((X' diag((1-h)/2) X)^{-1})) exactly
    dev, hat, x = _data(7, n=80)
    X = np.column_stack([np.ones_like(x), x, x**2])
    fit = fit_dispersion(dev, hat, X, LINKS["log"])
    w = (1 - hat) / 2
    se = np.sqrt(np.diag(np.linalg.inv(X.T @ (w[:, None] * X))))
    np.testing.assert_allclose(fit.std_error, se, rtol=1e-10)
    np.testing.assert_allclose(fit.fitted, np.exp(X @ fit.coef), rtol=1e-12)
    # the gamma log-link score equations X' w (r - mu) / mu = 0 (to the IRLS tolerance)
    r = dev / (1 - hat)
    score = X.T @ (w * (r - fit.fitted) / fit.fitted)
    np.testing.assert_allclose(score / np.sum(w), 0.0, atol=1e-4)


def test_design_of_ones_equals_none_for_fitted_values() -> None:
    dev, hat, _ = _data(8, n=30)
    a = fit_dispersion(dev, hat, None, LINKS["log"])
    b = fit_dispersion(dev, hat, np.ones((30, 1)), LINKS["log"])
    assert a.fitted.shape == b.fitted.shape == (30,)
    assert a.coef.shape == b.coef.shape == (1,)
    assert a.std_error.shape == b.std_error.shape == (1,)


# --- the dispersion GLMs of a round (DESIGN.md, steps 4-5) ------------------------------


def _round_inputs(seed: int) -> tuple[np.ndarray, np.ndarray, list[slice], list]:
    """(n + q)-vectors of deviances and leverages for n = 40 observations and two
    random terms of 12 and 8 effects, the second with a covariate in its dispersion."""
    dev, hat, x = _data(seed, n=60)
    groups = [slice(40, 52), slice(52, 60)]
    terms = [RandomTermModel(random_family("gaussian"), None, LINKS["log"]),
             RandomTermModel(random_family("gaussian"), np.column_stack([np.ones(8), x[52:]]),
                             LINKS["log"])]
    return dev, hat, groups, terms


def test_random_dispersions_are_each_terms_gamma_glm() -> None:
    dev, hat, groups, terms = _round_inputs(9)
    fits = fit_random_dispersions(dev, hat, groups, terms)
    for fit, g, t in zip(fits, groups, terms, strict=True):
        alone = fit_dispersion(dev[g], hat[g], t.x_disp, t.link_disp)
        np.testing.assert_array_equal(fit.fitted, alone.fitted)
        np.testing.assert_array_equal(fit.coef, alone.coef)


def _residual_model(fix_disp: float | None) -> SimpleNamespace:
    """What fit_residual_dispersion reads of a Problem: intercept only, log link."""
    return SimpleNamespace(fix_disp=fix_disp, x_disp=None, link_disp=LINKS["log"])


def test_residual_dispersion_is_its_gamma_glm_or_none_under_fix_disp() -> None:
    dev, hat, _ = _data(10, n=30)
    fit = fit_residual_dispersion(dev, hat, _residual_model(None))
    np.testing.assert_array_equal(fit.fitted, fit_dispersion(dev, hat, None, LINKS["log"]).fitted)
    assert fit_residual_dispersion(dev, hat, _residual_model(1.0)) is None


@pytest.mark.parametrize("error", [ValueError, np.linalg.LinAlgError])
def test_a_failing_dispersion_glm_is_a_divergence_of_its_round(monkeypatch, error) -> None:
    def failing(*args):
        raise error("singular")

    monkeypatch.setattr(hglm.fit.dispersion, "fit_dispersion", failing)
    dev, hat, groups, terms = _round_inputs(11)
    with pytest.raises(Divergence, match="a dispersion GLM failed"):
        fit_random_dispersions(dev, hat, groups, terms)
    with pytest.raises(Divergence, match="a dispersion GLM failed"):
        fit_residual_dispersion(dev[:40], hat[:40], _residual_model(None))
