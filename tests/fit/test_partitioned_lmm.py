"""fit.partitioned_lmm: the profiled deviance of an LMM over partitions of the rows is
the in-memory one (fit.lmm), value and gradient, so the fit takes the in-memory fit's
steps; the partitions run in this process (tests/on_dask: on Dask)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hglm.fit import fit_lmm, fit_partitioned_lmm
from hglm.fit.partitioned_lmm import PartitionedProfiledDeviance
from hglm.fit.profiled_deviance import ProfiledDeviance
from hglm.fit.theta import ThetaLayout

from .test_partitioned import _by_label, _partitioned, _problem


def _setup(n_parts: int):
    pb, a, b = _problem("gaussian")
    pb.y[:] += 50.0  # a large mean: the residual sum of squares keeps its digits
    model, parts = _partitioned(pb, a, b, n_parts)
    return pb, model, parts, [str(i) for i in range(pb.blocks[1].n_levels)]


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("persist", [True, False])
def test_deviance_and_gradient_are_the_in_memory_ones(reml: bool, persist: bool) -> None:
    pb, model, parts, labels = _setup(3)
    whole = ProfiledDeviance(pb, reml)
    split = PartitionedProfiledDeviance(model, ThetaLayout(pb), parts, reml, persist)
    for theta in ([0.7, 1.3], [0.05, 2.0], [1.0, 1e-9]):
        theta = np.array(theta)
        assert split.objective(theta) == pytest.approx(whole.objective(theta), rel=1e-12)
        np.testing.assert_allclose(split.gradient(theta), whole.gradient(theta),
                                   rtol=1e-8, atol=1e-8)
        st, ref = split.state(theta), whole.state(theta)
        np.testing.assert_allclose(st.penalty_sums, ref.penalty_sums, rtol=1e-9)
        np.testing.assert_allclose(st.delta[: pb.X.shape[1]], ref.delta[: pb.X.shape[1]],
                                   rtol=1e-11)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("n_parts", [1, 4])
def test_fit_is_the_in_memory_fit(reml: bool, n_parts: int) -> None:
    pb, model, parts, labels = _setup(n_parts)
    whole = fit_lmm(pb, reml=reml)
    fit = fit_partitioned_lmm(pb, model, parts, reml=reml)
    assert fit.n_eval == whole.n_eval
    assert fit.objective == pytest.approx(whole.objective, rel=1e-12)
    np.testing.assert_allclose(fit.theta, whole.theta, rtol=1e-9)
    assert fit.sigma2 == pytest.approx(whole.sigma2, rel=1e-10)
    np.testing.assert_allclose(fit.beta, whole.beta, rtol=1e-10)
    np.testing.assert_allclose(fit.vcov_beta, whole.vcov_beta, rtol=1e-9)
    np.testing.assert_allclose(fit.v[:9], whole.v[:9], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fit.cond_var[:9], whole.cond_var[:9], rtol=1e-9)
    # A's effects stay on the partitions, reported lazily (here: in this process)
    assert np.all(np.isnan(fit.v[9:])) and np.all(np.isnan(fit.cond_var[9:]))
    reports = fit.deviance.level_reports(fit.theta)
    np.testing.assert_allclose(_by_label(reports, labels, "v"), whole.v[9:], rtol=1e-8,
                               atol=1e-10)
    np.testing.assert_allclose(fit.sigma2 * _by_label(reports, labels, "diag"),
                               whole.cond_var[9:], rtol=1e-9)
    rows = pd.concat(fit.deviance.row_parts(fit.theta)).sort_index()
    eta = pb.X @ whole.beta + pb.blocks[0].matvec(whole.v[:9]) + pb.blocks[1].matvec(
        whole.v[9:]) + pb.offset
    np.testing.assert_allclose(rows["fitted"], eta, rtol=1e-12)
    np.testing.assert_allclose(rows["pearson"], np.sqrt(pb.weights) * (pb.y - eta),
                               rtol=1e-8, atol=1e-10)
