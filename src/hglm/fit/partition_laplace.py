"""One partition of the rows of a GLMM fitted by the Laplace approximation on partitions
(:mod:`.partitioned_laplace`): the steps of its conditional modes and its pieces of the
deviance and of its gradient.

The partition's state is a :class:`~.partition_chunk.ChunkState` of the joint system
[X, Z] (the fixed effects held or not: with beta held only the client's solve differs);
after each IWLS step (halved as in memory where it leaves the family's space,
:mod:`.partition_halving`) it keeps the elimination at the new linear predictor, whose
piece is the next step's and, at the mode, the factor of D = Z'WZ + Lambda^{-1} (the
leading block of the Schur complement S: the random columns of B come first).

The gradient (:mod:`.laplace`, M = D, T1 = Z) takes two passes.  With the client's
Cholesky factor of S_zz and its inverse, each partition forms its view of the factor of
D (its levels of A eliminated, E restricted to the random columns), the leverages
m_i = z_i'D^{-1}z_i, g = m W' and its piece of D^{-1}Z'g (the reduced right-hand side
r_B - E'D_A^{-1}r_A) with tr(D^{-1}) over its levels of A; then, with the client's
solution a_B, it recovers a_A, T1 a and returns X'(-2s + g - W T1 a) and a_A'v_A.  The
functions are module-level, so that a distributed scheduler can pickle them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..engine import PartitionFactor, PartitionSystem
from ..spec import integer_counts
from .densities import ResponseDensity, ResponseDerivatives
from .likelihood import random_loglik
from .partition_chunk import Chunk, ChunkState, eliminate, restore
from .partition_halving import checked_update, halved

Array = np.ndarray


@dataclass
class LaplaceScratch:
    """What the first gradient pass leaves on the partition for the second: g = m W'
    and Z_A'g (None under ``persist=False``: the second pass recomputes them)."""

    g: Array
    r_a: Array

    def light(self) -> None:
        """Nothing: recomputed by the second pass (``persist=False``)."""
        return None


def _density(chunk: Chunk) -> ResponseDensity:
    """The partition's response density (dispersion 1), kept on the chunk."""
    if "_density" not in chunk.__dict__:
        pb = chunk.problem
        chunk.__dict__["_density"] = ResponseDensity(pb.y, pb.family, pb.weights,
                                                     np.ones(chunk.n))
    return chunk.__dict__["_density"]


def _z_system(chunk: Chunk) -> PartitionSystem:
    """The partition's system of Z alone (D's), kept on the chunk."""
    if "_z_system" not in chunk.__dict__:
        pb = chunk.problem
        chunk.__dict__["_z_system"] = PartitionSystem(np.zeros((chunk.n, 0)), pb.blocks,
                                                      chunk.a_term)
    return chunk.__dict__["_z_system"]


def least_squares_sums(chunk: Chunk, state: object, previous: object) -> dict:
    """X'X and X'(g(mu0) - offset), mu0 the family's starting means: the fixed effects'
    cold start (:meth:`.conditional_mode.ModeFinder.cold_start`)."""
    pb = chunk.problem
    eta0 = pb.family.link.link(pb.family.mustart(pb.y, pb.weights))
    return {"xtx": pb.X.T @ pb.X, "xtz": pb.X.T @ (eta0 - pb.offset)}


def column_max(chunk: Chunk, state: object, previous: object) -> Array:
    """The largest |x| of each column of the partition's X."""
    X = chunk.problem.X
    return np.max(np.abs(X), axis=0) if X.shape[0] else np.zeros(X.shape[1])


def count_check(chunk: Chunk, state: object, previous: object) -> dict:
    """Whether the partition's binomial successes y * weights are whole numbers (0 or 1:
    a sum over the partitions counts those that are not)."""
    return {"bad": int(not integer_counts(chunk.problem.counts))}


def mode_start(chunk: Chunk, state: ChunkState | None, beta: Array | None,
               lams: Array) -> tuple[ChunkState, dict]:
    """The first IWLS piece: from ``state`` (None: every effect at 0) with its fixed
    effects set to ``beta`` (None: kept)."""
    if state is None:
        delta = np.zeros(chunk.p + chunk.system.q)
    else:
        delta = state.delta.copy()
    if beta is not None:
        delta[: chunk.p] = beta
    start = ChunkState(delta, chunk.system.linear_predictor(delta))
    return eliminate(chunk, start, 1.0, lams)


def mode_step(chunk: Chunk, state: ChunkState, x_b: Array, lams: Array,
              beta: Array | None, guarded: bool) -> tuple[ChunkState, dict]:
    """One IWLS step with the penalized deviance of its iterate
    (:func:`~.partition_halving.checked_update`) and the next piece, with the sums of
    :func:`_deviance_sums`."""
    new, sums = checked_update(chunk, state, x_b, 1.0, lams, False, guarded)
    return new, _deviance_sums(chunk, new, sums, lams, beta)


def mode_halved(chunk: Chunk, state: ChunkState, lams: Array, beta: Array | None
                ) -> tuple[ChunkState, dict]:
    """The last step halved (:func:`~.partition_halving.halved`), with the sums of
    :func:`_deviance_sums`."""
    new, sums = halved(chunk, state, 1.0, lams, False)
    return new, _deviance_sums(chunk, new, sums, lams, beta)


