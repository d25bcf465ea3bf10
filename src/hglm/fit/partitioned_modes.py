"""The conditional modes of a GLMM whose rows are partitioned by the grouping factor of
one scalar random term A (:mod:`.partitioned_laplace`): penalized IRLS with one pass per
step.  Each partition eliminates its levels of A and returns its m x m piece of the Schur
complement S (m = p + the other terms' levels); the client solves for B = (the other
terms' v, beta), with beta held (S_zz x_z = s_z - S_zx beta) or not, and each partition
recovers its v_A and linear predictor, which stay on it (:mod:`.partition_laplace`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import linalg

from .conditional_mode import MODE_TOL_CANONICAL
from .diagnostics import Divergence
from .partition_halving import accepted_step
from .partition_laplace import least_squares_sums, mode_halved, mode_start, mode_step
from .partitioned_model import PartitionedModel, Partitions
from .partitioned_pirls import cholesky_of, summed
from .pirls import INNER_MAXIT, remaining_change

Array = np.ndarray


class PartitionedModes:
    """The conditional modes of a partitioned model: penalized IRLS one pass per step,
    warm-started at the last mode (else from every effect at 0 with beta the
    least-squares fit of g(mu0) - offset, as :class:`.conditional_mode.ModeFinder`).

    Parameters
    ----------
    model : PartitionedModel
    parts : Partitions
    """

    def __init__(self, model: PartitionedModel, parts: Partitions) -> None:
        self.model, self.parts = model, parts
        self.p = model.p
        self.n_steps = 0
        self._last: list | None = None
        self._cold_beta: Array | None = None

    def start_at(self, mode: Any) -> None:
        """Start the next IWLS at ``mode`` (another deviance's, of the same model)."""
        self._last = mode.states

    def cold_beta(self) -> Array:
        if self._cold_beta is None:
            sums = self.parts.total(least_squares_sums, None)
            self._cold_beta = linalg.lstsq(sums["xtx"], sums["xtz"])[0]
        return self._cold_beta

    def solve(self, beta: Array | None, lams: Array) -> tuple[list, Array, Array, dict]:
        """The partitions' states at the mode, x_B, the Cholesky factor of S and the summed
        sums there, at fixed effects ``beta`` (None: solved with v) and variances
        ``lams``.

        Raises
        ------
        Divergence
            When the IWLS fails from the last mode and from the cold start.
        """
        starts = [None] if self._last is None else [self._last, None]
        failure: Divergence | None = None
        for states in starts:
            try:
                out = self._pirls(states, beta, lams)
            except Divergence as exc:
                failure = exc
                continue
            self._last = out[0]
            return out
        raise failure

    def _pirls(self, states: list | None, beta: Array | None, lams: Array
               ) -> tuple[list, Array, Array, dict]:
        start_beta = beta if beta is not None or states is not None else self.cold_beta()
        states, pieces = self.parts.advance(mode_start, states, start_beta, lams)
        previous, guarded = np.inf, False

        def halve(states: list) -> tuple[list, list]:
            return self.parts.advance(mode_halved, states, lams, beta)

        for _ in range(INNER_MAXIT):
            self.n_steps += 1
            S, s = summed(pieces, "S"), summed(pieces, "s")
            chol = cholesky_of(S)
            x_b = self._solve(S, s, chol, beta)
            states, pieces = self.parts.advance(mode_step, states, self.parts.share(x_b),
                                                lams, beta, guarded)
            # the full step's length decides convergence (a halved step is short because
            # the full one went too far)
            change = summed(pieces, "change")
            states, pieces, halved_now = accepted_step(states, pieces, guarded, halve)
            guarded = guarded or halved_now
            sums = {key: summed(pieces, key) for key in pieces[0]
                    if key not in ("w2_b", "change")}
            bound = MODE_TOL_CANONICAL * sums["size"] + 1e-300
            if change <= bound or remaining_change(change, previous) <= bound:
                return states, sums["x_b"], cholesky_of(sums["S"]), sums
            previous = change
        raise Divergence("the IWLS of the conditional modes did not converge")

    def _solve(self, S: Array, s: Array, chol: Array, beta: Array | None) -> Array:
        """x_B of the reduced system, the fixed effects held at ``beta`` or solved."""
        if beta is None:
            x_b = linalg.cho_solve((chol, True), s)
        else:
            m_z = S.shape[0] - self.p
            rhs = s[:m_z] - S[:m_z, m_z:] @ beta
            x_b = np.concatenate([linalg.cho_solve((chol[:m_z, :m_z], True), rhs), beta])
        if not np.all(np.isfinite(x_b)):
            raise Divergence("non-finite IWLS solution")
        return x_b

