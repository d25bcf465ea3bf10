"""R's bigRR fit of the QTLMAS animal model (``qtlmas_polygenic_bigrr``) against the
n-space solver (``hglm.engine.nspace``), which must reach the fixed point of the same
model's tight reference fit, and reproduce R's own (unconverged) fit at R's controls."""

from __future__ import annotations

import numpy as np
import pytest
from shared import load_data, load_ref

import hglm

# Small effects below the deviance floor warn.
pytestmark = pytest.mark.filterwarnings("ignore::hglm.NumericalGuardWarning")


@pytest.mark.slow
def test_qtlmas_polygenic_bigrr() -> None:
    """qtlmas_polygenic_bigrr: R fitted it with bigRR = TRUE at the default conv (2
    iterations, 20% from the fixed point, no tight block); the same model's fixed point is
    qtlmas_polygenic's tight block (conv = 1e-20), which the n-dimensional fit must reach:
    fixef, var_fix, var_ranef and all 2025 ranef at 1e-6 relative (ranef: relative to the
    largest |ranef|, since 1000 of them are exactly 0 -- the all-zero columns of Z0 L).
    At R's controls the n-space fit stops where R's did: R's two iterations, and R's
    numbers at 1e-6."""
    ref = load_ref("qtlmas_polygenic_bigrr")
    tight = load_ref("qtlmas_polygenic")["tight"]
    assert ref["options"]["bigRR"] is True and tight["conv"] == 1e-20
    df = load_data("QTLMAS.csv.gz")
    zcols = [f"Z{i}" for i in range(1, 2026)]
    y, X, Z = df["y"].to_numpy(dtype=float), np.ones((len(df), 1)), df[zcols].to_numpy(dtype=float)
    fit = hglm.hglm(y=y, X=X, Z=Z, bigrr=True, conv=tight["conv"], maxit=tight["maxit"])
    assert fit._engine.fitter.marginal is not None and fit.converged  # the n-space solver
    np.testing.assert_allclose(fit.fixef.to_numpy(), tight["fixef"], rtol=1e-6)
    np.testing.assert_allclose(fit.var_fix, tight["varFix"], rtol=1e-6)
    np.testing.assert_allclose(fit.var_ranef, tight["varRanef"], rtol=1e-6)
    expected = np.asarray(tight["ranef"])
    assert fit.ranef.shape == expected.shape == (2025,)
    np.testing.assert_allclose(
        fit.ranef.to_numpy(), expected, rtol=0, atol=1e-6 * np.abs(expected).max()
    )
    # R's own bigRR fit, at R's controls (plain rounds, R's stopping rule and floor):
    # the same iterations, the same numbers
    as_r = hglm.hglm(y=y, X=X, Z=Z, bigrr=True, accelerate=False, dev_floor="absolute")
    assert as_r.n_iter == ref["iter"] and as_r.converged and as_r.df_resid == ref["dfReFe"]
    np.testing.assert_allclose(as_r.fixef.to_numpy(), list(ref["fixef"].values()), rtol=1e-6)
    np.testing.assert_allclose(as_r.se_fixef.to_numpy(), ref["SeFe"], rtol=1e-6)
    np.testing.assert_allclose(as_r.var_fix, ref["varFix"], rtol=1e-6)
    np.testing.assert_allclose(as_r.var_ranef, ref["varRanef"], rtol=1e-6)
    r_ranef = np.asarray(ref["ranef"])
    np.testing.assert_allclose(as_r.ranef.to_numpy(), r_ranef, rtol=0,
                               atol=1e-6 * np.abs(r_ranef).max())
