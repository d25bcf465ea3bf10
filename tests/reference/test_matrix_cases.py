"""R agreement of the matrix interface, ``hglm.hglm(y=, X=, Z=, ...)``, case by case.

For every case two tests (see compare.py):

* ``test_tight``: refit with the tight block's conv/maxit (1e-20, 2000) and compare with R's
  fixed point at rtol 1e-6; check our hat values and deviances against our dispersion
  estimates.
* ``test_default``: fit with the case's own settings; we must be at least as close to the
  fixed point as R's default fit (or within 2e-3), and hv/dev/fv/resid must match R's.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pytest
from shared import load_ref

import hglm

from .cases import MATRIX_CASES, build_case
from .compare import assert_default_close, assert_matches_tight

# The tight fit of the dense 1000 x 2025 QTLMAS design took 15-70 s here (engine revisions,
# load of a 2-core machine), so both its tests are ``slow``: test_default needs that fit
# too, as the fixed point for R's far-from-tight hat values (compare.check_default_vectors).
_SLOW = {"qtlmas_polygenic"}
_PARAMS = [pytest.param(c, marks=pytest.mark.slow) if c in _SLOW else c for c in MATRIX_CASES]


@cache
def tight_fit(case: str) -> Any:
    """Our fit of ``case`` with the tight block's conv/maxit, shared by both tests.

    test_default needs it only where R's default hv/dev are far from the fixed point (see
    compare.check_default_vectors).
    """
    tight = load_ref(case)["tight"]
    return hglm.hglm(**{**build_case(case), "conv": tight["conv"], "maxit": tight["maxit"]})


# R's stored standard errors of pump_poisson_gamma_log_fixdisp (Gamma random effects) are
# not sqrt(diag((T'WT)^-1)) at R's own tight estimates: 4 of the 10 SeRe differ by up to
# 3.7e-4 relative (and SeFe by 1.2e-5) from that inverse, while every estimate agrees to
# 1e-7.  Our standard errors are that inverse, which test_pump_standard_errors checks
# independently; against R's stored values they are compared at 1e-3.
_R_SE_DEVIATION = {"pump_poisson_gamma_log_fixdisp": {"se_fixef": 1e-3, "se_ranef": 1e-3}}


@pytest.mark.parametrize("case", _PARAMS)
def test_tight(case: str) -> None:
    assert_matches_tight(
        tight_fit(case), load_ref(case), build_case(case), _R_SE_DEVIATION.get(case)
    )


def test_pump_standard_errors() -> None:
    """SEs are sqrt(diag((T'WT)^-1)) built densely at the fitted values (Poisson log,
    fix_disp = 1: W1 = mu; Gamma(log) random effects: W2 = u / lambda)."""
    case = "pump_poisson_gamma_log_fixdisp"
    fit, kw = tight_fit(case), build_case(case)
    X, Z = kw["X"], kw["Z"]
    T = np.hstack([X, Z])
    C = T.T @ (fit.fitted[:, None] * T)
    p = X.shape[1]
    C[p:, p:] += np.diag(fit.ranef.to_numpy() / fit.var_ranef[0])
    se = np.sqrt(np.diag(np.linalg.inv(C)))
    np.testing.assert_allclose(fit.se_fixef.to_numpy(), se[:p], rtol=1e-10)
    np.testing.assert_allclose(fit.se_ranef.to_numpy(), se[p:], rtol=1e-10)


@pytest.mark.parametrize("case", _PARAMS)
def test_default(case: str) -> None:
    ref = load_ref(case)
    kwargs = build_case(case)
    # the case's own conv/maxit (R's defaults unless r_code sets them: seeds_binomial_beta
    # uses conv = 0.005; the library's defaults must be R's) and fix_disp
    assert kwargs.get("conv", 1e-6) == ref["options"]["conv"]
    assert kwargs.get("maxit", 50) == ref["options"]["maxit"]
    assert kwargs.get("fix_disp") == ref["options"]["fix_disp"]
    fit = hglm.hglm(**kwargs)
    assert_default_close(fit, ref, kwargs, fixed_point=lambda: tight_fit(case))


@pytest.mark.parametrize(
    "case", ["bacteria_binomial", "simul_heterosc", "sim_two_random_m21", "semiconductor_matrix"]
)
def test_unaccelerated_fit_stops_where_r_stops(case: str) -> None:
    """accelerate=False iterates and stops as R's hglm: the same number of iterations and
    R's default (not converged) estimates.  R's inner IWLS stops at a relative squared
    change of 1e-7 and ours solves each round fully, so a non-Gaussian response's
    intermediate iterates differ at ~3e-4 (semiconductor's Gamma)."""
    ref = load_ref(case)
    fit = hglm.hglm(**build_case(case), accelerate=False)
    assert fit.n_iter == ref["iter"]
    np.testing.assert_allclose(fit.fixef.to_numpy(), list(ref["fixef"].values()), rtol=1e-3)
    np.testing.assert_allclose(fit.var_ranef, ref["varRanef"], rtol=1e-3)
