"""The h-likelihood update of a vector-valued term's covariance (EQL, HL(0,1)).

A vector term with m levels and q effects per level, u_l ~ N(0, Sigma), is fitted in
the spherical form of :mod:`.theta` with the Cholesky factor L of Sigma: u_l = L b_l,
design Z L, effects b of unit weight.  With C the augmented matrix of the round (its
observation weights W1 = w / phi) and C_u^{-1} = L C^{-1} L' its inverse on the scale
of u, the h-likelihood's fixed point for Sigma is (Lee & Nelder's REML equations)

    Sigma = (1/m) sum_l (u_l u_l' + C_u^{-1}_ll),

the per-level blocks C^{-1}_ll of the inverse.  On the scale of b, with
A = (1/m) sum_l b_l b_l' and B = (1/m) sum_l C^{-1}_ll, that is A + B = I, and the
update is

    Sigma <- L (I - B)^{-1/2} A (I - B)^{-1/2} L',

which for q = 1 is exactly the scalar term's gamma-GLM step lambda <- sum v^2 / (m - sum h)
(v = L b, h = C^{-1}_jj, the leverages of the effects' rows) and has the same fixed point.
For a Gaussian response this fixed point is REML's, as for scalar terms.

The iteration of :mod:`.iteration` moves the log dispersions; a vector term's state is
the lower triangle of L with its diagonal on the log scale (lme4's order).

A Sigma heading to a singular one (a variance at 0, a correlation at +-1) sends a diagonal
entry L_jj, the standard deviation of effect j given the ones before it, to 0: its log to
-inf, slower and slower, and 1 - B_jj ~ L_jj^2 below the rounding of B.  The update holds
each L_jj at or above HELD sqrt(scale) (scale: lme4's sigma^2, :func:`.theta.residual_scale`):
the iteration then has a fixed point on the boundary, where lme4's theta of that entry,
L_jj / sigma, is below its singularity tolerance 1e-4 (:mod:`.theta`), and the other
entries are those of the boundary optimum to O(HELD^2) (the h-likelihood is even in L_jj).
"""

from __future__ import annotations

import numpy as np

from ..engine import Grouped, inverse_diag_blocks
from ..spec import Problem, Unstructured
from .diagnostics import Divergence
from .theta import ThetaLayout

Array = np.ndarray

# the smallest L_jj relative to lme4's sigma (module docstring)
HELD = 1e-5


def covariance_update(b: Array, blocks: Array, factor: Array) -> Array:
    """The next Sigma of one vector term (module docstring).

    Parameters
    ----------
    b : ndarray (m q,)
        The term's effects on the spherical scale, level-major.
    blocks : ndarray (m, q, q)
        The per-level blocks of C^{-1} on those effects.
    factor : ndarray (q, q)
        L, the Cholesky factor of the current Sigma.

    Returns
    -------
    ndarray (q, q)
    """
    m, q = blocks.shape[0], blocks.shape[1]
    bl = b.reshape(m, q)
    A = bl.T @ bl / m
    B = blocks.mean(axis=0)
    values, vectors = np.linalg.eigh(np.eye(q) - 0.5 * (B + B.T))
    if values.min() <= 0.0:
        raise Divergence("a vector term's leverages reached 1 (I - B is not positive "
                         "definite)")
    root = (vectors / np.sqrt(values)) @ vectors.T
    step = factor @ root
    out = step @ A @ step.T
    return 0.5 * (out + out.T)


def hold_boundary(factor: Array, scale: float) -> Array:
    """L with each diagonal entry at least HELD sqrt(scale) (module docstring); Sigma
    stays positive definite."""
    out = factor.copy()
    idx = np.arange(factor.shape[0])
    out[idx, idx] = np.maximum(np.diag(factor), HELD * np.sqrt(scale))
    return out


def log_cholesky(factor: Array, cov: Unstructured) -> Array:
    """A vector term's iteration state: L's lower triangle (lme4's order), its diagonal
    on the log scale."""
    state = cov.theta(factor)
    diagonal = cov.start() == 1.0
    state[diagonal] = np.log(state[diagonal])
    return state


def from_log_cholesky(state: Array, cov: Unstructured) -> Array:
    """L from :func:`log_cholesky`'s state."""
    values = np.array(state, dtype=float)
    diagonal = cov.start() == 1.0
    values[diagonal] = np.exp(values[diagonal])
    return cov.factor(values)


def starting_factor(block: Grouped, share: float) -> Array:
    """L of the starting Sigma: diagonal, each of the term's q columns of Z given
    ``share`` / q of the variance of y (as a scalar term's start gives its share, divided
    by the mean square of the column)."""
    n = block.values.shape[0]
    mean_square = np.maximum(np.sum(block.values**2, axis=0) / n, 1e-12)
    return np.diag(np.sqrt(share / block.size / mean_square))


class CovarianceIteration:
    """The vector terms of an EQL fit: their factors L as the tail of the iteration's
    state and their update after a round.

    Parameters
    ----------
    problem : Problem
    slices : list of slice
        Each term's effects in v.
    """

    def __init__(self, problem: Problem, slices: list[slice]) -> None:
        self.layout = ThetaLayout(problem)
        self.slices = slices
        self.size = sum(sl.stop - sl.start for sl, vec in zip(
            self.layout.slices, self.layout.vector, strict=True) if vec)

    def pack(self, factors: list[Array | None]) -> Array:
        """The state of the vector terms' factors (empty without vector terms)."""
        parts = [log_cholesky(f, cov) for f, cov in zip(factors, self.layout.covariances,
                                                        strict=True) if f is not None]
        return np.concatenate(parts) if parts else np.zeros(0)

    def unpack(self, state: Array) -> list[Array | None]:
        """The factors of a state's tail (None for the scalar terms)."""
        out, start = [], 0
        for cov, vec in zip(self.layout.covariances, self.layout.vector, strict=True):
            if not vec:
                out.append(None)
                continue
            out.append(from_log_cholesky(state[start : start + cov.n_theta], cov))
            start += cov.n_theta
        return out

    def update(self, v: Array, factor: object, p: int, factors: list[Array | None],
               scale: float) -> list[Array | None]:
        """The next factors from a round's fitted effects ``v`` and the ``factor`` of its
        augmented matrix (p fixed effects first), held off the boundary relative to the
        residual dispersion ``scale`` (:func:`hold_boundary`).

        Raises
        ------
        Divergence
            When a next Sigma is not positive definite.
        """
        out: list[Array | None] = []
        for sl, L in zip(self.slices, factors, strict=True):
            if L is None:
                out.append(None)
                continue
            q = L.shape[0]
            blocks = inverse_diag_blocks(factor, p + sl.start, q, (sl.stop - sl.start) // q)
            try:
                nxt = np.linalg.cholesky(covariance_update(v[sl], blocks, L))
            except np.linalg.LinAlgError as exc:
                raise Divergence("a vector term's covariance left its parameter space") \
                    from exc
            out.append(hold_boundary(nxt, scale))
        return out
