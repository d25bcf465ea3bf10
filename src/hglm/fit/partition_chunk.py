"""One partition of the rows of a partitioned EQL fit (:mod:`.partitioned`): what a
worker holds and the steps it runs on it.

A :class:`Chunk` is the partition's problem (its rows; the partitioning term A with its
own levels, the other terms with all of theirs) and its system
(:class:`~hglm.engine.partition.PartitionSystem`); it does not change during the fit.
A :class:`ChunkState` is the partition's per-row state: (beta, v) in the chunk's user
order, the linear predictor, and the elimination of the last IWLS solve.  The functions
here are module-level, so that a distributed scheduler can pickle them; each returns
small sums for the client (pieces of the Schur complement, deviance and leverage sums).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..engine import Elimination, NotPositiveDefiniteError, PartitionSystem
from ..spec import Problem
from .diagnostics import Divergence
from .guards import HAT_CEILING, DevianceFloor
from .likelihood import conditional_loglik, random_loglik
from .pirls import PenalizedIRLS
from .random_effects import RandomEffects

Array = np.ndarray


@dataclass
class Chunk:
    """A partition's fixed part.

    Attributes
    ----------
    problem : Problem
        The partition's rows; block ``a_term`` holds its own levels of the partitioning
        term (labels ``a_labels``), the other blocks all levels of their terms.
    a_term : int
    a_labels : list of str
    owner : bool
        The partition that contributes the weights of the other terms' random rows
        (once in the sum).
    index : object
        The labels of the partition's rows in the user's data (the rows used).
    """

    problem: Problem
    a_term: int
    a_labels: list[str]
    owner: bool
    index: object

    def __post_init__(self) -> None:
        pb = self.problem
        self.system = PartitionSystem(
            pb.X, pb.blocks, self.a_term, scaled_weights=pb.is_linear and pb.x_disp is None
        )
        self.effects = RandomEffects(pb)
        self.pirls = PenalizedIRLS(pb, self.system, self.effects, tol=0.0)
        self.p = pb.X.shape[1]
        self.a_slice = self.effects.slices[self.a_term]
        self.n = pb.y.shape[0]

    def __getstate__(self) -> dict:
        return {k: getattr(self, k) for k in ("problem", "a_term", "a_labels", "owner", "index")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.__post_init__()

    def dispersions(self, phi: float, lams: Array) -> tuple[Array, Array]:
        """phi of each row and lambda of each random effect of the chunk."""
        return np.full(self.n, phi), np.repeat(lams, self.effects.sizes)

    def user_delta(self, x_b: Array, v_a: Array) -> Array:
        """(beta, v) in the chunk's user order from the B part and A's effects."""
        x = np.empty(self.p + self.system.q)
        x[self.system.perm_b] = x_b
        x[self.system.perm_a] = v_a
        return x


@dataclass
class ChunkState:
    """A partition's per-row state: delta = (beta, v) in the chunk's user order, eta =
    X beta + Z v (no offset), the elimination of the last solve and its A-row weights,
    and the elimination pending for the next solve."""

    delta: Array
    eta: Array
    solved: Elimination | None = None
    solved_w: tuple[Array, Array] | None = None
    pending: Elimination | None = None
    pending_w: tuple[Array, Array] | None = None


def start_state(chunk: Chunk, x_b: Array, v_a: float) -> ChunkState:
    """The state at the B part ``x_b`` with every A effect at ``v_a``."""
    delta = chunk.user_delta(x_b, np.full(chunk.system.q_a, v_a))
    return ChunkState(delta, chunk.system.linear_predictor(delta))


def glm_sums(chunk: Chunk, coef: Array | None) -> tuple[Array, Array, float]:
    """X'WX, X'Wz and the deviance of the GLM without random effects at ``coef`` (None:
    at the family's starting means), one IRLS step's sums."""
    pb, fam = chunk.problem, chunk.problem.family
    if coef is None:
        mu = fam.clip_mu(fam.mustart(pb.y, pb.weights))
        eta = fam.link.link(mu)
        mu_eta = fam.link.mu_eta(eta)
    else:
        eta = pb.X @ coef + pb.offset
        mean, mu_eta = fam.link.inverse_and_mu_eta(eta)
        mu = fam.clip_mu(mean)
    ww = pb.weights * mu_eta**2 / fam.variance(mu)
    z = eta - pb.offset + (pb.y - mu) / mu_eta
    dev = float(np.sum(pb.weights * fam.unit_deviance(pb.y, mu)))
    return pb.X.T @ (ww[:, None] * pb.X), pb.X.T @ (ww * z), dev


def eliminate(
    chunk: Chunk, state: ChunkState, phi: float, lams: Array
) -> tuple[ChunkState, dict]:
    """The partition's piece of the IWLS step at ``state`` (the elimination kept as
    pending); the owner adds the other terms' random rows and reports their weights."""
    phi_rows, lam = chunk.dispersions(phi, lams)
    w1, z1, w2, z2 = chunk.pirls.working(state.delta, state.eta, phi_rows, lam)
    if not (np.all(np.isfinite(w1)) and np.all(np.isfinite(w2))):
        raise Divergence("non-finite IWLS weights")
    w2_piece = w2.copy()
    if not chunk.owner:
        w2_piece[: chunk.a_slice.start] = 0.0
        w2_piece[chunk.a_slice.stop :] = 0.0
    try:
        elim = chunk.system.eliminate(w1, w2_piece, z1, z2)
    except NotPositiveDefiniteError as exc:
        raise Divergence(str(exc)) from exc
    new = ChunkState(state.delta, state.eta, state.solved, state.solved_w, elim, (w1, w2))
    b_rows = chunk.system.perm_b[chunk.system.perm_b >= chunk.p] - chunk.p
    out = {"S": elim.S, "s": elim.s, "w2_b": w2[b_rows] if chunk.owner else None}
    return new, out


