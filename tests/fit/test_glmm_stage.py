"""One stage of the GLMM fits (hglm.fit.glmm_stage): the steps' limits and the rules of
the boundary."""

from __future__ import annotations

import numpy as np
import pytest

import hglm.fit.glmm_stage as stage_module
from hglm.fit import fit_glmm
from hglm.fit.laplace import LaplaceDeviance

from .glmm_problems import glmm_problem, vector_problem


def test_steps_move_log_sds_by_max_log_step_and_eta_by_max_eta_step():
    """A step moves a log sd by at most MAX_LOG_STEP and the linear predictor through a
    fixed effect by at most MAX_ETA_STEP (a column scaled by 10: a tenth of the step)."""
    pb = glmm_problem("binomial", "logit", seed=1, levels=(6,), n=60)
    pb.X[:, 1] *= 10.0
    dev = LaplaceDeviance(pb, "ML")
    limits = stage_module.step_limits(dev)
    par = dev.params
    assert np.all(limits[par.sd_slice] == stage_module.MAX_LOG_STEP)
    scale = np.max(np.abs(pb.X), axis=0)
    np.testing.assert_allclose(limits[par.beta_slice], stage_module.MAX_ETA_STEP / scale)


def test_a_parameter_put_at_its_floor_is_released_when_the_optimum_is_inside(monkeypatch):
    """Every sd moving down tried at its floor (TO_BOUND_THETA huge): from a start far
    above the optimum a diagonal of Lambda is put at its floor, the probe there finds
    the objective falling upward and releases it, and the fit is the default one."""
    pb = vector_problem("binomial", seed=4, n=400, m=20)
    start = {"theta": [8.0, 0.0, 8.0]}
    default = fit_glmm(pb, start=start)
    monkeypatch.setattr(stage_module, "TO_BOUND_THETA", 1e3)
    probes = []
    probe = stage_module._probe
    monkeypatch.setattr(stage_module, "_probe",
                        lambda dev, x: probes.append(probe(dev, x)) or probes[-1])
    forced = fit_glmm(pb, start=start)
    assert any(p is not None for p in probes)
    assert not default.singular and not forced.singular
    assert forced.objective == pytest.approx(default.objective, abs=1e-7)
    np.testing.assert_allclose(forced.theta, default.theta, rtol=1e-4)
