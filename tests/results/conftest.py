"""Fits shared by the tests of ``hglm.results``: a Gaussian model of a dose on nine
clusters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hglm


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(21)
    k, m = 9, 6
    g = np.repeat(np.arange(k), m)
    n = k * m
    x = rng.normal(size=n)
    X = pd.DataFrame({"(Intercept)": 1.0, "dose": x})
    Z = np.eye(k)[g]
    y = 2.0 + 0.8 * x + rng.normal(size=k)[g] + rng.normal(size=n)
    return y, X, Z


@pytest.fixture(scope="module")
def fit(data) -> hglm.HGLMResult:
    y, X, Z = data
    return hglm.hglm(y=y, X=X, Z=Z, conv=1e-12)

