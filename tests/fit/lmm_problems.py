"""Small linear mixed models and their dense likelihoods, shared by the tests of the
profiled deviance and of the ML/REML fits."""

from __future__ import annotations

import numpy as np

from hglm.engine import Indicator
from hglm.spec import (
    Independent,
    KnownPrecision,
    Problem,
    RandomTermModel,
    get_link,
    response_family,
)
from hglm.spec.families import random_family


def lmm_problem(y, X, blocks, weights=None, precisions=None):
    n = y.shape[0]
    precisions = precisions or [None] * len(blocks)
    terms = [
        RandomTermModel(random_family("gaussian"), None, get_link("log", "link"),
                        Independent() if Q is None else KnownPrecision(Q))
        for Q in precisions
    ]
    return Problem(y, X, blocks, terms, response_family("gaussian"),
                   np.ones(n) if weights is None else weights, np.zeros(n), None,
                   get_link("log", "link"), None)


def crossed_lmm(seed=1, n=240, levels=(12, 7), weights=False):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    codes = [rng.integers(0, m, n) for m in levels]
    sds = [1.3, 0.6]
    y = X @ np.array([2.0, -0.5]) + rng.normal(size=n)
    for c, m, s in zip(codes, levels, sds, strict=True):
        y += s * rng.normal(size=m)[c]
    blocks = [Indicator(c.astype(np.int64), np.ones(n), m) for c, m in zip(codes, levels,
                                                                          strict=True)]
    w = rng.uniform(0.5, 2.0, n) if weights else None
    return lmm_problem(y, X, blocks, w), codes


def dense_objective(pb, theta, reml):
    """-2 log-likelihood (or the REML criterion) with sigma^2 profiled, from V directly."""
    y, X, w = pb.y, pb.X, pb.weights
    n, p = X.shape
    Z = np.hstack([b.toarray() if isinstance(b, Indicator) else b for b in pb.blocks])
    lam = np.concatenate([np.full(b.n_levels, t**2) for b, t in zip(pb.blocks, theta,
                                                                     strict=True)])
    V = np.diag(1.0 / w) + Z @ np.diag(lam) @ Z.T  # var(y) / sigma^2
    return profiled_from_v(y, X, V, reml)


def dense_vector_objective(pb, theta, reml):
    """-2 log-likelihood (or the REML criterion) of a problem with vector terms from V =
    I + Z G Z', G = blockdiag(I_m kron Lambda Lambda') (sigma^2 profiled)."""
    from scipy.linalg import block_diag

    from hglm.fit.theta import ThetaLayout

    y, X = pb.y, pb.X
    n, p = X.shape
    Z = np.hstack([b.toarray() for b in pb.blocks])
    covs = ThetaLayout(pb).covariances_of(theta, 1.0)
    G = block_diag(*[np.kron(np.eye(b.n_levels), S) for b, S in zip(pb.blocks, covs,
                                                                      strict=True)])
    return profiled_from_v(y, X, np.eye(n) + Z @ G @ Z.T, reml)


def profiled_from_v(y, X, V, reml):
    """-2 log-likelihood (or the REML criterion), sigma^2 profiled, for var(y) =
    sigma^2 V."""
    n, p = X.shape
    Vi = np.linalg.inv(V)
    beta = np.linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
    r = y - X @ beta
    dof = n - p if reml else n
    sigma2 = float(r @ Vi @ r) / dof
    out = np.linalg.slogdet(2 * np.pi * sigma2 * V)[1] + dof
    if reml:
        out += np.linalg.slogdet(X.T @ Vi @ X / sigma2)[1] - p * np.log(2 * np.pi)
    return out
