"""Tests of ``hglm.results.diagnostics``: the numbers of the diagnostic plots, equal to R's."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from shared import load_ref, shared_dir

from hglm.results.diagnostics import dispersion_residuals, ppoints, smooth
from hglm.spec.links import get_link


def test_dispersion_residuals_sign_and_size(fit_disp):
    n = fit_disp.n_obs
    y = fit_disp.deviances[:n] / (1 - fit_disp.hat_values[:n])
    dr = dispersion_residuals(fit_disp)
    np.testing.assert_array_equal(np.sign(dr), np.sign(y - fit_disp.disp_fitted))
    # the unstandardized residuals are the square roots of the weighted gamma deviances
    w = (1 - fit_disp.hat_values[:n]) / 2
    mu = fit_disp.disp_fitted
    unit = 2 * (-np.log(y / mu) + (y - mu) / mu)
    assert np.all(np.abs(dr) >= np.sqrt(w * unit) - 1e-12)


@pytest.mark.parametrize("case", ["semiconductor_gamma", "simul_heterosc", "bacteria_binomial"])
def test_dispersion_residuals_equal_r_on_r_arrays(case):
    """Fed R's dev, hv and disp.fv, the formula gives R's disp.resid."""
    shared = shared_dir()
    ref = load_ref(case)
    n = ref["n_obs"]
    if case == "semiconductor_gamma":
        df = pd.read_csv(shared / "data" / "semiconductor.csv")
        x_disp = np.column_stack([np.ones(n), df[["x2", "x3"]].to_numpy()])
    elif case == "simul_heterosc":
        df = pd.read_csv(shared / "data" / "simul_heterosc.csv")
        x_disp = np.column_stack([np.ones(n), df["xd"].to_numpy()])
    else:
        x_disp = None
    fake = SimpleNamespace(
        disp_coef=pd.DataFrame({"estimate": [0.0]}),
        fitted=np.asarray(ref["fv"]),
        hat_values=np.asarray(ref["hv"]),
        deviances=np.asarray(ref["dev"]),
        disp_fitted=np.asarray(ref["disp_fv"]),
        _engine=SimpleNamespace(
            problem=SimpleNamespace(x_disp=x_disp, link_disp=get_link("log"))
        ),
    )
    np.testing.assert_allclose(dispersion_residuals(fake), ref["disp_resid"], atol=1e-12)


def test_dispersion_residuals_need_an_estimated_dispersion():
    fake = SimpleNamespace(disp_coef=None)
    with pytest.raises(ValueError, match="fixed"):
        dispersion_residuals(fake)


def test_smooth_reproduces_a_line_and_handles_constant_x():
    x = np.linspace(-2.0, 3.0, 40)
    gx, gy = smooth(x, 1.5 - 2.0 * x)
    assert gx.size == 50 and gx[0] == -2.0 and gx[-1] == 3.0
    np.testing.assert_allclose(gy, 1.5 - 2.0 * gx, atol=1e-10)
    gx, gy = smooth(np.full(5, 2.0), np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    np.testing.assert_array_equal(gx, [2.0])
    np.testing.assert_array_equal(gy, [3.0])


def test_smooth_follows_a_curve_and_stays_continuous_on_discrete_x():
    rng = np.random.default_rng(5)
    x = rng.uniform(0.0, 1.0, 400)
    y = np.sin(2 * np.pi * x) * 0.2 + x + rng.normal(0.0, 0.05, x.size)
    gx, gy = smooth(x, y, span=0.3)
    truth = np.sin(2 * np.pi * gx) * 0.2 + gx
    assert np.max(np.abs(gy - truth)) < 0.08
    # four distinct x values (a dispersion model with two binary covariates)
    xd = np.repeat([0.02, 0.06, 0.09, 0.25], 16)
    yd = rng.normal(0.0, 1.0, xd.size)
    gx, gy = smooth(xd, yd)
    assert np.max(np.abs(np.diff(gy))) < 0.1
    assert gy.min() >= yd.min() and gy.max() <= yd.max()


def test_ppoints_is_r_ppoints():
    np.testing.assert_allclose(ppoints(5), (np.arange(1, 6) - 3 / 8) / (5 + 1 - 3 / 4))
    np.testing.assert_allclose(ppoints(20), (np.arange(1, 21) - 0.5) / 20)

