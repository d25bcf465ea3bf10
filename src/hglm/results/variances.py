"""Variances of a fitted HGLM read from the engine's factor: the prediction-error variances
of the random effects and the marginal covariance of the working response."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import linalg as splinalg

from ..engine import Indicator
from ..fit import EngineFit

Array = np.ndarray


def ranef_variances(engine: EngineFit, diag_inv: Array) -> Array:
    """Prediction-error variances of the random effects: diag(C^{-1}) on the v scale, and on
    the original scale, diag(L C^{-1}_kk L'), for a term with a known covariance
    (CAR/SAR keep R's convention: the eigen-basis effects)."""
    p = engine.problem.X.shape[1]
    out = diag_inv[p:].copy()
    for sl, t in zip(engine.fitter.term_slices, engine.problem.terms, strict=True):
        if t.transform is not None and t.family.spatial is None:
            block = engine.last.factor.inverse_block(p + np.arange(sl.start, sl.stop))
            out[sl] = np.einsum("ij,ij->i", t.transform @ block, t.transform)
    return out


def marginal_vcov(engine: EngineFit) -> Array | sparse.csr_matrix:
    """Z diag(lambda) Z' + W1^{-1}: the marginal covariance of the working response.

    For a Gaussian response with Gaussian random effects this is var(y) =
    Z diag(lambda) Z' + diag(phi / weights).  It is sparse (CSR) when every random term
    is an indicator block and n > 2000, else a dense array.
    """
    pb = engine.problem
    n = pb.y.shape[0]
    w1, _ = engine.final_weights()
    blocks = [
        sparse.csr_matrix(b.toarray()) if isinstance(b, Indicator) else sparse.csr_matrix(b)
        for b in pb.blocks
    ]
    Z = sparse.hstack(blocks, format="csr")
    lam = engine.lam.copy()
    for sl, t in zip(engine.fitter.term_slices, pb.terms, strict=True):
        if t.precision is not None:
            lam[sl] = 0.0  # lambda Z A Z' below, with A Z' from solves with Q
    V = Z @ sparse.diags(lam) @ Z.T + sparse.diags(1.0 / w1)
    all_indicator = all(isinstance(b, Indicator) for b in pb.blocks)
    dense = not (all_indicator and n > 2000)
    for sl, t in zip(engine.fitter.term_slices, pb.terms, strict=True):
        if t.precision is not None:
            Zk = Z[:, sl]
            AZ = splinalg.splu(sparse.csc_matrix(t.precision)).solve(Zk.T.toarray())
            V = V + float(np.mean(engine.lam[sl])) * (Zk @ AZ)
            dense = True
    return np.asarray(V.toarray() if sparse.issparse(V) else V) if dense else V.tocsr()
