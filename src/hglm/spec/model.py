"""The model as the estimators see it: arrays and term descriptions (no formula, no
data frame).  Assembled from the user's arguments by :func:`~.assemble.assemble`; every
estimator in ``fit`` takes a :class:`Problem`.

The blocks of Z are stored as the engine stores them (``engine.Indicator`` or a dense
array, see ``engine.as_block``); spec does not import the engine: the caller of
``assemble`` makes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np

from .families import RandomFamily, ResponseFamily
from .links import Link
from .spatial import SpatialStructure

Array = np.ndarray


@dataclass(frozen=True)
class Independent:
    """Independent effects: v_j with variance lambda_j (one per term, or modelled by the
    term's dispersion GLM): R's hglm terms and lme4's scalar terms."""


@dataclass(frozen=True)
class KnownCovariance:
    """u ~ N(0, lambda A) with A = L L' known (a GRM, a dense relationship matrix): the
    term is fitted on v = L^{-1} u, whose design is Z L (DESIGN.md, "known covariance")."""

    factor: Array


@dataclass(frozen=True)
class KnownPrecision:
    """u ~ N(0, lambda A) with the sparse precision Q = A^{-1} known (a pedigree): the
    term is fitted on u itself by the engine's sparse solver."""

    Q: object


@dataclass(frozen=True)
class SpatialCovariance:
    """A CAR/SAR term (its ``structure``) fitted on the eigen basis of its neighbourhood
    matrix, design Z V; ``design`` is the block of Z as given, from which the EQL1
    correction builds its K, as R's hglm does (DESIGN.md, "EQL1")."""

    structure: SpatialStructure
    design: object


@cache
def _upper(size: int) -> tuple[Array, Array]:
    """The indices of the upper triangle of a size x size matrix (row-wise): those of
    the lower triangle column by column, on its transpose."""
    return np.triu_indices(size)


@dataclass(frozen=True)
class Unstructured:
    """A vector-valued term ``(1 + x | g)``: per level of its grouping factor, ``size``
    effects with one unstructured covariance Sigma (size x size) shared by the levels.
    Its block of Z is an ``engine.Grouped`` (level-major columns).  Sigma is
    parametrised as lme4 does: sigma^2 Lambda Lambda' with Lambda lower triangular and
    theta its lower triangle, column-wise."""

    size: int

    @property
    def n_theta(self) -> int:
        """The number of covariance parameters, size (size + 1) / 2."""
        return self.size * (self.size + 1) // 2

    def factor(self, theta: Array) -> Array:
        """Lambda (size x size, lower triangular) from theta, its lower triangle filled
        column by column (lme4's order)."""
        out = np.zeros((self.size, self.size))
        out.T[_upper(self.size)] = np.asarray(theta, dtype=float)
        return out

    def theta(self, factor: Array) -> Array:
        """theta from a lower-triangular Lambda (the inverse of :meth:`factor`)."""
        return np.asarray(factor, dtype=float).T[_upper(self.size)].copy()

    def start(self) -> Array:
        """lme4's starting theta: Lambda = I."""
        return self.theta(np.eye(self.size))


Covariance = Independent | KnownCovariance | KnownPrecision | SpatialCovariance | Unstructured


@dataclass
class RandomTermModel:
    """One random term as the estimators see it: the family of its effects, the model
    of its dispersion lambda and the covariance structure of its effects.

    The grouping factor and the columns of the term are in its block of Z
    (``Problem.blocks``) and in the names the interface gives (:class:`~.names.Names`).
    A vector-valued term is the ``Unstructured`` kind of ``covariance``.

    Attributes
    ----------
    family : RandomFamily
    x_disp : ndarray or None
        Design (q_k x m) of the dispersion GLM; None for an intercept.
    link_disp : Link
        Link of the dispersion GLM (log, or inverse for CAR).
    covariance : Independent, KnownCovariance, KnownPrecision, SpatialCovariance or
        Unstructured
    """

    family: RandomFamily
    x_disp: Array | None
    link_disp: Link
    covariance: Covariance = field(default_factory=Independent)

    @property
    def transform(self) -> Array | None:
        """The matrix T with u = T v for a correlated term fitted on independent effects v
        (the factor L of a known covariance, the eigenvectors of a CAR/SAR term)."""
        cov = self.covariance
        if isinstance(cov, KnownCovariance):
            return cov.factor
        if isinstance(cov, SpatialCovariance):
            return cov.structure.vectors
        return None

    @property
    def precision(self) -> object | None:
        """The known sparse precision Q of the term, if any."""
        return self.covariance.Q if isinstance(self.covariance, KnownPrecision) else None

    @property
    def n_theta(self) -> int:
        """The term's covariance parameters: 1 for a scalar term, q (q + 1) / 2 for a
        vector term of q effects per level."""
        cov = self.covariance
        return cov.n_theta if isinstance(cov, Unstructured) else 1

    @property
    def shift_block(self) -> object | None:
        """The CAR/SAR term's design as given (before the rotation), if any."""
        cov = self.covariance
        return cov.design if isinstance(cov, SpatialCovariance) else None


@dataclass
class Problem:
    """An HGLM as arrays.

    Attributes
    ----------
    y, X : ndarray
        Response (n,) and fixed design (n, p).
    blocks : list
        The columns of Z of each random term, as the engine stores them.
    terms : list of RandomTermModel
        One per block.
    family : ResponseFamily
    weights, offset : ndarray
        Prior weights and offset (length n).
    x_disp : ndarray or None
        Design of the residual dispersion GLM (None: intercept only).
    link_disp : Link
    fix_disp : float or None
        Residual dispersion held fixed at this value.
    """

    y: Array
    X: Array
    blocks: list[object]
    terms: list[RandomTermModel]
    family: ResponseFamily
    weights: Array
    offset: Array
    x_disp: Array | None
    link_disp: Link
    fix_disp: float | None

    @property
    def counts(self) -> Array:
        """The counts of a binomial or Poisson likelihood: a binomial response's successes
        y * weights (y the proportions, the weights the trials), else y."""
        return self.y * self.weights if self.family.name == "binomial" else self.y

    @property
    def is_linear(self) -> bool:
        """True when the augmented IWLS weights do not depend on (beta, v)."""
        return self.family.name == "gaussian" and self.family.link.name == "identity" and all(
            t.family.is_gaussian for t in self.terms
        )
