"""Spatially correlated random effects: CAR and SAR families (DESIGN.md, "Spatial").

With a symmetric neighbourhood matrix D = V diag(omega) V', the term is fitted on the
rotated design Z V, whose effects are independent with variance tau / (1 - rho omega_j)
(CAR) or tau / (1 - rho omega_j)^2 (SAR).  The random-effect dispersion GLM then has the
covariate omega: an inverse link on [1, omega] gives (1/tau, -rho/tau) for CAR, and an
inverse-square-root link gives (1/sqrt(tau), -rho/sqrt(tau)) for SAR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .families import Family, Gaussian, RandomFamily
from .links import Link, get_link

Array = np.ndarray


@dataclass(frozen=True)
class SpatialStructure:
    """The eigen-rotation of a neighbourhood matrix.

    Attributes
    ----------
    kind : {"CAR", "SAR"}
    vectors : ndarray (q, q)
        Eigenvectors V, columns ordered by decreasing eigenvalue (as R's ``eigen``).
    values : ndarray (q,)
        Eigenvalues omega, decreasing.
    """

    kind: str
    vectors: Array
    values: Array

    @property
    def disp_link(self) -> Link:
        return get_link("inverse" if self.kind == "CAR" else "1/sqrt(mu)")

    @property
    def disp_design(self) -> Array:
        return np.column_stack([np.ones_like(self.values), self.values])

    def parameters(self, coef: Array) -> tuple[float, float]:
        """(rho, tau) from the dispersion GLM's coefficients."""
        rho = -coef[1] / coef[0]
        tau = 1.0 / coef[0] if self.kind == "CAR" else 1.0 / coef[0] ** 2
        return float(rho), float(tau)


def _neighbourhood(D: object, kind: str) -> SpatialStructure:
    mat = D.toarray() if sparse.issparse(D) else np.asarray(D, dtype=float)
    if mat.ndim != 2 or mat.shape[0] != mat.shape[1]:
        raise ValueError(f"rand_family: {kind}(D) needs a square matrix D, got shape {mat.shape}")
    if not np.all(np.isfinite(mat)):
        raise ValueError(f"rand_family: {kind}(D) has missing or infinite entries")
    if not np.allclose(mat, mat.T, rtol=0, atol=1e-12 * max(1.0, np.abs(mat).max())):
        raise ValueError(f"rand_family: {kind}(D) needs a symmetric neighbourhood matrix D")
    values, vectors = np.linalg.eigh(mat)
    order = np.argsort(-values, kind="stable")
    return SpatialStructure(kind, vectors[:, order], values[order])


class CAR(Family):
    """Conditional autoregressive random effects with neighbourhood matrix D.

    Parameters
    ----------
    D : array-like (q, q)
        Symmetric neighbourhood (adjacency) matrix of the term's q levels.
    """

    name = "CAR"

    def __init__(self, D: object) -> None:
        super().__init__(None)
        self.structure = _neighbourhood(D, type(self).__name__)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(D: {self.structure.values.shape[0]} areas)"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and np.array_equal(
            self.structure.vectors, other.structure.vectors  # type: ignore[attr-defined]
        )

    __hash__ = Family.__hash__

    def as_random(self, argument: str = "rand_family") -> RandomFamily:
        base = Gaussian().as_random(argument)
        return RandomFamily(
            type(self).__name__, base.link, base.psi, base.variance, base.deviance,
            base.dvariance, spatial=self.structure,
        )


class SAR(CAR):
    """Simultaneous autoregressive random effects with neighbourhood matrix D."""

    name = "SAR"


def rotate_block(structure: SpatialStructure, Zk: object, argument: str) -> Array:
    """The term's design on the eigen basis, Z V (dense)."""
    q = structure.values.shape[0]
    if Zk.shape[1] != q:
        raise ValueError(
            f"{argument}: the neighbourhood matrix D has {q} rows but the random term has "
            f"{Zk.shape[1]} columns of Z"
        )
    Zd = Zk.toarray() if sparse.issparse(Zk) else np.asarray(Zk)
    return Zd @ structure.vectors
