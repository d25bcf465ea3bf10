"""The marginal route (hglm.marginal_fit) and hglm()/hglm2() with method "ML"/"REML"."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hglm
from hglm.engine import Indicator
from hglm.fit import check_nagq, check_quadrature
from hglm.marginal_fit import (
    check_counts,
    is_linear_mixed_model,
    marginal_controls,
)
from hglm.results import start_in_term_order
from hglm.spec import Problem, RandomTermModel, get_link, response_family
from hglm.spec.families import random_family


def _problem(family: str = "gaussian", n_terms: int = 1, weights=None, y=None,
             dense: bool = False) -> Problem:
    n = 12
    codes = np.arange(n) % 3
    block = np.eye(3)[codes] if dense else Indicator(codes, np.ones(n), 3)
    term = RandomTermModel(random_family("gaussian"), None, get_link("log", "link"))
    return Problem(np.full(n, 0.5) if y is None else y, np.ones((n, 1)), [block] * n_terms,
                   [term] * n_terms, response_family(family),
                   np.ones(n) if weights is None else weights, np.zeros(n), None,
                   get_link("log", "link"), None)


def test_check_nagq():
    assert check_nagq(0) == 0 and check_nagq(np.int64(20)) == 20
    for bad in (-1, 2.0, True, None):
        with pytest.raises(ValueError, match="nAGQ"):
            check_nagq(bad)


def test_quadrature_needs_one_scalar_term():
    check_quadrature(_problem(), 20)
    reason = "nAGQ: nAGQ > 1 is only available for models with a single, scalar"
    with pytest.raises(ValueError, match=reason):
        check_quadrature(_problem(n_terms=2), 2)
    with pytest.raises(ValueError, match=reason):
        check_quadrature(_problem(dense=True), 2)


def test_counts_must_be_whole():
    check_counts(_problem("binomial", weights=np.full(12, 4.0)))
    with pytest.raises(ValueError, match="successes"):
        check_counts(_problem("binomial", weights=np.full(12, 3.0)))
    with pytest.raises(ValueError, match="trials"):
        check_counts(_problem("binomial", weights=np.full(12, 2.5), y=np.full(12, 0.4)))
    with pytest.raises(ValueError, match="non-integer poisson counts"):
        check_counts(_problem("poisson", y=np.full(12, 1.5)))
    check_counts(_problem("poisson", y=np.full(12, 2.0)))
    check_counts(_problem("gaussian", weights=np.full(12, 2.5)))


def test_start_is_read_in_lme4s_order_of_the_terms():
    pb = _problem(n_terms=2)
    pb.blocks = [Indicator(np.arange(12) % 3, np.ones(12), 3), np.eye(12)]
    start = start_in_term_order({"theta": [5.0, 0.5], "disp_coef": [1.0]}, pb)
    np.testing.assert_array_equal(start["theta"], [0.5, 5.0])  # 12 levels first in lme4
    assert start["disp_coef"] == [1.0] and start_in_term_order(None, pb) is None
    with pytest.raises(ValueError, match="start: theta needs 2 values"):
        start_in_term_order([1.0], pb)


def test_the_lmm_estimator_is_chosen_for_linear_mixed_models_only():
    assert is_linear_mixed_model(_problem())
    assert not is_linear_mixed_model(_problem("poisson"))


def test_controls_of_a_marginal_fit():
    defaults = {"method": "EQL", "nAGQ": 1, "start": None, "conv": 1e-6, "maxit": 50,
                "startval": None, "calc_like": False, "vcovmat": False, "bigrr": None,
                "dev_floor": "absolute", "accelerate": True, "fix_disp": None,
                "family": "gaussian"}
    ml = marginal_controls({**defaults, "method": "ML", "family": "binomial"}, defaults)
    assert ml["fix_disp"] == 1.0
    assert marginal_controls({**defaults, "method": "ML"}, defaults)["fix_disp"] is None
    with pytest.raises(ValueError, match="calc_like"):
        marginal_controls({**defaults, "method": "REML", "calc_like": True}, defaults)
    with pytest.raises(ValueError, match="nAGQ"):
        marginal_controls({**defaults, "nAGQ": 5}, defaults)
    with pytest.raises(ValueError, match="or 'ML' or 'REML' for the marginal likelihood"):
        marginal_controls({**defaults, "method": "ml"}, defaults)


def _data() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    g = np.repeat(np.arange(8), 6)
    x = rng.normal(size=g.size)
    return pd.DataFrame({"y": 1 + x + rng.normal(size=8)[g] + rng.normal(size=g.size),
                         "x": x, "g": g.astype(str)})


def test_hglm_and_hglm2_route_ml_and_reml():
    data = _data()
    eql = hglm.hglm2("y ~ x + (1|g)", data=data)
    assert isinstance(eql, hglm.HGLMResult)
    reml = hglm.hglm(fixed="y ~ x", random="~ 1|g", data=data, method="REML")
    assert isinstance(reml, hglm.MarginalResult) and reml.method == "REML"
    # EQL of an LMM is REML (DESIGN.md): the same variance components
    assert reml.varcorr["vcov"].iloc[0] == pytest.approx(eql.var_ranef[0], rel=1e-4)
    with pytest.raises(ValueError, match="conv"):
        hglm.hglm2("y ~ x + (1|g)", data=data, method="ML", conv=1e-8)
    with pytest.raises(ValueError, match="start"):
        hglm.hglm2("y ~ x + (1|g)", data=data, start=[1.0])
    with pytest.raises(ValueError, match="double HGLM"):
        hglm.hglm2("y ~ x + (1|g)", data=data, disp="~ 1 + (1|g)", method="ML")
