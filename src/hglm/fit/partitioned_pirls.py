"""Penalized IRLS at given dispersions on rows partitioned by one random term A (the
EQL rounds of :mod:`.partitioned`), one pass per step.

Each partition eliminates its own levels of A and returns its m x m piece of the Schur
complement and its m-vector; the client sums, factors and solves for B = (the other
terms' v, beta); each partition back-substitutes its effects of A and its linear
predictor and, in the same pass, makes its piece of the next step.  The stopping rule
is :class:`~.pirls.PenalizedIRLS`'s; as there, a random family's non-canonical link
takes Newton's steps in v, then, once they have converged, one by the expected
information (one more pass: the piece made with the last Newton step is made again),
whose factor the round uses, and a step that leaves the families' spaces is halved
(:mod:`.partition_halving`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import linalg

from ..engine import NotPositiveDefiniteError, schur_cholesky, schur_inverse
from .diagnostics import Divergence
from .partition_chunk import eliminate, update
from .partition_halving import accepted_step, checked_update, halved
from .partitioned_model import PartitionedModel, Partitions
from .pirls import INNER_MAXIT, remaining_change

Array = np.ndarray


def partitioned_pirls(parts: Partitions, model: PartitionedModel, states: Any,
                      phi: float | Array, lams: Array, tol: float, accelerate: bool
                      ) -> tuple[Any, Array, Array, Array, Array]:
    """The IWLS at (phi, lambda) from the partitions' ``states`` (module docstring).

    Returns
    -------
    states, x_b, chol, s_inverse, w2_b
        The partitions' states, the last solution for B, the Cholesky factor (lower) of
        the last solve's Schur complement and its inverse, and the weights of the other
        terms' random rows at the last solve.

    Raises
    ------
    Divergence
        On a system that is not positive definite, non-finite solutions, a step that
        halvings cannot make acceptable, or no convergence in INNER_MAXIT steps.
    """
    linear = model.is_linear
    newton = not all(t.family.canonical for t in model.terms)
    states, pieces = parts.advance(eliminate, states, phi, lams, newton)
    previous, guarded = np.inf, False
    for _ in range(INNER_MAXIT):
        w2_b = next(pc["w2_b"] for pc in pieces if pc["w2_b"] is not None)
        chol = cholesky_of(summed(pieces, "S"))
        x_b = linalg.cho_solve((chol, True), summed(pieces, "s"))
        if not np.all(np.isfinite(x_b)):
            raise Divergence("non-finite IWLS solution")
        if linear:
            states, pieces = parts.advance(update, states, parts.share(x_b), phi, lams,
                                           False, newton)
        else:
            states, pieces = parts.advance(checked_update, states, parts.share(x_b), phi,
                                           lams, newton, guarded)
        # the full step's length decides convergence (a halved step is short because the
        # full one went too far)
        change = summed(pieces, "change")
        if not linear:
            states, pieces, halved_now = accepted_step(states, pieces, guarded,
                                                       _halving(parts, phi, lams, newton))
            guarded = guarded or halved_now
        bound = tol * summed(pieces, "size") + 1e-300
        accelerated = remaining_change(change, previous) if accelerate else np.inf
        if change <= bound or linear or accelerated <= bound:
            if not newton:
                return states, x_b, chol, schur_inverse(chol), w2_b
            newton = False
            states, pieces = parts.advance(eliminate, states, phi, lams, False)
        previous = change
    raise Divergence("the IWLS of the augmented GLM did not converge")


def _halving(parts: Partitions, phi: float | Array, lams: Array, newton: bool) -> Callable:
    """A pass that halves the partitions' last steps (:func:`.partition_halving.halved`)."""

    def halve(states: Any) -> tuple[Any, list]:
        return parts.advance(halved, states, phi, lams, newton)

    return halve


def summed(pieces: list[dict], key: str) -> Any:
    """The sum over the partitions' pieces of one entry."""
    return sum(pc[key] for pc in pieces)


def cholesky_of(S: Array) -> Array:
    """The Cholesky factor of the summed Schur complement; Divergence where it is not
    positive definite."""
    try:
        return schur_cholesky(S)
    except NotPositiveDefiniteError as exc:
        raise Divergence(str(exc)) from exc
