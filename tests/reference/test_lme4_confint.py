"""Profile confidence intervals of glmer fits against lme4's ``confint`` (method
"profile") on the course notes' cbpp model.

``$HGLM_SHARED/ref/glmm`` holds no confint blocks; the bounds below were printed by
lme4 1.1-31 (R 4.2) with

    m <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp,
               family = binomial, nAGQ = k)
    print(confint(m), digits = 7)

for k = 20 and k = 1.  lme4 measures the profile from its default fit's deviance and
interpolates it by splines.  With nAGQ = 20 its default fit is at the optimum and the
bounds agree to 2e-6.  With the Laplace approximation glmer's default fit stops 5.7e-4
(in deviance) above the optimum (the logLik of the ref's ``default`` and ``tight``
blocks), so lme4's profile starts too high and its bounds lie up to 3e-5 outside the
true ones (at the sd's and the intercept's lme4 bounds the profile from the optimum is
2e-4 to 5e-4 above the cutoff).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from shared import load_data, load_ref

import hglm
from hglm.fit.glmm_profile import GLMMProfile

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
ROWS = [".sig01", "(Intercept)", "period2", "period3", "period4"]
LME4_AGQ20 = [(0.3488017, 1.1112975), (-1.9046841, -0.9462134), (-1.6160837, -0.4066108),
              (-1.8004082, -0.5104499), (-2.5001919, -0.7995920)]
LME4_LAPLACE = [(0.3460732, 1.0999746), (-1.9012120, -0.9477540), (-1.6167833, -0.4077631),
                (-1.8010244, -0.5115361), (-2.5007506, -0.8007553)]
# lme4's bounds are spline interpolations of its profile (2e-6 off the root here); the
# parameters' own standard is 1e-4 relative
BOUND_ATOL = 1e-5


@pytest.fixture(scope="module")
def cbpp() -> pd.DataFrame:
    d = load_data("cbpp.csv")
    return d.assign(period=d.period.astype(str))


def test_quadrature_profile_matches_lme4(cbpp: pd.DataFrame) -> None:
    fit = hglm.glmer(CBPP, data=cbpp, family="binomial", nAGQ=20)
    ci = fit.confint()
    assert list(ci.index) == ROWS
    np.testing.assert_allclose(ci.to_numpy(), np.array(LME4_AGQ20), atol=BOUND_ATOL)


def test_laplace_profile_is_measured_from_the_optimum(cbpp: pd.DataFrame) -> None:
    fit = hglm.glmer(CBPP, data=cbpp, family="binomial")
    ref = load_ref("glmm/cbpp_glmer_laplace")
    # glmer's default fit is short of the optimum that ours reaches
    assert fit.loglik > ref["default"]["logLik"] + 1e-4
    assert fit.loglik == pytest.approx(ref["tight"]["logLik"], abs=1e-6)
    # lme4's base 5.7e-4 too high moves its bounds by up to ~3e-5 (most outward)
    ci = fit.confint().to_numpy()
    np.testing.assert_allclose(ci, np.array(LME4_LAPLACE), atol=5e-5)
    profile = GLMMProfile(fit._fit)
    cutoff = stats.chi2.ppf(0.95, 1)
    for j, (lo, hi) in enumerate(ci):
        for bound in (lo, hi):
            assert profile.deviance_at(j, bound) - profile.minimum == pytest.approx(
                cutoff, abs=1e-6)
