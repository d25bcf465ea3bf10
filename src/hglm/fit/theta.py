"""lme4's theta over all random terms, and the spherical form of vector-valued terms.

theta is flat, term after term: one relative standard deviation for a scalar term, the
lower triangle of the relative Cholesky factor Lambda (q x q, column-wise) for a
vector-valued term ``(1 + x | g)`` with q effects per level (Bates et al. 2015, lme4's
eq. 4).  The lower bounds are lme4's: 0 for the scalar entries and the diagonal of every
Lambda, none for the off-diagonal entries.

A vector term is fitted in the spherical form: per level l, u_l = Lambda b_l with
b ~ N(0, sigma^2 I) (sigma^2 = 1 without a residual scale), so its block of Z becomes
Z Lambda (row i of level l: z_i' Lambda) and its effects b have unit prior precision.
The engine's random-row weights stay diagonal, and a singular Lambda (a zero on its
diagonal, a correlation of +-1) is evaluated as any other: nothing is inverted.  Scalar
terms keep their precision form (effects u with weight 1 / lambda).
"""

from __future__ import annotations

import numpy as np

from .._warn import warn
from ..engine import Grouped
from ..spec import Problem, Unstructured
from .diagnostics import BoundaryWarning

Array = np.ndarray

# lme4's isSingular: a theta with lower bound 0 below this is on the boundary
SINGULAR_TOL = 1e-4
# the smallest diagonal of Lambda at which a vector term's d log|M| / d Lambda is formed
# with Lambda^{-1} (:func:`inverse_trace`); below it, Lambda^{-1} is ill-conditioned
VECTOR_GRADIENT_FLOOR = 1e-3
# theta below this is evaluated at it: the term's effects are then ~0 and its
# contribution to log|Lambda D| is below 1e-16 (the boundary theta = 0 is reached in value)
THETA_FLOOR = 1e-8


class ThetaLayout:
    """Where each random term's parameters are in the flat theta of a problem.

    Parameters
    ----------
    problem : Problem

    Attributes
    ----------
    slices : list of slice
        Each term's entries of theta.
    vector : list of bool
        Which terms are vector-valued (an ``Unstructured`` covariance).
    bounded : ndarray of bool
        The entries with lower bound 0 (scalar terms and the diagonals of Lambda).
    scalar_index, vector_entries : ndarray of int
        The entry of each scalar term; the entries of the vector terms.
    size : int
    """

    def __init__(self, problem: Problem) -> None:
        self.covariances = [t.covariance for t in problem.terms]
        self.vector = [isinstance(c, Unstructured) for c in self.covariances]
        counts = [t.n_theta for t in problem.terms]
        ends = np.cumsum(counts, dtype=int)
        self.slices = [slice(int(e - c), int(e)) for c, e in zip(counts, ends, strict=True)]
        self.size = int(ends[-1]) if counts else 0
        self.bounded = np.ones(self.size, dtype=bool)
        for sl, cov in zip(self.slices, self.covariances, strict=True):
            if isinstance(cov, Unstructured):
                self.bounded[sl] = cov.theta(np.eye(cov.size)) == 1.0
        self.scalar_index = np.array(
            [sl.start for sl, vec in zip(self.slices, self.vector, strict=True) if not vec],
            dtype=int)
        self.vector_entries = np.flatnonzero(np.repeat(self.vector, counts))

    @property
    def any_vector(self) -> bool:
        return any(self.vector)

    def start(self) -> Array:
        """lme4's starting theta: 1 for a scalar term, Lambda = I for a vector term."""
        return np.concatenate(
            [cov.start() if vec else np.ones(1)
             for cov, vec in zip(self.covariances, self.vector, strict=True)]
        ) if self.size else np.zeros(0)

    def factors(self, theta: Array) -> list[Array | None]:
        """Lambda of each vector term (None for a scalar term)."""
        return [cov.factor(theta[sl]) if vec else None
                for sl, cov, vec in zip(self.slices, self.covariances, self.vector, strict=True)]

    def covariances_of(self, theta: Array, scale: float) -> list[Array]:
        """The covariance matrix of each term's effects per level: scale theta^2 (1 x 1)
        for a scalar term, scale Lambda Lambda' for a vector term."""
        out = []
        for sl, factor in zip(self.slices, self.factors(theta), strict=True):
            factor = np.array([[theta[sl.start]]]) if factor is None else factor
            out.append(scale * factor @ factor.T)
        return out

    def singular(self, theta: Array, note: str = "") -> bool:
        """lme4's isSingular: an entry with lower bound 0 below SINGULAR_TOL; warned
        about (BoundaryWarning) with the terms it concerns and the estimator's ``note``."""
        small = self.bounded & (theta < SINGULAR_TOL)
        if not small.any():
            return False
        terms = [k + 1 for k, sl in enumerate(self.slices) if small[sl].any()]
        warn(f"boundary (singular) fit: random term(s) {terms} have a variance at 0 or a "
             "correlation at +-1 (a theta with lower bound 0 below 1e-4, lme4's "
             "isSingular); the data do not support that part of the model: simplify it "
             f"(e.g. (1 + x || g) or drop the term){note}", BoundaryWarning)
        return True


