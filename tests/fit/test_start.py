"""Tests of the starting values, ``hglm.fit.start``: the user's ``startval``."""

from __future__ import annotations

import numpy as np
import pytest

import hglm

from .problems import count_data, one_way


@pytest.mark.parametrize("length_delta", [-1, 1])
def test_startval_wrong_length(length_delta: int) -> None:
    y, X, Z, _ = one_way(9)
    size = X.shape[1] + Z.shape[1] + 1 + 1 + length_delta
    with pytest.raises(ValueError, match=r"\bstartval\b"):
        hglm.hglm(y=y, X=X, Z=Z, startval=np.ones(size))


def test_startval_with_fix_disp_has_no_residual_dispersion() -> None:
    rng, g, n, x, X, Z = count_data(10)
    q = Z.shape[1]
    y = rng.poisson(np.exp(0.7 + 0.2 * x + 0.6 * rng.normal(size=q)[g])).astype(float)
    with pytest.raises(ValueError, match=r"\bstartval\b"):
        hglm.hglm(y=y, X=X, Z=Z, family="poisson", fix_disp=1, startval=np.ones(2 + q + 2))
    sv = np.concatenate([[np.log(2.0), 0.0], np.zeros(q), [0.5]])
    fit = hglm.hglm(y=y, X=X, Z=Z, family="poisson", fix_disp=1, startval=sv, conv=1e-12)
    ref = hglm.hglm(y=y, X=X, Z=Z, family="poisson", fix_disp=1, conv=1e-12)
    assert fit.converged and ref.converged
    np.testing.assert_allclose(fit.fixef, ref.fixef, rtol=1e-6)
    np.testing.assert_allclose(fit.var_ranef, ref.var_ranef, rtol=1e-5)


def test_startval_nonpositive_dispersion() -> None:
    y, X, Z, _ = one_way(9)
    sv = np.concatenate([[1.0, 0.5], np.zeros(Z.shape[1]), [0.5, -1.0]])
    with pytest.raises(ValueError, match=r"\bstartval\b"):
        hglm.hglm(y=y, X=X, Z=Z, startval=sv)


def test_startval_reaches_the_same_fit() -> None:
    y, X, Z, _ = one_way(12)
    ref = hglm.hglm(y=y, X=X, Z=Z, conv=1e-20)
    sv = np.concatenate([[0.0, 0.0], np.zeros(Z.shape[1]), [3.0, 0.2]])
    fit = hglm.hglm(y=y, X=X, Z=Z, startval=sv, conv=1e-20)
    assert fit.converged and ref.converged
    np.testing.assert_allclose(fit.fixef, ref.fixef, rtol=1e-8)
    assert fit.var_fix == pytest.approx(ref.var_fix, rel=1e-7)
    np.testing.assert_allclose(fit.var_ranef, ref.var_ranef, rtol=1e-7)

