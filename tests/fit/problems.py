"""Small simulated problems shared by the tests of ``hglm.fit``."""

from __future__ import annotations

import numpy as np

from hglm.engine import as_block
from hglm.spec import Problem, RandomTermModel
from hglm.spec.families import random_family, response_family
from hglm.spec.links import LINKS


def one_way(seed: int, k: int = 15, lo: int = 2, hi: int = 9, tau: float = 1.0):
    """Unbalanced one-way Gaussian data with a covariate: (y, X, Z, groups)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(lo, hi, size=k)
    g = np.repeat(np.arange(k), sizes)
    n = g.shape[0]
    x = rng.normal(size=n)
    y = 1.0 + 0.5 * x + tau * rng.normal(size=k)[g] + rng.normal(size=n)
    return y, np.column_stack([np.ones(n), x]), np.eye(k)[g], g


def make_problem(y, X, Z, family="gaussian", rand_family="gaussian", fix_disp=None):
    n = y.shape[0]
    return Problem(
        y=np.asarray(y, dtype=float),
        X=X,
        blocks=[as_block(Z)],
        terms=[RandomTermModel(random_family(rand_family), None, LINKS["log"])],
        family=response_family(family),
        weights=np.ones(n),
        offset=np.zeros(n),
        x_disp=None,
        link_disp=LINKS["log"],
        fix_disp=fix_disp,
    )


def dense_hat(X, Z, w1, w2):
    """Leverages of the augmented GLM and C^{-1} by dense algebra."""
    p, q = X.shape[1], Z.shape[1]
    T = np.block([[X, Z], [np.zeros((q, p)), np.eye(q)]])
    w = np.concatenate([w1, w2])
    Cinv = np.linalg.inv(T.T @ (w[:, None] * T))
    return w * np.einsum("ij,jk,ik->i", T, Cinv, T), Cinv


def grouped_design(seed: int, k: int, low: int, high: int):
    """An unbalanced one-way design: k groups of low..high-1 rows, X = [1, x], Z = group
    indicators; returns (rng, group of each row, x, X, Z)."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(k), rng.integers(low, high, size=k))
    x = rng.normal(size=g.shape[0])
    return rng, g, x, np.column_stack([np.ones(g.shape[0]), x]), np.eye(k)[g]


def count_data(seed: int):
    rng = np.random.default_rng(seed)
    k = 20
    g = np.repeat(np.arange(k), rng.integers(3, 10, size=k))
    n = g.shape[0]
    x = rng.normal(size=n)
    return rng, g, n, x, np.column_stack([np.ones(n), x]), np.eye(k)[g]


def case(name: str) -> Problem:
    rng, g, n, x, X, Z = count_data(5)
    k = Z.shape[1]
    if name == "gaussian-gaussian":
        y = 1 + 0.5 * x + rng.normal(size=k)[g] + rng.normal(size=n)
        return make_problem(y, X, Z)
    if name == "poisson-gaussian":
        y = rng.poisson(np.exp(0.5 + 0.3 * x + 0.5 * rng.normal(size=k)[g]))
        return make_problem(y, X, Z, "poisson", "gaussian")
    if name == "poisson-gamma-fixdisp":
        y = rng.poisson(np.exp(0.5 + 0.3 * x) * rng.gamma(2, 0.5, size=k)[g])
        return make_problem(y, X, Z, "poisson", "gamma", fix_disp=1.0)
    if name == "binomial-beta":
        y = rng.binomial(1, rng.beta(3, 3, size=k)[g])
        return make_problem(y, X, Z, "binomial", "beta")
    raise AssertionError(name)


def poisson_glmm(seed: int):
    rng, g, x, X, Z = grouped_design(seed, 12, 2, 7)
    y = rng.poisson(np.exp(0.3 + 0.4 * x + 0.8 * rng.normal(size=12)[g])).astype(float)
    return y, X, Z
