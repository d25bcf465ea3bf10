"""The model as the estimators see it: arrays and term descriptions (no formula, no
data frame).  Assembled from the user's arguments by :func:`~.assemble.assemble`; every
estimator in ``fit`` takes a :class:`Problem`.

The blocks of Z are stored as the engine stores them (``engine.Indicator`` or a dense
array, see ``engine.as_block``); spec does not import the engine: the caller of
``assemble`` makes them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .families import RandomFamily, ResponseFamily
from .links import Link

Array = np.ndarray


@dataclass
class RandomTermModel:
    """One random term: its family and the model of its dispersion lambda.

    Attributes
    ----------
    family : RandomFamily
    x_disp : ndarray or None
        Design (q_k x m) of the dispersion GLM; None for an intercept.
    link_disp : Link
        Link of the dispersion GLM (log, or inverse for CAR).
    transform : ndarray or None
        For a correlated Gaussian term fitted on independent effects v (CAR/SAR eigen
        rotation, or the Cholesky factor L of a known covariance), the matrix T with
        u = T v on the original scale.
    precision : scipy.sparse matrix or None
        A known precision Q = A^{-1} of a Gaussian term (u ~ N(0, lambda A)), fitted on u
        itself by the sparse solver (``engine.sparse``).
    shift_block : engine block or None
        The term's design as given, when the fitted block is rotated from it (CAR/SAR):
        the EQL1 correction builds its K from it, as R's hglm does (DESIGN.md, "EQL1").
    """

    family: RandomFamily
    x_disp: Array | None
    link_disp: Link
    transform: Array | None = None
    precision: object | None = None
    shift_block: object | None = None


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
    def is_linear(self) -> bool:
        """True when the augmented IWLS weights do not depend on (beta, v)."""
        return self.family.name == "gaussian" and self.family.link.name == "identity" and all(
            t.family.is_gaussian for t in self.terms
        )
