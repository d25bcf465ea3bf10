"""Step halving of the partitioned IWLS (:mod:`.partitioned`), as
:meth:`.pirls.PenalizedIRLS._halve` in memory.

A step whose iterate has a non-finite penalized deviance (a mean or an effect outside
its family's space: Gamma(identity) effects below 0, Poisson(identity) means below 0) is
halved towards the previous iterate until it has a finite one; once a step of this
IWLS has been halved ("guarded"), until it also does not increase the penalized
deviance.  Each partition returns its share of the penalized deviance: its rows, its
effects of A and, once (the owner), the other terms' effects; a halving is one more pass,
which also makes the next step's piece at the accepted iterate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .diagnostics import Divergence
from .partition_chunk import Chunk, ChunkState, eliminate, restore, update
from .pirls import MAX_HALVINGS

Array = np.ndarray


def penalized_share(chunk: Chunk, delta: Array, eta: Array, phi: float | Array,
                    lams: Array) -> float:
    """The partition's share of the penalized deviance at (``delta``, ``eta``): the
    other terms' effects enter only the owner's (their variances are taken infinite
    elsewhere, so that they add 0)."""
    phi_rows, lam = chunk.dispersions(phi, lams)
    if not chunk.owner:
        lam = np.full(lam.shape, np.inf)
        lam[chunk.a_slice] = lams[chunk.a_term]
    return chunk.pirls.penalized_deviance(delta, eta, phi_rows, lam)


def _at_iterate(chunk: Chunk, new: ChunkState, sums: dict, phi: float | Array, lams: Array,
                newton: bool, guarded: bool) -> tuple[ChunkState, dict]:
    """The penalized deviance at ``new`` (and, when ``guarded``, at the previous
    iterate) and, where it is finite, the next step's piece."""
    sums["pen"] = penalized_share(chunk, new.delta, new.eta, phi, lams)
    if guarded:
        before = chunk.system.linear_predictor(new.solved_delta)
        sums["pen_before"] = penalized_share(chunk, new.solved_delta, before, phi, lams)
    if not np.isfinite(sums["pen"]):
        return new, sums
    new, piece = eliminate(chunk, new, phi, lams, newton)
    return new, {**sums, **piece}


def checked_update(chunk: Chunk, state: ChunkState, x_b: Array, phi: float | Array,
                   lams: Array, newton: bool, guarded: bool) -> tuple[ChunkState, dict]:
    """:func:`~.partition_chunk.update` with the penalized deviance at the new iterate
    (its next piece only where that is finite: the state's pending elimination is then
    at the new iterate)."""
    new, sums = update(chunk, state, x_b, phi, lams, False, newton)
    return _at_iterate(chunk, new, sums, phi, lams, newton, guarded)


def halved(chunk: Chunk, state: ChunkState, phi: float | Array, lams: Array,
           newton: bool) -> tuple[ChunkState, dict]:
    """The step halved towards the previous iterate (delta and eta averaged), with the
    sums of :func:`checked_update` there (the previous iterate's penalized deviance
    too)."""
    state = restore(chunk, state, phi, lams)
    before = chunk.system.linear_predictor(state.solved_delta)
    new = ChunkState(0.5 * (state.solved_delta + state.delta), 0.5 * (before + state.eta),
                     state.solved, state.solved_w, solved_delta=state.solved_delta)
    sums = {"size": float(np.sum(new.eta**2))}
    return _at_iterate(chunk, new, sums, phi, lams, newton, True)


def accepted_step(states: Any, sums: list[dict], guarded: bool,
                  halve: Callable[[Any], tuple[Any, list]]) -> tuple[Any, list, bool]:
    """The partitions' states and sums at the step accepted from those of
    :func:`checked_update` (halved while rejected: ``halve(states)``, a pass of
    :func:`halved`), and whether it was halved.

    Raises
    ------
    Divergence
        When MAX_HALVINGS halvings leave the step unacceptable.
    """
    before, halved_now = None, False
    for _ in range(MAX_HALVINGS):
        after = sum(s["pen"] for s in sums)
        if np.isfinite(after):
            if not guarded:
                return states, sums, halved_now
            if before is None:
                before = sum(s["pen_before"] for s in sums)
            if after <= before + 1e-10 * abs(before):
                return states, sums, halved_now
        guarded, halved_now = True, True
        states, sums = halve(states)
    raise Divergence(f"non-finite IWLS weights or an increasing penalized deviance after "
                     f"{MAX_HALVINGS} step halvings")
