"""hglm.clmm against ordinal's clmm (``$HGLM_SHARED/ref/glmm``) on the schizophrenia
data: Laplace and adaptive Gauss-Hermite quadrature with 10 nodes.

Quadrature: log-likelihood within 1e-6, coefficients and the random-effect variance
within 1e-4 relative, standard errors within 1e-3, conditional modes within 1e-4.

Laplace (a finding, docs/ordinal.md): the library's maximum is 5.2e-6 higher than R's
default fit.  R's own Laplace objective is evaluated with inexact conditional modes (the
library's objective at R's estimates is 2.6e-6 above R's reported logLik, where the
quadrature objective agrees to 1e-10), so R stops on a flat ridge: its trt coefficient
differs by 4e-4 (1e-3 of its SE) and its standard errors (0.014 for the thresholds,
against 0.33 by quadrature) come from a Hessian of that noisy objective.  Tested: the
library's log-likelihood is at least R's, its objective at R's estimates is R's logLik
within 1e-5, its estimates within 2e-3 standard errors of R's, its standard errors within
2% of the quadrature ones (the two approximations differ by about 1%).
"""

from __future__ import annotations

import numpy as np
import pytest
from shared import load_data, load_ref

import hglm
from hglm.fit.clmm import ClusterIntegral

FORMULA = "y ~ trt * sqrt(wk) + (1 | id)"


@pytest.fixture(scope="module")
def fits() -> dict:
    data = load_data("schizo.csv")
    return {n: hglm.clmm(FORMULA, data, nAGQ=n) for n in (1, 10)}


@pytest.fixture(scope="module")
def refs() -> dict:
    return {1: load_ref("glmm/schizo_clmm_laplace")["default"],
            10: load_ref("glmm/schizo_clmm_agq10")["default"]}


def test_names_as_clmm(fits, refs) -> None:
    for n in (1, 10):
        assert list(fits[n].coefficients.index) == list(refs[n]["coefficients"])


def test_quadrature_matches_r(fits, refs) -> None:
    fit, ref = fits[10], refs[10]
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-6)
    assert fit.aic == pytest.approx(ref["AIC"], abs=2e-6)
    np.testing.assert_allclose(fit.coefficients, list(ref["coefficients"].values()), rtol=1e-4)
    np.testing.assert_allclose(fit.se_coefficients, ref["se_coefficients"], rtol=1e-3)
    assert fit.var_ranef.iloc[0] == pytest.approx(ref["var_ranef"]["id"][0], rel=1e-4)
    head = np.asarray(ref["ranef_head"])
    np.testing.assert_allclose(fit.ranef.iloc[: head.size, 0], head, rtol=1e-4, atol=1e-6)


def _r_point(ref: dict) -> np.ndarray:
    coef = np.array(list(ref["coefficients"].values()))
    coef[3:] *= -1  # clmm's sign -> npmlt's, the estimator's
    return np.append(coef, 0.5 * np.log(ref["var_ranef"]["id"][0]))


def test_laplace_reaches_r(fits, refs) -> None:
    fit, ref = fits[1], refs[1]
    assert fit.loglik >= ref["logLik"] - 1e-6
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-5)
    r_value = -0.5 * ClusterIntegral(fit.design, 1).deviance(_r_point(ref))
    assert r_value == pytest.approx(ref["logLik"], abs=1e-5)
    diff = np.abs(fit.coefficients.to_numpy() - list(ref["coefficients"].values()))
    assert np.all(diff < 2e-3 * fit.se_coefficients.to_numpy())
    assert fit.var_ranef.iloc[0] == pytest.approx(ref["var_ranef"]["id"][0], rel=1e-3)
    np.testing.assert_allclose(fit.se_coefficients, fits[10].se_coefficients, rtol=0.02)

