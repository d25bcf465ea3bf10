"""Tests of ``hglm.results.likelihood_ratio``: R's lrt on fits made with calc_like=True."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import hglm


@pytest.fixture(scope="module")
def nested(data) -> tuple[hglm.HGLMResult, hglm.HGLMResult]:
    """One and two random terms on the same data."""
    y, X, Z = data
    second = np.eye(3)[np.arange(y.shape[0]) % 3]
    one = hglm.hglm(y=y, X=X, Z=Z, calc_like=True)
    two = hglm.hglm(y=y, X=X, Z=np.hstack([Z, second]), rand_c=[Z.shape[1], 3], calc_like=True)
    return one, two


def test_one_model_against_its_glm(nested) -> None:
    one, _ = nested
    res = hglm.lrt(one)
    assert res.statistic == 2.0 * abs(one.likelihood["pvh"] - one.null_loglik())
    assert res.df == 1
    assert res.p_value == stats.chi2.sf(res.statistic, 1) / 2.0
    assert res.data_name == "fit1"


def test_boundary_halving_is_rs_default_and_optional(nested) -> None:
    """R's lrt halves the chi-square tail (the 50:50 boundary mixture); boundary=False
    gives the tail itself, as anova's Pr(>Chisq)."""
    one, two = nested
    for args in ((one,), (two, one)):
        halved, tail = hglm.lrt(*args), hglm.lrt(*args, boundary=False)
        assert tail.statistic == halved.statistic and tail.df == halved.df
        assert tail.p_value == stats.chi2.sf(tail.statistic, tail.df)
        assert halved.p_value == tail.p_value / 2.0


def test_two_nested_models(nested) -> None:
    one, two = nested
    res = hglm.lrt(two, one)
    assert res.statistic == 2.0 * abs(two.likelihood["pbvh"] - one.likelihood["pbvh"])
    assert res.df == 1 and res.data_name == "fit1 v.s. fit2"
    assert hglm.lrt(one, two).statistic == res.statistic
    text = str(res)
    assert "Likelihood-ratio test" in text and f"df = {res.df}" in text
    assert repr(res) == text


def test_refuses_fits_without_likelihoods_or_not_nested(fit, nested) -> None:
    one, _ = nested
    with pytest.raises(ValueError, match="fit1: was fitted without calc_like=True"):
        hglm.lrt(fit)
    with pytest.raises(ValueError, match="fit2: was fitted without calc_like=True"):
        hglm.lrt(one, fit)
    with pytest.raises(ValueError, match="lrt compares nested models"):
        hglm.lrt(one, one)
