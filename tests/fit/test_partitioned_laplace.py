"""fit.partitioned_laplace: the Laplace deviance of a GLMM over partitions of the rows is
the in-memory one (fit.laplace), value, gradient and the fixed effects' covariance, so
that glmm's stages take the in-memory fit's steps; the partitions run in this process
(tests/on_dask: on Dask)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from hglm.fit import fit_glmm, fit_partitioned_glmm, laplace_row_report
from hglm.fit.laplace import LaplaceDeviance
from hglm.fit.partitioned_laplace import PartitionedLaplaceDeviance, column_scale

from .test_partitioned import _by_label, _partitioned, _problem


def _setup(family: str, n_parts: int, unit_weights: bool = False):
    pb, a, b = _problem(family)
    if unit_weights:
        pb = replace(pb, weights=np.ones_like(pb.weights))
    model, parts = _partitioned(pb, a, b, n_parts)
    return pb, model, parts, [str(i) for i in range(pb.blocks[1].n_levels)]


def _split(pb, model, parts, labels, kind: str) -> PartitionedLaplaceDeviance:
    one_row = replace(pb, X=column_scale(parts)[None, :])
    return PartitionedLaplaceDeviance(one_row, model, parts, kind)


@pytest.mark.parametrize("family", ["binomial", "poisson"])
@pytest.mark.parametrize("n_parts", [1, 3])
def test_ml_deviance_and_gradient_are_the_in_memory_ones(family: str, n_parts: int) -> None:
    pb, model, parts, labels = _setup(family, n_parts)
    whole = LaplaceDeviance(pb, "ML")
    split = _split(pb, model, parts, labels, "ML")
    for x in ([-0.4, -0.7, 0.1, 0.5], [0.3, -3.0, -0.2, 0.3], [-12.0, 0.2, 0.4, 0.1]):
        x = np.array(x)
        assert split.objective(x) == pytest.approx(whole.objective(x), rel=1e-12)
        np.testing.assert_allclose(split.gradient(x), whole.gradient(x), rtol=1e-8,
                                   atol=1e-8)
        np.testing.assert_allclose(split.fixed_covariance(x), whole.fixed_covariance(x),
                                   rtol=1e-9)
        # beta and term 1's effects on the client; A's (term 2) stay on the partitions
        mode, ref = split.state(x).mode, whole.state(x).mode
        np.testing.assert_allclose(mode.delta[:11], ref.delta[:11], rtol=1e-9, atol=1e-11)
        assert np.all(np.isnan(mode.delta[11:]))
        np.testing.assert_allclose(split.random_factor(x).diag_inverse()[:9],
                                   whole.random_factor(x).diag_inverse()[:9], rtol=1e-10)


def test_nagq0_deviance_is_the_in_memory_one() -> None:
    pb, model, parts, labels = _setup("poisson", 3)
    whole = LaplaceDeviance(pb, "nAGQ0")
    split = _split(pb, model, parts, labels, "nAGQ0")
    assert not split.analytic_gradient
    for x in ([-0.4, -0.7], [0.5, -2.0]):
        x = np.array(x)
        assert split.objective(x) == pytest.approx(whole.objective(x), rel=1e-12)
        np.testing.assert_allclose(split.fixed_covariance(x), whole.fixed_covariance(x),
                                   rtol=1e-9)
        np.testing.assert_allclose(split.state(x).mode.delta[:11],
                                   whole.state(x).mode.delta[:11], rtol=1e-9, atol=1e-11)


def test_a_failed_mode_is_an_infinite_objective() -> None:
    pb, model, parts, labels = _setup("poisson", 2)
    split = _split(pb, model, parts, labels, "ML")
    x = np.array([0.0, 0.0, 800.0, 0.0])  # exp(eta) overflows
    assert split.objective(x) == np.inf
    np.testing.assert_array_equal(split.gradient(x), np.zeros(4))
    assert np.isfinite(split.objective(np.array([-0.4, -0.7, 0.1, 0.5])))


@pytest.mark.parametrize("family", ["binomial", "poisson"])
@pytest.mark.parametrize("n_parts", [1, 4])
def test_fit_is_the_in_memory_fit(family: str, n_parts: int) -> None:
    pb, model, parts, labels = _setup(family, n_parts, unit_weights=family == "binomial")
    whole = fit_glmm(pb)
    fit, dev = fit_partitioned_glmm(pb, model, parts)
    assert fit.n_eval == whole.n_eval
    assert fit.objective == pytest.approx(whole.objective, rel=1e-12)
    np.testing.assert_allclose(fit.theta, whole.theta, rtol=1e-9)
    np.testing.assert_allclose(fit.beta, whole.beta, rtol=1e-9)
    np.testing.assert_allclose(fit.vcov_beta, whole.vcov_beta, rtol=1e-8)
    np.testing.assert_allclose(fit.v[:9], whole.v[:9], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fit.cond_var[:9], whole.cond_var[:9], rtol=1e-9)
    # A's effects stay on the partitions, reported lazily (here: in this process)
    assert np.all(np.isnan(fit.v[9:])) and np.all(np.isnan(fit.cond_var[9:]))
    reports = dev.level_reports(fit.theta, fit.beta)
    np.testing.assert_allclose(_by_label(reports, labels, "v"), whole.v[9:], rtol=1e-8,
                               atol=1e-10)
    np.testing.assert_allclose(_by_label(reports, labels, "diag"), whole.cond_var[9:],
                               rtol=1e-9)
    rows = pd.concat(parts.frames(laplace_row_report, dev.row_states(fit.theta, fit.beta)))
    eta = (pb.X @ whole.beta + pb.blocks[0].matvec(whole.v[:9])
           + pb.blocks[1].matvec(whole.v[9:]) + pb.offset)
    np.testing.assert_allclose(rows.sort_index()["linear_predictor"], eta, rtol=1e-9,
                               atol=1e-10)
