"""confint (hglm.results.confint): Wald intervals, and likelihood-profile intervals checked
against a brute-force profile of the dense marginal likelihood."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from .marginal_cases import lmm_data, lmm_fit


@pytest.fixture(scope="module")
def fits():
    return lmm_fit(reml=False, seed=3), lmm_fit(reml=True, seed=3)


class DenseProfile:
    """-2 log-likelihood of y ~ x + (1|g) from V = s_b^2 ZZ' + s^2 I, profiled by brute
    force: the other parameters by a general-purpose optimiser, beta by GLS."""

    def __init__(self, data: pd.DataFrame) -> None:
        self.y = data["y"].to_numpy()
        self.X = np.column_stack([np.ones(len(data)), data["x"]])
        Z = pd.get_dummies(data["g"]).to_numpy(dtype=float)
        self.ZZ = Z @ Z.T

    def deviance(self, sb: float, s: float, fixed: dict[int, float] | None = None) -> float:
        V = sb**2 * self.ZZ + s**2 * np.eye(self.y.size)
        Vi = np.linalg.inv(V)
        y, X = self.y.copy(), self.X
        free = [j for j in range(X.shape[1]) if j not in (fixed or {})]
        for j, b in (fixed or {}).items():
            y = y - X[:, j] * b
        Xf = X[:, free]
        beta = np.linalg.solve(Xf.T @ Vi @ Xf, Xf.T @ Vi @ y)
        r = y - Xf @ beta
        return float(np.linalg.slogdet(2 * np.pi * V)[1] + r @ Vi @ r)

    def minimum(self) -> float:
        res = optimize.minimize(lambda t: self.deviance(*np.exp(t)), [0.0, 0.0],
                                method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12})
        return float(res.fun)

    def at(self, row: int, value: float) -> float:
        """Profiled deviance with parameter ``row`` (.sig01, .sigma, beta_0, beta_1) fixed."""
        if row == 0:
            f = lambda t: self.deviance(value, np.exp(t))  # noqa: E731
            return float(optimize.minimize_scalar(f, bounds=(-5, 5), method="bounded",
                                                  options={"xatol": 1e-10}).fun)
        if row == 1:
            f = lambda t: self.deviance(np.exp(t), value)  # noqa: E731
            return float(optimize.minimize_scalar(f, bounds=(-12, 5), method="bounded",
                                                  options={"xatol": 1e-10}).fun)
        res = optimize.minimize(lambda t: self.deviance(*np.exp(t), fixed={row - 2: value}),
                                [0.0, 0.0], method="Nelder-Mead",
                                options={"xatol": 1e-10, "fatol": 1e-12})
        return float(res.fun)


def test_profile_bounds_are_where_the_brute_force_profile_crosses_the_cutoff(fits):
    ml, _ = fits
    ci = ml.confint(method="profile", level=0.95)
    assert list(ci.index) == [".sig01", ".sigma", "(Intercept)", "x"]
    assert list(ci.columns) == ["2.5 %", "97.5 %"]
    dense = DenseProfile(lmm_data(3))
    minimum = dense.minimum()
    cutoff = stats.chi2.ppf(0.95, 1)
    estimates = [ml.varcorr["sdcor"].iloc[0], ml.sigma, *ml.fixef]
    for row, (lo, hi) in enumerate(ci.to_numpy()):
        assert lo < estimates[row] < hi
        for bound in (lo, hi):
            assert dense.at(row, bound) - minimum == pytest.approx(cutoff, abs=2e-4)


def test_reml_fit_is_profiled_by_ml_as_lme4(fits):
    ml, reml = fits
    pd.testing.assert_frame_equal(reml.confint(), ml.confint(), rtol=1e-5)


def test_wald_intervals(fits):
    ml, _ = fits
    ci = ml.confint(method="wald", level=0.9)
    assert list(ci.columns) == ["5 %", "95 %"]
    assert ci.loc[[".sig01", ".sigma"]].isna().all().all()
    z = stats.norm.ppf(0.95)
    np.testing.assert_allclose(ci.loc["x"], ml.fixef["x"] + np.array([-z, z]) * ml.se_fixef["x"])


def test_long_names_and_bad_arguments(fits):
    ml, _ = fits
    ci = ml.confint(method="Wald", signames=False)
    assert list(ci.index[:2]) == ["sd_(Intercept)|g", "sigma"]
    with pytest.raises(ValueError, match="level"):
        ml.confint(level=95)
    with pytest.raises(ValueError, match="method"):
        ml.confint(method="boot")


def test_profile_rows_follow_lme4s_order_of_the_terms():
    swapped = lmm_fit(reml=False, formula="y ~ x + (1|h) + (1|g)").confint()
    ordered = lmm_fit(reml=False, formula="y ~ x + (1|g) + (1|h)").confint()
    pd.testing.assert_frame_equal(swapped, ordered, rtol=1e-4)
