"""The inverse of the n-space solver's marginal covariance V = W1^{-1} + sum_k lambda_k G_k,
in two forms with one interface (solve, explicit, diag, trace_with, logdet).

:class:`CholeskyInverse` factors V by LAPACK's Cholesky in each round.  For a single term
with constant observation weights, V = c I + lambda G, and with the eigendecomposition
G = U diag(g) U' computed once (:class:`Eigen`), :class:`EigenInverse` costs O(n^2) a
round (the GBLUP rotation).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from scipy import linalg

from ._blas import cholesky_solve, lapack_threads
from .factor import NotPositiveDefiniteError

Array = np.ndarray


class CholeskyInverse:
    """V^{-1} through the Cholesky factor of V."""

    def __init__(self, V: Array) -> None:
        with lapack_threads(V.shape[0]):
            chol, info = linalg.lapack.dpotrf(V, lower=1, clean=1)
        if info != 0:
            raise NotPositiveDefiniteError("the marginal covariance V is not positive definite")
        self._chol = chol

    def solve(self, a: Array) -> Array:
        return cholesky_solve(self._chol, a)

    @cached_property
    def explicit(self) -> Array:
        n = self._chol.shape[0]
        with lapack_threads(n):
            return self.solve(np.eye(n))

    def diag(self) -> Array:
        return np.diag(self.explicit)

    def trace_with(self, G: Array) -> float:
        """tr(V^{-1} G)."""
        return float(np.sum(self.explicit * G))

    def logdet(self) -> float:
        return 2.0 * float(np.sum(np.log(np.diag(self._chol))))


class Eigen:
    """G = U diag(g) U', and U's squared entries (for diag(V^{-1}) in every round)."""

    def __init__(self, U: Array, g: Array) -> None:
        self.U, self.g = U, g

    @cached_property
    def U2(self) -> Array:
        return self.U**2


class EigenInverse:
    """V^{-1} for V = c I + lambda G with G = U diag(g) U'."""

    def __init__(self, eigen: Eigen, c: float, lam: float) -> None:
        self.eigen = eigen
        self.U, self.g = eigen.U, eigen.g
        self.values = c + lam * self.g
        if not np.all(self.values > 0):
            raise NotPositiveDefiniteError("the marginal covariance V is not positive definite")
        self.d = 1.0 / self.values

    def solve(self, a: Array) -> Array:
        d = self.d if a.ndim == 1 else self.d[:, None]
        return self.U @ (d * (self.U.T @ a))

    @cached_property
    def explicit(self) -> Array:
        return (self.U * self.d) @ self.U.T

    def diag(self) -> Array:
        return self.eigen.U2 @ self.d

    def trace_with(self, G: Array) -> float:
        return float(np.sum(self.g * self.d))

    def logdet(self) -> float:
        return float(np.sum(np.log(self.values)))
