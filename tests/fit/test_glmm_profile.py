"""The profiled deviance of a GLMM fit (hglm.fit.glmm_profile): each profile point is the
minimum over the other parameters (checked by a general-purpose optimiser on the same
deviance), and the refusals."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from hglm.fit.glmm import fit_glmm
from hglm.fit.glmm_profile import GLMMProfile

from .glmm_problems import glmm_problem


def _brute_force(profile: GLMMProfile, j: int, value: float) -> float:
    """The deviance with parameter j held at ``value``, the others by Powell's method
    from the optimum."""
    c = profile._coordinate(j)
    x = profile.x_hat.copy()
    x[c] = profile._on_x_scale(j, value)
    free = np.delete(np.arange(x.shape[0]), c)

    def objective(xr: np.ndarray) -> float:
        x[free] = xr
        return profile.dev.objective(x)

    res = optimize.minimize(objective, profile.x_hat[free], method="Powell",
                            options={"xtol": 1e-9, "ftol": 1e-13, "maxfev": 20000})
    return float(res.fun)


@pytest.fixture(scope="module", params=[("binomial", 1), ("Gamma", 1), ("poisson", 5)],
                ids=["binomial-laplace", "gamma-laplace", "poisson-agq5"])
def profile(request) -> GLMMProfile:
    family, nagq = request.param
    return GLMMProfile(fit_glmm(glmm_problem(family, seed=3, n=120, sd=1.0), nAGQ=nagq))


def test_parameters_are_the_sds_sigma_and_the_fixed_effects(profile: GLMMProfile) -> None:
    assert profile.k == 1 and profile.p == 2
    assert profile.has_sigma == (profile.dev.pb.family.name == "Gamma")
    assert profile.n_parameters == 3 + int(profile.has_sigma)
    assert profile.estimates[0] > 0.0


def test_profile_points_are_minima_over_the_other_parameters(profile: GLMMProfile) -> None:
    for j in range(profile.n_parameters):
        est = profile.estimates[j]
        for value in (est + 0.3 * profile.initial_step(j), est - 0.6 * profile.initial_step(j)):
            held = profile.deviance_at(j, value)
            assert held > profile.minimum
            assert held == pytest.approx(_brute_force(profile, j, value), abs=1e-6)


def test_the_optimum_is_not_improved_by_the_profile(profile: GLMMProfile) -> None:
    for j in range(profile.n_parameters):
        assert profile.deviance_at(j, profile.estimates[j]) == pytest.approx(
            profile.minimum, abs=1e-7)


@pytest.mark.parametrize("kwargs, reason", [
    ({"nAGQ": 0}, "nAGQ0"),
    ({"reml": True}, "REML"),
])
def test_refused_fits_name_what_to_use(kwargs: dict, reason: str) -> None:
    fit = fit_glmm(glmm_problem("binomial", seed=3, n=120, sd=1.0), **kwargs)
    with pytest.raises(ValueError, match=f"{reason}.*method='wald'"):
        GLMMProfile(fit)


def test_dispersion_model_is_refused() -> None:
    fit = fit_glmm(glmm_problem("Gamma", seed=4, n=120, disp_model=True))
    with pytest.raises(ValueError, match="residual-dispersion model.*method='wald'"):
        GLMMProfile(fit)