def _deviance_sums(chunk: Chunk, new: ChunkState, sums: dict, lams: Array,
                   beta: Array | None) -> dict:
    """``sums`` with the deviance's pieces at the iterate ``new`` where its penalized
    deviance is finite: -2 log f(y|v), log f(v_A) and v_A'v_A, log det D_A.  With
    ``beta`` held, the squared length that the stopping rule compares the change with
    is that of Z v (the in-memory IWLS's linear predictor).  The owner adds the
    iterate's B part (that of the solve, or of a halved step)."""
    pb, system = chunk.problem, chunk.system
    if beta is not None:
        sums["size"] = float(np.sum((new.eta - pb.X @ beta) ** 2))
    # B's part of the iterate (the same in every partition; counted once in the sum)
    sums["x_b"] = new.delta[system.perm_b] if chunk.owner else np.zeros(system.m)
    if not np.isfinite(sums["pen"]):
        return sums
    v_a = new.delta[chunk.p :][chunk.a_slice]
    lam_a = np.full(v_a.shape, lams[chunk.a_term])
    sums.update(
        minus_two=_density(chunk).minus_two_loglik(new.eta + pb.offset, np.ones(chunk.n)),
        rand_a=random_loglik(v_a, pb.terms[chunk.a_term].family, lam_a),
        vv_a=float(v_a @ v_a), logdet_d=new.pending.logdet_d,
    )
    return sums


def _z_factor(chunk: Chunk, state: ChunkState, factor: tuple) -> PartitionFactor:
    """The partition's view of the factor of D at the state's last elimination,
    ``factor`` the client's (Cholesky factor of S_zz, its inverse)."""
    elim, zs = state.pending, _z_system(chunk)
    E = elim.E[:, : zs.m]
    return PartitionFactor(zs, elim.D_inv, E, factor[0], factor[1], elim.logdet_d)


def _derivatives(chunk: Chunk, state: ChunkState) -> ResponseDerivatives:
    pb = chunk.problem
    return _density(chunk).derivatives(state.eta + pb.offset, np.ones(chunk.n))


def _leverage_terms(chunk: Chunk, state: ChunkState, factor: tuple
                    ) -> tuple[PartitionFactor, Array, Array]:
    """The factor of D, g = m W' and Z'g (in the z system's user order)."""
    fz = _z_factor(chunk, state, factor)
    g = fz.rows_quadform() * _derivatives(chunk, state).dcurvature
    zs = _z_system(chunk)
    return fz, g, zs.t1_rmatvec(g)


def gradient_first(chunk: Chunk, state: ChunkState, factor: tuple, lams: Array
                   ) -> tuple[LaplaceScratch, dict]:
    """The first gradient pass (module docstring): the piece r_B - E'D_A^{-1}r_A of
    D^{-1}Z'g and tr(D^{-1}) over the partition's levels of A."""
    state = restore(chunk, state, 1.0, lams, pending=True)
    fz, g, rhs = _leverage_terms(chunk, state, factor)
    zs = _z_system(chunk)
    r_a = rhs[zs.perm_a]
    piece = rhs[zs.perm_b] - np.asarray(fz.E.T @ fz.D_inv.matvec(r_a)).ravel()
    weights = np.zeros(zs.q)
    weights[chunk.a_slice] = 1.0
    trace_a = float(fz.weighted_diag_sums(weights, [chunk.a_slice])[0])
    return LaplaceScratch(g, r_a), {"s": piece, "trace_a": trace_a}


def gradient_second(chunk: Chunk, state: ChunkState, scratch: LaplaceScratch | None,
                    factor: tuple, lams: Array, a_b: Array) -> dict:
    """The second gradient pass: X'(-2s + g - W Z a) and a_A'v_A from the client's
    a_B (module docstring)."""
    state = restore(chunk, state, 1.0, lams, pending=True)
    zs = _z_system(chunk)
    if scratch is None:
        _, g, rhs = _leverage_terms(chunk, state, factor)
        scratch = LaplaceScratch(g, rhs[zs.perm_a])
    elim = state.pending
    E = elim.E[:, : zs.m]
    a_a = elim.D_inv.matvec(scratch.r_a - np.asarray(E @ a_b).ravel())
    a = np.empty(zs.q)
    a[zs.perm_b], a[zs.perm_a] = a_b, a_a
    deriv = _derivatives(chunk, state)
    c = -2.0 * deriv.score + scratch.g - deriv.curvature * zs.linear_predictor(a)
    v_a = state.delta[chunk.p :][chunk.a_slice]
    return {"xc": chunk.problem.X.T @ c, "av": float(a_a @ v_a)}


def laplace_level_report(chunk: Chunk, state: ChunkState, lams: Array,
                         factor: tuple | None) -> dict:
    """The partition's effects of A: labels, v_A and (with ``factor``) diag(D^{-1}) on
    them, the conditional variances."""
    state = restore(chunk, state, 1.0, lams, pending=factor is not None)
    out = {"labels": chunk.a_labels, "v": state.delta[chunk.p :][chunk.a_slice]}
    if factor is not None:
        zs = _z_system(chunk)
        out["diag"] = _z_factor(chunk, state, factor).diag_inverse()[zs.perm_a]
    return out


def laplace_row_report(chunk: Chunk, state: ChunkState) -> pd.DataFrame:
    """The partition's rows at the modes, indexed by their labels: fitted means, the
    linear predictor (with the offset) and lme4's response, Pearson, deviance and
    working residuals."""
    pb, fam = chunk.problem, chunk.problem.family
    eta = (chunk.system.linear_predictor(state.delta) if state.eta is None
           else state.eta) + pb.offset
    mu = fam.link.inverse(eta)
    raw = pb.y - mu
    return pd.DataFrame({
        "fitted": mu, "linear_predictor": eta, "resid": raw,
        "pearson": raw * np.sqrt(pb.weights / fam.variance(mu)),
        "deviance": np.sign(raw) * np.sqrt(pb.weights * fam.unit_deviance(pb.y, mu)),
        "working": raw / fam.link.mu_eta(eta),
    }, index=chunk.index)