def update(
    chunk: Chunk, state: ChunkState, x_b: Array, phi: float, lams: Array, next_piece: bool
) -> tuple[ChunkState, dict]:
    """Back-substitution of the solve ``x_b`` on the pending elimination: the new
    (beta, v) and eta, the squared change of eta and its squared length; then, when
    ``next_piece``, the piece of the next step (:func:`eliminate`)."""
    delta = chunk.system.back_substitute(state.pending, x_b)
    if not np.all(np.isfinite(delta)):
        raise Divergence("non-finite IWLS solution")
    eta = chunk.system.linear_predictor(delta)
    sums = {"change": float(np.sum((eta - state.eta) ** 2)), "size": float(np.sum(eta**2))}
    new = ChunkState(delta, eta, state.pending, state.pending_w)
    if not next_piece:
        return new, sums
    new, piece = eliminate(chunk, new, phi, lams)
    return new, {**sums, **piece}


def round_sums(
    chunk: Chunk,
    state: ChunkState,
    previous: ChunkState | None,
    chol: Array,
    s_inverse: Array,
    phi: float,
    lams: Array,
    floor_mode: str,
) -> dict:
    """What the end of a round needs from the partition: the deviance sums of the
    observations and of A's effects (raw and floored), A's leverage sum from the factor
    of the last solve, and the change of eta since the ``previous`` round."""
    pb, p = chunk.problem, chunk.p
    floor = DevianceFloor(floor_mode)
    phi_rows, lam = chunk.dispersions(phi, lams)
    mean = chunk.pirls.mean(state.eta)[0]
    dev_obs = pb.weights * pb.family.unit_deviance(pb.y, pb.family.clip_mu(mean))
    v = state.delta[p:]
    sl = chunk.a_slice
    u_a = pb.terms[chunk.a_term].family.link.inverse(v[sl])
    dev_a = pb.terms[chunk.a_term].family.deviance(u_a)
    weights = np.zeros_like(state.solved_w[1])
    weights[sl] = state.solved_w[1][sl]
    factor = chunk.system.factor(state.solved, chol, s_inverse)
    a_leverage = float(factor.weighted_diag_sums(weights, [sl])[0])
    change = np.nan if previous is None else float(np.sum((state.eta - previous.eta) ** 2))
    return {
        "dev_obs": float(np.sum(dev_obs)),
        "dev_obs_floored": float(np.sum(np.maximum(dev_obs, floor.at(phi_rows)))),
        "dev_a": float(np.sum(dev_a)),
        "dev_a_floored": float(np.sum(np.maximum(dev_a, floor.at(lam[sl])))),
        "a_leverage": a_leverage,
        "change": change,
        "size": float(np.sum(state.eta**2)),
    }


def likelihood_sums(chunk: Chunk, state: ChunkState, phi: float, lams: Array) -> dict:
    """The partition's pieces of the likelihoods at the final estimates: log f(y|v),
    log f(v_A), and the elimination at the final weights (its log det D and piece)."""
    pb = chunk.problem
    phi_rows, lam = chunk.dispersions(phi, lams)
    mean = chunk.pirls.mean(state.eta)[0]
    mu = pb.family.clip_mu(mean)
    sl = chunk.a_slice
    fresh, piece = eliminate(chunk, state, phi, lams)
    return {
        "cond": conditional_loglik(pb.y, mu, pb.family, phi_rows, pb.weights),
        "rand_a": random_loglik(
            state.delta[chunk.p :][sl], pb.terms[chunk.a_term].family, lam[sl]
        ),
        "logdet_d": fresh.pending.logdet_d,
        **piece,
    }


def level_report(chunk: Chunk, state: ChunkState, chol: Array, s_inverse: Array) -> dict:
    """A's effects of the partition at the end: labels, v and diag(C^{-1}) (from the
    factor of the last solve)."""
    factor = chunk.system.factor(state.solved, chol, s_inverse)
    return {
        "labels": chunk.a_labels,
        "v": state.delta[chunk.p :][chunk.a_slice],
        "diag": factor.diag_inverse()[chunk.system.perm_a],
    }


def row_report(
    chunk: Chunk,
    state: ChunkState,
    chol: Array,
    s_inverse: Array,
    phi: float,
    scale: float,
    floor_mode: str,
) -> pd.DataFrame:
    """The partition's rows at the end, indexed by their labels: the means, the linear
    predictor (with the offset), the deviance components (floored), the leverages
    (from the factor of the last solve) and R's studentized residuals
    (y - mu) / ``scale`` / sqrt(1 - h)."""
    pb = chunk.problem
    factor = chunk.system.factor(state.solved, chol, s_inverse)
    w1 = state.solved_w[0]
    hat = np.minimum(w1 * factor.rows_quadform(), HAT_CEILING)
    mu = pb.family.clip_mu(chunk.pirls.mean(state.eta)[0])
    dev = pb.weights * pb.family.unit_deviance(pb.y, mu)
    dev = np.maximum(dev, DevianceFloor(floor_mode).at(np.full(chunk.n, phi)))
    return pd.DataFrame(
        {
            "fitted": mu,
            "linear_predictor": state.eta + pb.offset,
            "deviances": dev,
            "hat_values": hat,
            "resid": (pb.y - mu) / scale / np.sqrt(1.0 - hat),
        },
        index=chunk.index,
    )
