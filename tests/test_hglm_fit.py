"""The fit route of hglm() and hglm2() (hglm.hglm_fit): which estimator a call reaches,
and the refusals made there."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hglm
from hglm.hglm_fit import _effective_method
from hglm.spec.families import random_family


def _grouped(seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(12), 6)
    x = rng.normal(size=g.size)
    y = rng.poisson(np.exp(0.3 + 0.4 * x + rng.normal(0.0, 0.5, 12)[g]))
    return pd.DataFrame({"y": y.astype(float), "x": x, "g": g})


def test_formula_without_random_term_is_rejected() -> None:
    df = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "x": [0.0, 1.0, 0.0, 1.0]})
    with pytest.raises(ValueError, match="at least one random term"):
        hglm.hglm2("y ~ x", data=df)


def test_hl11_is_eql1_and_eql1_falls_back_to_eql_for_other_random_families() -> None:
    gaussian, gamma = random_family("gaussian"), random_family("Gamma")
    assert _effective_method("HL11", [gaussian]) == "EQL1"
    assert _effective_method("EQL", [gamma]) == "EQL"
    with pytest.warns(UserWarning, match="EQL1 is defined for Gaussian random effects"):
        assert _effective_method("EQL1", [gaussian, gamma]) == "EQL"


def test_the_method_chooses_the_estimator() -> None:
    df = _grouped()
    eql = hglm.hglm2("y ~ x + (1|g)", data=df, family="poisson", fix_disp=1)
    ml = hglm.hglm2("y ~ x + (1|g)", data=df, family="poisson", method="ML")
    assert isinstance(eql, hglm.HGLMResult) and eql.method == "EQL"
    assert isinstance(ml, hglm.MarginalResult) and ml.method == "Laplace"
    assert list(ml.fixef.index) == list(eql.fixef.index) == ["(Intercept)", "x"]


def test_a_double_hglm_takes_scalar_terms_only() -> None:
    df = _grouped().assign(y=lambda d: d["y"] + 0.5)
    with pytest.raises(ValueError, match="disp: a double HGLM .* vector-valued"):
        hglm.hglm2("y ~ x + (1|g)", data=df, disp="~ (1 + x|g)")
    with pytest.raises(ValueError, match="disp: random effects in the dispersion model"):
        hglm.hglm2("y ~ x + (1|g)", data=df, disp="~ (1|g)", method="ML")
