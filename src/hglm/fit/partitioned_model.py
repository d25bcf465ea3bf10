"""The state of a fit on partitioned rows (:mod:`.partitioned`): what the client knows
of the model, the partitions it runs on (a protocol: Dask's in ``hglm.distributed``, a
list in the tests), one round's outcome and the fit's result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..spec import RandomTermModel, ResponseFamily
from .dispersion import DispersionFit

Array = np.ndarray


class Partitions(Protocol):
    """The partitions of a model's rows, where :mod:`.partition_chunk`'s functions run.

    ``advance(fn, states, *args, previous=None)`` runs ``fn(chunk, state, *args,
    previous=previous state) -> (state, sums)`` on every partition (``states`` None:
    state None; ``previous`` not passed when None), keeps the new states where the
    partitions live and returns (their handles, a list of sums whose total is the sum
    over the partitions: one per partition, or fewer already added where the partitions
    live; callers use only the total).
    ``gather(fn, states, *args, previous=None)`` returns the list of
    ``fn(chunk, state, previous state, *args)`` (states or previous states None:
    None).  ``share(value)`` makes a large argument one object for all partitions;
    ``frames(fn, states, *args)`` the lazy ``fn(chunk, state, *args)`` of every
    partition (per-row tables); ``total(fn, states, *args)`` the sum over the partitions
    of ``fn(chunk, state, None, *args)`` (dicts added key by key, reduced where the
    partitions live); ``len()`` their number."""

    def advance(
        self, fn: Callable, states: Any, *args: Any, previous: Any = None
    ) -> tuple[Any, list]: ...

    def gather(self, fn: Callable, states: Any, *args: Any, previous: Any = None) -> list: ...

    def share(self, value: Any) -> Any: ...

    def frames(self, fn: Callable, states: list, *args: Any) -> list: ...

    def total(self, fn: Callable, states: Any, *args: Any) -> dict: ...

    def __len__(self) -> int: ...


@dataclass
class PartitionedModel:
    """What the client knows of a partitioned model (all small).

    Attributes
    ----------
    n, p : int
        Rows used and fixed effects.
    sizes : list of int
        The number of effects of each random term (A: all its levels).
    terms : list of RandomTermModel
    family : ResponseFamily
    fix_disp : float or None
    a_term : int
        The partitioning term, eliminated partition by partition.
    row_norm2 : ndarray
        Mean of diag(Z_k Z_k') per term (R's start of lambda).
    disp_gram : ndarray or None
        X_d'X_d of the residual-dispersion model's design (None: one phi).
    disp_intercept : int
        The column of that design that is the intercept.
    """

    n: int
    p: int
    sizes: list[int]
    terms: list[RandomTermModel]
    family: ResponseFamily
    fix_disp: float | None
    a_term: int
    row_norm2: Array
    disp_gram: Array | None = None
    disp_intercept: int = 0

    @property
    def other_terms(self) -> list[int]:
        """The terms in B, in order (their effects come first in x_B, beta last)."""
        return [k for k in range(len(self.sizes)) if k != self.a_term]

    @property
    def is_linear(self) -> bool:
        return self.family.name == "gaussian" and self.family.link.name == "identity" and all(
            t.family.is_gaussian for t in self.terms
        )

    def b_slices(self) -> list[slice]:
        """Each other term's effects in x_B."""
        ends = np.cumsum([self.sizes[k] for k in self.other_terms]).astype(int)
        return [slice(int(e) - self.sizes[k], int(e))
                for k, e in zip(self.other_terms, ends, strict=True)]


@dataclass
class PartitionedRound:
    """One round: the partitions' states, the client's factor of the summed Schur
    complement at the last solve, and what the dispersion fits produced."""

    states: Any
    x_b: Array
    chol: Array
    s_inverse: Array
    relative_change: float
    observation_leverage_sum: float
    disp_fit: DispersionFit | None
    rand_disp_fits: list[DispersionFit]
    phi_next: float | Array
    lam_next: Array
    dev_total: float
    phi: float | Array
    lam: Array
    guards: set[str] = field(default_factory=set)


@dataclass
class PartitionedFit:
    """The result of :func:`fit_partitioned`: the last round, the dispersions (phi one
    value or the dispersion model's coefficients), and the iteration's record;
    per-partition results, lazy, by :meth:`reports`."""

    model: PartitionedModel
    parts: Partitions
    last: PartitionedRound
    phi: float | Array
    lam: Array
    n_iter: int
    converged: bool
    criterion: float

    @property
    def beta(self) -> Array:
        return self.last.x_b[-self.model.p :] if self.model.p else np.zeros(0)

    def other_effects(self) -> list[Array]:
        """v of each term in B (the A term's effects are on the partitions)."""
        return [self.last.x_b[sl] for sl in self.model.b_slices()]

    def reports(self, fn: Callable, *args: Any) -> list:
        """The lazy ``fn(chunk, state, chol, s_inverse, phi, lam, *args)`` of every
        partition at the end, with the dispersions the last round ran at
        (``Partitions.frames``: nothing runs until they are computed)."""
        last = self.last
        shared = self.parts.share((last.chol, last.s_inverse))
        return self.parts.frames(_with_factor, last.states, fn, shared, last.phi, last.lam,
                                 *args)


def _with_factor(chunk: Any, state: Any, fn: Callable, factor: tuple, *args: Any) -> Any:
    return fn(chunk, state, *factor, *args)