def factors_key(factors: list[Array | None]) -> bytes:
    """The vector terms' Lambda as bytes (empty without vector terms): whether the
    systems built on Z Lambda are still those of ``factors``."""
    return b"".join(f.tobytes() for f in factors if f is not None)


def residual_scale(problem: Problem, phi: Array) -> float:
    """sigma^2 of lme4's theta = Lambda / sigma: the residual dispersion of a family with
    one estimated dispersion, else 1."""
    one_phi = problem.x_disp is None and not problem.family.fixed_dispersion
    return float(phi[0]) if one_phi else 1.0


def effects_scale(v: Array, slices: list[slice], factors: list[Array | None]) -> Array:
    """The effects u from the fitted ones: u_l = Lambda b_l for each level of a vector
    term (level-major), the scalar terms' as they are."""
    u = v.copy()
    for sl, f in zip(slices, factors, strict=True):
        if f is not None:
            u[sl] = (v[sl].reshape(-1, f.shape[0]) @ f.T).ravel()
    return u


def effects_variances(diag: Array, slices: list[slice], factors: list[Array | None],
                      blocks_of: object) -> Array:
    """diag of the conditional covariance of u from that of the fitted effects:
    ``diag`` for scalar terms, diag(Lambda B_l Lambda') for a vector term, B_l its
    per-level blocks given by ``blocks_of(term_slice, size)``."""
    out = np.array(diag, dtype=float, copy=True)
    for sl, f in zip(slices, factors, strict=True):
        if f is not None:
            B = blocks_of(sl, f.shape[0])
            out[sl] = np.einsum("ij,ljk,ik->li", f, B, f).ravel()
    return out


def inverse_trace(inverse: Array, factor: Array) -> Array:
    """(m I - sum_l M^{-1}_ll) Lambda^{-1} (q x q) from the per-level blocks M^{-1}_ll
    (m, q, q) of a vector term and ``factor`` Lambda: the term's share of
    d log|M| / d Lambda (transposed, halved) when Lambda's diagonal is at least
    VECTOR_GRADIENT_FLOOR."""
    m, q = inverse.shape[0], inverse.shape[1]
    S = m * np.eye(q) - inverse.sum(axis=0)
    return np.linalg.solve(factor.T, S.T).T


def level_trace(inverse: Array, factor: Array, gram: Array) -> Array:
    """sum_l M^{-1}_ll Lambda' G_l over the levels l of a vector term: ``inverse`` the
    per-level blocks M^{-1}_ll (m, q, q), ``factor`` Lambda, ``gram`` G_l = (Z'WZ)_ll
    (m, q, q).  For the only random term (Z'WZ block-diagonal over its levels) it is the
    random block's share of d log|M| / d Lambda, (m I - sum_l M^{-1}_ll) Lambda^{-1}, with
    no inverse of Lambda (it holds at a singular Lambda)."""
    return np.einsum("lij,kj,lkm->im", inverse, factor, gram)


def check_vector_terms(problem: Problem, estimator: str) -> None:
    """Refuse a vector-valued term with what the estimators do not combine it with,
    naming the argument."""
    terms = problem.terms
    vector = [isinstance(t.covariance, Unstructured) for t in terms]
    if not any(vector):
        return
    for k, (t, vec) in enumerate(zip(terms, vector, strict=True)):
        if vec:
            if not isinstance(problem.blocks[k], Grouped):
                raise ValueError(f"blocks: vector-valued random term {k + 1} needs an "
                                 "engine.Grouped block (q columns per level)")
            block = problem.blocks[k]
            if block.size != t.covariance.size:
                raise ValueError(f"blocks: random term {k + 1} has {block.size} columns "
                                 f"per level, its covariance {t.covariance.size}")
            sampled = np.count_nonzero(np.bincount(
                block.index[np.any(block.values != 0, axis=1)], minlength=block.n_levels))
            if sampled < 2:
                raise ValueError(f"blocks: the grouping factor of vector-valued random term "
                                 f"{k + 1} has {sampled} sampled level(s); it needs at least "
                                 "2 (lme4: grouping factors must have > 1 sampled level)")
            if not t.family.is_gaussian:
                raise ValueError(f"rand_family: vector-valued random term {k + 1} needs "
                                 f"Gaussian random effects, not {t.family.name}")
            if t.x_disp is not None:
                raise ValueError(f"x_rand_disp: vector-valued random term {k + 1} has an "
                                 "unstructured covariance; it takes no dispersion model")
        elif t.precision is not None or t.transform is not None:
            raise ValueError(
                f"random term {k + 1} has a known covariance, precision or spatial "
                f"structure: {estimator} does not combine it with vector-valued terms "
                "(1 + x | g); fit the vector term as independent terms (1 + x || g)")
