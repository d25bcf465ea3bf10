"""The NPML estimator (hglm.fit.npml, npml_inference): closed-form fixed models, the
maximum is a maximum, the kinds of standard errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

from hglm.fit.npml import fit_npml
from hglm.fit.npml_inference import npml_estimates
from hglm.spec.ordinal_formula import ordinal_design

from .ordinal_problems import ordinal_frame, ordinal_problem


def _intercept_only(cumulative: bool):
    data = ordinal_frame()
    return data, ordinal_design("y ~ 1", data, id="g", cumulative=cumulative)


def test_k1_without_covariates_gives_the_cumulative_proportions() -> None:
    data, design = _intercept_only(True)
    fit = fit_npml(design, 1)
    props = np.bincount(data.y - 1) / len(data)
    expected = special.logit(np.cumsum(props)[:-1])
    np.testing.assert_allclose(npml_estimates(fit).fixed, expected, rtol=1e-8)


def test_k1_baseline_logits() -> None:
    data, design = _intercept_only(False)
    fit = fit_npml(design, 1)
    props = np.bincount(data.y - 1) / len(data)
    np.testing.assert_allclose(npml_estimates(fit).fixed, np.log(props[:-1] / props[-1]),
                               rtol=1e-8)


def test_k1_with_random_covariates_is_the_fixed_model() -> None:
    plain = fit_npml(ordinal_problem(None), 1)
    with_random = fit_npml(ordinal_problem("~ 1 + t"), 1)
    assert with_random.value.loglik == pytest.approx(plain.value.loglik, abs=1e-8)
    est = npml_estimates(with_random)
    np.testing.assert_allclose(est.points, 0.0, atol=1e-12)
    np.testing.assert_allclose(est.fixed, npml_estimates(plain).fixed, rtol=1e-6)


def test_two_points_recover_the_simulated_distribution() -> None:
    design = ordinal_design("y ~ x + t", ordinal_frame(n_clusters=300, seed=5), id="g",
                            random="~ 1")
    fit = fit_npml(design, 2)
    est = npml_estimates(fit)
    assert fit.converged
    assert np.max(np.abs(fit.value.gradient)) < 1e-6
    assert np.all(np.linalg.eigvalsh(fit.value.hessian) < 0)
    spread = est.points[1, 0] - est.points[0, 0]
    assert spread == pytest.approx(2.5, abs=0.6)
    assert est.fixed[3] == pytest.approx(0.8, abs=0.2)


def test_more_points_never_lower_the_likelihood() -> None:
    design = ordinal_problem("~ 1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # k = 3 may be degenerate here
        values = [fit_npml(design, k).value.loglik for k in (1, 2, 3)]
    assert values[0] <= values[1] + 1e-8 <= values[2] + 2e-8


def test_observed_information_and_opg_differ_but_agree_roughly() -> None:
    fit = fit_npml(ordinal_problem("~ 1"), 2)
    opg, obs = npml_estimates(fit, "opg"), npml_estimates(fit, "observed")
    assert not np.allclose(opg.se_fixed, obs.se_fixed, rtol=1e-6)
    np.testing.assert_allclose(opg.se_fixed, obs.se_fixed, rtol=0.5)
    with pytest.raises(ValueError, match="se must be one of opg, observed"):
        npml_estimates(fit, "sandwich")


def test_degenerate_distribution_warns() -> None:
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"y": rng.integers(1, 4, 200), "x": rng.normal(size=200),
                         "g": np.repeat(np.arange(40), 5)})
    design = ordinal_design("y ~ x", data, id="g", random="~ 1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_npml(design, 4)
    assert any("degenerate" in str(w.message) for w in caught)
    assert fit.degenerate


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_binary_k1_is_the_binomial_glm(link) -> None:
    """q = 1: F^{-1}(P(y = 1)) = alpha + x'beta, the binomial GLM of y == 1."""
    from hglm.fit.glm import fit_glm
    from hglm.spec import Binomial, response_family

    data = ordinal_frame(seed=4).assign(y=lambda d: np.where(d.y <= 2, 1, 2))
    design = ordinal_design("y ~ x + t", data, id="g", link=link)
    est = npml_estimates(fit_npml(design, 1))
    X = np.column_stack([np.ones(len(data)), data.x, data.t])
    glm = fit_glm((data.y == 1).to_numpy(float), X, response_family(Binomial(link=link)))
    np.testing.assert_allclose(est.fixed, glm.coef, rtol=1e-7)
