"""fit.partitioned_modes: the partitioned penalized IRLS of the conditional modes is the
in-memory mode (fit.conditional_mode), from a cold start and warm-started at the last mode,
with the fixed effects held or solved."""

from __future__ import annotations

import numpy as np
import pytest

from hglm.fit.laplace import LaplaceDeviance
from hglm.fit.partitioned_modes import PartitionedModes

from .test_partitioned import _partitioned, _problem


@pytest.mark.parametrize("held", [True, False])
def test_modes_are_the_in_memory_ones_cold_and_warm(held: bool) -> None:
    pb, a, b = _problem("poisson")
    model, parts = _partitioned(pb, a, b, 3)
    whole = LaplaceDeviance(pb, "ML" if held else "nAGQ0")
    x = np.array([-0.4, -0.7, 0.1, 0.5] if held else [-0.4, -0.7])
    ref = whole.state(x).mode.delta
    lams = whole.params.lam(x)
    beta = x[2:] if held else None
    modes = PartitionedModes(model, parts)
    _, x_b, _, _ = modes.solve(beta, lams)
    cold_steps = modes.n_steps
    # x_B = (the effects of term 1, beta); the partitions eliminate term 2 (A); the
    # in-memory delta is (beta, v_1, v_2)
    p = pb.X.shape[1]
    m_z = x_b.shape[0] - p
    np.testing.assert_allclose(x_b[m_z:], ref[:p], rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(x_b[:m_z], ref[p : p + m_z], rtol=1e-9, atol=1e-11)
    _, again, _, _ = modes.solve(beta, lams)
    np.testing.assert_allclose(again, x_b, rtol=1e-10, atol=1e-12)
    assert modes.n_steps - cold_steps < cold_steps
