"""The n x n basis of a wide marker design (bigRR's transformed problem) and the way back
to the q markers, for any response family.

With marker weights w (effect j has variance lambda w_j) and G = Z diag(w) Z' = U diag(g) U',
the q effects enter the linear predictor only through a = Z u, whose covariance is
lambda G: the model is the same as one with the n x n design L = U diag(sqrt(g)) and n
independent effects v of variance lambda (a = L v).  The q effects are recovered as
u = w Z' G^+ a = w Z' U diag(g^{-1/2}) v, and marker j's leverage (the diagonal of the hat
matrix on its row of the q-dimensional augmented system) is h_j = 1 - lambda w_j z_j' P z_j,
P = V^{-1} - V^{-1} X (X'V^{-1}X)^{-1} X'V^{-1}, V = W1^{-1} + lambda G.  Every step
reads Z in column chunks: O(n^2 q) time, no copy of Z and no q x q matrix.

R's bigRR reports other leverages (:func:`bigrr_leverages`), which HEM's weights use.  With
G = U diag(g) U' from the singular value decomposition (g decreasing), they are
1 - h_j = lambda w_j (M z_j)' P (M z_j), M = G^{1/2} diag(g^{-1/2}) U': the coordinates
t_j = diag(g^{-1/2}) U' z_j of marker j in the basis L = U diag(sqrt(g)) taken as a vector
of the basis G^{1/2} (both square roots of G), and P at the observation weights of a
Gaussian response (the prior weights over phi, not the IWLS weights).  The exact leverage
is M = the projection on the column space of G.  On the tutorial's data (84 x 216,100)
this reproduces bigRR 1.3-10's ``leverage`` to 4e-9 (SNP-BLUP) and 4e-8 (HEM); it depends
on the signs of U's columns, which R and numpy take from the same LAPACK routine (dgesdd).
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from ._blas import eigh_threads
from .floor_screen import COLUMN_CHUNK
from .marginal_inverse import CholeskyInverse
from .nspace import gram

Array = np.ndarray

# eigenvalues of G below this share of the largest are its null space (a centred Z has one)
NULL_EIGENVALUE = 1e-10


def weighted_gram(Z: Array, w: Array | None) -> Array:
    """Z diag(w) Z' (n x n), in column chunks of Z (no copy of Z); Z Z' when w is None."""
    if w is None:
        return gram(Z)
    G = np.zeros((Z.shape[0], Z.shape[0]))
    for start in range(0, Z.shape[1], COLUMN_CHUNK):
        Zc = Z[:, start : start + COLUMN_CHUNK]
        G += (Zc * w[start : start + COLUMN_CHUNK]) @ Zc.T
    return G


class MarkerBasis:
    """G = Z diag(w) Z' = U diag(g) U' and the n x n design L = U diag(sqrt(g)).

    Parameters
    ----------
    Z : ndarray (n, q)
        The marker design (read, never copied).
    w : ndarray (q,) or None
        Marker weights (None: all 1).
    """

    def __init__(self, Z: Array, w: Array | None) -> None:
        self.Z, self.w = Z, w
        self.G = weighted_gram(Z, w)
        with eigh_threads(self.G.shape[0]):
            g, U = np.linalg.eigh(self.G)
        self.positive = g > NULL_EIGENVALUE * max(float(g[-1]), 0.0)
        self.g = np.where(self.positive, g, 0.0)
        self.U = U

    @property
    def design(self) -> Array:
        """L = U diag(sqrt(g)): the n x n random design of the transformed problem."""
        return self.U * np.sqrt(self.g)

    def markers(self, v: Array) -> Array:
        """u = w Z' U diag(g^{-1/2}) v: the q marker effects of the n effects v."""
        scaled = np.zeros_like(v)
        scaled[self.positive] = v[self.positive] / np.sqrt(self.g[self.positive])
        u = (self.U @ scaled) @ self.Z
        return u if self.w is None else u * self.w


def marker_leverages(
    Z: Array, w: Array | None, G: Array, X: Array, w1: Array, lam: float
) -> Array:
    """h_j = 1 - lambda w_j z_j' P z_j, V = W1^{-1} + lambda G (module docstring), for
    observation weights w1 and G = Z diag(w) Z': the markers' leverages (the diagonal of
    the hat matrix on their rows), in column chunks."""
    P = _projected_inverse(np.diag(1.0 / w1) + lam * G, X)
    return 1.0 - lam * _weighted_quadforms(Z, w, P)


def bigrr_leverages(
    Z: Array, w: Array | None, G: Array, X: Array, w1: Array, lam: float
) -> Array:
    """R's bigRR leverages (module docstring): 1 - h_j = lambda w_j (M z_j)' P (M z_j),
    M = G^{1/2} diag(g^{-1/2}) U' from the SVD G = U diag(g) U', P as in
    :func:`marker_leverages` with ``w1`` the Gaussian observation weights (prior weights
    over phi)."""
    with eigh_threads(G.shape[0]):
        U, g, _ = np.linalg.svd(G)
    positive = g > NULL_EIGENVALUE * max(float(g[0]), 0.0)
    root = np.sqrt(np.where(positive, g, 0.0))
    inv_root = np.where(positive, 1.0 / np.where(positive, root, 1.0), 0.0)
    M = ((U * root) @ U.T) @ (inv_root[:, None] * U.T)
    P = _projected_inverse(np.diag(1.0 / w1) + lam * G, X)
    return 1.0 - lam * _weighted_quadforms(Z, w, M.T @ P @ M)


def _weighted_quadforms(Z: Array, w: Array | None, A: Array) -> Array:
    """w_j z_j' A z_j for every column z_j of Z, in column chunks."""
    q = Z.shape[1]
    out = np.empty(q)
    for start in range(0, q, COLUMN_CHUNK):
        Zc = Z[:, start : start + COLUMN_CHUNK]
        out[start : start + COLUMN_CHUNK] = np.einsum("ij,ij->j", Zc, A @ Zc)
    return out if w is None else out * w


def _projected_inverse(V: Array, X: Array) -> Array:
    """P = V^{-1} - V^{-1} X (X'V^{-1}X)^{-1} X'V^{-1}."""
    vinv = CholeskyInverse(V).explicit
    vx = vinv @ X
    return vinv - vx @ linalg.solve(X.T @ vx, vx.T, assume_a="pos")
