"""Fits shared by the tests of ``hglm.results``: a Gaussian model of a dose on nine
clusters, and clustered data with (fit_disp) and without (fit_plain) a dispersion model."""

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


def _clustered(seed: int, n_groups: int = 12, per: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per)
    x = rng.normal(size=g.size)
    xd = rng.binomial(1, 0.5, g.size).astype(float)
    a = rng.normal(0.0, 0.8, n_groups)
    y = 1.0 + 0.5 * x + a[g] + rng.normal(0.0, np.sqrt(np.exp(-0.5 + xd)), g.size)
    return pd.DataFrame({"y": y, "x": x, "xd": xd, "g": [f"G{k:02d}" for k in g]})


@pytest.fixture(scope="module")
def fit_plain() -> hglm.HGLMResult:
    return hglm.hglm2("y ~ x + (1|g)", data=_clustered(11))


@pytest.fixture(scope="module")
def fit_disp() -> hglm.HGLMResult:
    return hglm.hglm2("y ~ x + (1|g)", data=_clustered(12), disp="~ xd")

