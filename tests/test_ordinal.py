"""hglm.npmlt and hglm.clmm: the arguments, the bad inputs the issue names, k = 'auto'."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hglm
from tests.fit.ordinal_problems import ordinal_frame

FORMULA = "y ~ x + t"


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return ordinal_frame()


def test_npmlt_and_clmm_fit(data) -> None:
    fit = hglm.npmlt(FORMULA, data, random="~ 1", id="g", k=2)
    assert fit.k == 2 and fit.mass_points.shape == (2, 1)
    assert list(fit.coefficients.index) == ["(Intercept) 1", "(Intercept) 2", "(Intercept) 3",
                                            "x", "t"]
    c = hglm.clmm("y ~ x + t + (1 | g)", data)
    assert list(c.coefficients.index) == ["1|2", "2|3", "3|4", "x", "t"]
    # the two sign conventions: clmm's beta is minus npmlt's
    assert np.sign(c.coefficients["x"]) == -np.sign(fit.coefficients["x"])


def test_ordered_categorical_response(data) -> None:
    labels = ["none", "mild", "marked", "severe"]
    cat = pd.Categorical.from_codes(data.y - 1, categories=labels, ordered=True)
    fit = hglm.clmm("s ~ x + (1 | g)", data.assign(s=cat), nAGQ=3)
    assert list(fit.coefficients.index[:3]) == ["none|mild", "mild|marked", "marked|severe"]


def test_k_auto_table(data) -> None:
    fit = hglm.npmlt(FORMULA, data, random="~ 1", id="g", k="auto")
    table = fit.k_table
    assert list(table.columns) == ["logLik", "AIC", "BIC"]
    assert fit.k == table["BIC"].idxmin()
    assert np.all(np.diff(table["logLik"].to_numpy()) > -1e-8)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"k": 0}, "k must be a whole number"),
    ({"k": 2.5}, "k must be a whole number"),
    ({"k": "many"}, "k must be a whole number of mass points or 'auto'"),
    ({"k": 41}, "exceeds the number of clusters"),
    ({"link": "probit"}, "link must be one of clogit, blogit"),
    ({"se": "robust"}, "se must be one of opg, observed"),
    ({"id": None}, "id: name the column"),
    ({"eb": True, "EB": False}, "eb, EB: give one of them"),
    ({"eb": "yes"}, "eb must be True or False"),
])
def test_npmlt_bad_arguments(data, kwargs, message) -> None:
    args = {"random": "~ 1", "id": "g", "k": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        hglm.npmlt(FORMULA, data, **args)


def test_bad_responses_and_ids(data) -> None:
    with pytest.raises(ValueError, match="fewer than 2 categories"):
        hglm.npmlt(FORMULA, data.assign(y=2), random="~ 1", id="g", k=2)
    with pytest.raises(ValueError, match="never observed"):
        hglm.npmlt(FORMULA, data.assign(y=np.where(data.y == 2, 1, data.y)), id="g")
    bad_id = data.assign(g=data.g.astype(float).where(data.index != 3))
    with pytest.raises(ValueError, match="missing values"):
        hglm.npmlt(FORMULA, bad_id, random="~ 1", id="g", k=2)


def test_clmm_bad_arguments(data) -> None:
    with pytest.raises(ValueError, match="link must be one of logit, probit, cloglog"):
        hglm.clmm("y ~ x + (1 | g)", data, link="clogit")
    with pytest.raises(ValueError, match="nAGQ: clmm fits by the Laplace"):
        hglm.clmm("y ~ x + (1 | g)", data, nAGQ=0)


def test_blogit_and_k1_fit_where_mixcat_fails(data) -> None:
    """mixcat aborts on k = 1 and often fails from its default starts with blogit."""
    k1 = hglm.npmlt(FORMULA, data, random="~ 1 + t", id="g", k=1)
    np.testing.assert_allclose(k1.mass_points, 0.0, atol=1e-12)
    nominal = hglm.npmlt(FORMULA, data, random="~ 1 + t", id="g", k=2, link="blogit")
    assert nominal.converged and nominal.loglik > k1.loglik - 50


@pytest.mark.parametrize("link", ["probit", "cloglog"])
def test_clmm_other_links(data, link) -> None:
    fit = hglm.clmm("y ~ x + t + (1 | g)", data, link=link, nAGQ=5)
    assert fit.converged and fit.var_ranef.iloc[0] > 0.1  # the intercepts differ by 2.5
    assert f" {link} " in fit.summary()
    # the probabilities are the link's: P(y <= 1) of the first row, given its mode
    dist = hglm.spec.latent_distribution(link)
    eta = fit.coefficients.iloc[0] - data[["x", "t"]].iloc[0] @ fit.coefficients.iloc[3:].to_numpy()
    expected = dist.cdf(eta - fit.ranef.iloc[0, 0])
    assert fit.fitted[0, 0] == pytest.approx(expected, rel=1e-10)


def test_clmm_random_slope() -> None:
    data = ordinal_frame(n_clusters=100, per=8, slope_sd=0.8)
    fit = hglm.clmm("y ~ x + t + (1 + x | g)", data)
    assert list(fit.ranef.columns) == ["(Intercept)", "x"] and not fit.singular
    assert fit.ranef_cov.shape == (2, 2) and fit.converged
    assert "Corr" in fit.summary()
    np.testing.assert_allclose(fit.predict().sum(axis=1), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="nAGQ > 1 is only available"):
        hglm.clmm("y ~ x + t + (1 + x | g)", data, nAGQ=5)


def test_eb_flag_attaches_the_empirical_bayes_estimates(data) -> None:
    """``eb`` (mixcat's ``EB``) decides whether eb, posterior and ranef are attached."""
    plain = hglm.npmlt(FORMULA, data, random="~ 1", id="g", k=2)
    for name in ["eb", "posterior", "ranef"]:
        with pytest.raises(AttributeError, match=rf"{name}: .*npmlt\(\.\.\., eb=True\)"):
            getattr(plain, name)
    assert "EB" not in plain.call
    asked = hglm.npmlt(FORMULA, data, random="~ 1", id="g", k=2, eb=True)
    mixcat = hglm.npmlt(FORMULA, data, random="~ 1", id="g", k=2, EB=True)
    assert asked.eb.shape == (40, 1) and list(asked.eb.columns) == ["(Intercept)"]
    assert asked.call.endswith("EB = TRUE)")
    pd.testing.assert_frame_equal(asked.eb, mixcat.eb)
    pd.testing.assert_series_equal(asked.ranef, asked.eb.stack())
    np.testing.assert_allclose(plain.fitted, asked.fitted, rtol=0, atol=0)
    auto = hglm.npmlt(FORMULA, data, random="~ 1", id="g", k="auto", eb=True)
    assert auto.posterior.shape == (40, auto.k)


def test_npmlt_result_has_the_issue_attributes(data) -> None:
    """The result attributes issue 16 lists, with its names and shapes."""
    fit = hglm.npmlt(FORMULA, data, random="~ 1 + t", id="g", k=2, eb=True)
    names = ["(Intercept) 1", "(Intercept) 2", "(Intercept) 3", "x", "t"]
    assert list(fit.coefficients.index) == names == list(fit.se_coefficients.index)
    assert fit.mass_points.shape == (2, 2)
    assert list(fit.mass_points.columns) == ["(Intercept)", "t"]
    assert fit.masses.sum() == pytest.approx(1.0)
    assert fit.ranef_cov.shape == (2, 2) and list(fit.ranef_cov.index) == ["(Intercept)", "t"]
    assert fit.aic == pytest.approx(-2 * fit.loglik + 2 * fit.n_params)
    assert fit.bic > fit.aic and fit.n_iter > 0 and fit.converged
    assert fit.eb.shape == (40, 2) and list(fit.eb.index) == [str(g) for g in range(1, 41)]
    assert fit.fitted.shape == (200, 4)
    np.testing.assert_allclose(fit.predict(data.head(3)).sum(axis=1), 1.0, rtol=1e-12)
    assert "Mass Points:" in fit.summary()
    assert callable(fit.plot)
