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
"""

from __future__ import annotations

import numpy as np

from ..engine import Grouped, inverse_diag_blocks
from ..spec import Problem, Unstructured
from .diagnostics import Divergence
from .theta import ThetaLayout

Array = np.ndarray


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
    root = (vectors / np.sqrt(values)) @ vectors.T
    step = factor @ root
    out = step @ A @ step.T
    return 0.5 * (out + out.T)


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

    def update(self, v: Array, factor: object, p: int,
               factors: list[Array | None]) -> list[Array | None]:
        """The next factors from a round's fitted effects ``v`` and the ``factor`` of its
        augmented matrix (p fixed effects first).

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
                out.append(np.linalg.cholesky(covariance_update(v[sl], blocks, L)))
            except np.linalg.LinAlgError as exc:
                raise Divergence("a vector term's covariance left its parameter space") \
                    from exc
        return out
