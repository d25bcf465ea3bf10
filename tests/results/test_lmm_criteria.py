"""The LMM criteria from the profiled deviance's pieces (hglm.results.lmm_criteria):
either criterion of the estimator, stripped to log|L|^2 - sum log w, gives the other."""

from __future__ import annotations

import numpy as np
import pytest

from hglm.fit.profiled_deviance import ProfiledDeviance
from hglm.results.lmm_criteria import criterion, log_determinants

from .marginal_cases import lmm_fit


@pytest.mark.parametrize("theta", [[0.3, 0.8], [1.5, 0.0]])
def test_ml_and_reml_criteria_from_one_another(theta):
    problem = lmm_fit(formula="y ~ x + (1|g) + (1|h)").problem
    n, p = problem.X.shape
    ml, reml = ProfiledDeviance(problem, reml=False), ProfiledDeviance(problem, reml=True)
    at_ml, at_reml = ml.state(np.array(theta)), reml.state(np.array(theta))
    log_rx2 = -np.linalg.slogdet(reml.fixed_columns(at_reml.factor)[1])[1]
    # r^2 and log|L|^2 - sum log w do not depend on the criterion
    assert at_ml.r2 == pytest.approx(at_reml.r2, rel=1e-12)
    from_ml = log_determinants(at_ml.objective, at_ml.r2, n)
    from_reml = log_determinants(at_reml.objective, at_reml.r2, n - p, log_rx2)
    assert from_ml == pytest.approx(from_reml, rel=1e-10, abs=1e-10)
    assert criterion(from_ml, at_ml.r2, n - p, log_rx2) == pytest.approx(at_reml.objective,
                                                                          rel=1e-12)
    assert criterion(from_reml, at_reml.r2, n) == pytest.approx(at_ml.objective, rel=1e-12)
