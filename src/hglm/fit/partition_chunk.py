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
from .dispersion import dispersion_family
from .guards import HAT_CEILING, DevianceFloor
from .likelihood import conditional_loglik, random_loglik
from .pirls import PenalizedIRLS
from .random_effects import RandomEffects
from .start import start_offset

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

    def dispersions(self, phi: float | Array, lams: Array) -> tuple[Array, Array]:
        """phi of each row and lambda of each random effect of the chunk; ``phi`` is one
        value, or the coefficients of the residual-dispersion model (``x_disp``)."""
        lam = np.repeat(lams, self.effects.sizes)
        if np.ndim(phi) == 0:
            return np.full(self.n, float(phi)), lam
        return disp_means(self.problem, np.asarray(phi)), lam

    def user_delta(self, x_b: Array, v_a: Array) -> Array:
        """(beta, v) in the chunk's user order from the B part and A's effects."""
        x = np.empty(self.p + self.system.q)
        x[self.system.perm_b] = x_b
        x[self.system.perm_a] = v_a
        return x


def disp_means(problem: Problem, coef: Array) -> Array:
    """phi_i of the residual-dispersion model at ``coef``, as its gamma GLM fits them."""
    family = dispersion_family(problem.link_disp)
    return family.clip_mu(problem.link_disp.inverse(problem.x_disp @ coef))


@dataclass
class ChunkState:
    """A partition's state: delta = (beta, v) in the chunk's user order and
    ``solved_delta``, the delta of the last solve's elimination; then what is recomputed
    from them when absent (a light state, :meth:`light`): eta = X beta + Z v (no
    offset), the elimination of the last solve and its weights, the elimination pending
    for the next solve (at delta), and the rows of the residual-dispersion GLM
    (responses d / (1 - h) and prior weights (1 - h) / 2)."""

    delta: Array
    eta: Array | None
    solved: Elimination | None = None
    solved_w: tuple[Array, Array] | None = None
    pending: Elimination | None = None
    pending_w: tuple[Array, Array] | None = None
    solved_delta: Array | None = None
    disp_rows: tuple[Array, Array] | None = None

    def light(self) -> ChunkState:
        """The state without its per-row arrays (recomputed by :func:`restore`)."""
        return ChunkState(self.delta, None, solved_delta=self.solved_delta)


def restore(
    chunk: Chunk, state: ChunkState, phi: float | Array, lams: Array, solved: bool = False,
    pending: bool = False, newton: bool = False,
) -> ChunkState:
    """``state`` with eta and, when asked for, the eliminations of the last solve and
    at delta recomputed if absent (the same weights: the dispersions of the round; the
    pending one with Newton's weights in v when ``newton``, as :func:`eliminate`; the
    last solve's is always by the expected information)."""
    eta = chunk.system.linear_predictor(state.delta) if state.eta is None else state.eta
    new = ChunkState(state.delta, eta, state.solved, state.solved_w, state.pending,
                     state.pending_w, state.solved_delta, state.disp_rows)
    if solved and new.solved is None:
        at = chunk.system.linear_predictor(state.solved_delta)
        new.solved, new.solved_w = _elimination(chunk, state.solved_delta, at, phi, lams)
    if pending and new.pending is None:
        new.pending, new.pending_w = _elimination(chunk, state.delta, eta, phi, lams, newton)
    return new


def _elimination(
    chunk: Chunk, delta: Array, eta: Array, phi: float | Array, lams: Array,
    newton: bool = False,
) -> tuple[Elimination, tuple[Array, Array]]:
    fresh, _ = eliminate(chunk, ChunkState(delta, eta), phi, lams, newton)
    return fresh.pending, fresh.pending_w


def start_state(chunk: Chunk, x_b: Array, v_a: float) -> ChunkState:
    """The state at the B part ``x_b`` with every A effect at ``v_a``."""
    delta = chunk.user_delta(x_b, np.full(chunk.system.q_a, v_a))
    return ChunkState(delta, chunk.system.linear_predictor(delta))


def glm_sums(chunk: Chunk, coef: Array | None, v0: list[float]) -> tuple[Array, Array, float]:
    """X'WX, X'Wz and the deviance of the GLM without random effects, each term's effects
    held at ``v0`` (:func:`~.start.start_offset`), at ``coef`` (None: at the family's
    starting means), one IRLS step's sums."""
    pb, fam = chunk.problem, chunk.problem.family
    offset = start_offset(pb, [np.full(w, v) for w, v in zip(chunk.effects.sizes, v0,
                                                             strict=True)])
    if coef is None:
        mu = fam.clip_mu(fam.mustart(pb.y, pb.weights))
        eta = fam.link.link(mu)
        mu_eta = fam.link.mu_eta(eta)
    else:
        eta = pb.X @ coef + offset
        mean, mu_eta = fam.link.inverse_and_mu_eta(eta)
        mu = fam.clip_mu(mean)
    ww = pb.weights * mu_eta**2 / fam.variance(mu)
    z = eta - offset + (pb.y - mu) / mu_eta
    dev = float(np.sum(pb.weights * fam.unit_deviance(pb.y, mu)))
    return pb.X.T @ (ww[:, None] * pb.X), pb.X.T @ (ww * z), dev


def eliminate(
    chunk: Chunk, state: ChunkState, phi: float | Array, lams: Array, newton: bool = False
) -> tuple[ChunkState, dict]:
    """The partition's piece of the IWLS step at ``state`` (the elimination kept as
    pending), with Newton's weights in v when ``newton`` (a random family's
    non-canonical link, :meth:`~.pirls.PenalizedIRLS.working`); the owner adds the other
    terms' random rows and reports their weights."""
    state = restore(chunk, state, phi, lams)
    phi_rows, lam = chunk.dispersions(phi, lams)
    w1, z1, w2, z2 = chunk.pirls.working(state.delta, state.eta, phi_rows, lam,
                                         newton=newton)
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
    new = ChunkState(state.delta, state.eta, state.solved, state.solved_w, elim, (w1, w2),
                     state.solved_delta)
    b_rows = chunk.system.perm_b[chunk.system.perm_b >= chunk.p] - chunk.p
    out = {"S": elim.S, "s": elim.s, "w2_b": w2[b_rows] if chunk.owner else None}
    return new, out


def update(
    chunk: Chunk, state: ChunkState, x_b: Array, phi: float | Array, lams: Array,
    next_piece: bool, newton: bool = False,
) -> tuple[ChunkState, dict]:
    """Back-substitution of the solve ``x_b`` on the pending elimination: the new
    (beta, v) and eta, the squared change of eta and its squared length; then, when
    ``next_piece``, the piece of the next step (:func:`eliminate`; ``newton``: of this
    step and the next, Newton's in v)."""
    state = restore(chunk, state, phi, lams, pending=True, newton=newton)
    delta = chunk.system.back_substitute(state.pending, x_b)
    if not np.all(np.isfinite(delta)):
        raise Divergence("non-finite IWLS solution")
    eta = chunk.system.linear_predictor(delta)
    sums = {"change": float(np.sum((eta - state.eta) ** 2)), "size": float(np.sum(eta**2))}
    new = ChunkState(delta, eta, state.pending, state.pending_w, solved_delta=state.delta)
    if not next_piece:
        return new, sums
    new, piece = eliminate(chunk, new, phi, lams, newton)
    return new, {**sums, **piece}


def observation_rows(
    chunk: Chunk, state: ChunkState, chol: Array, s_inverse: Array, phi_rows: Array,
    floor_mode: str,
) -> tuple[Array, Array, Array, bool]:
    """The rows' means, deviance components (floored at ``phi_rows``) and leverages
    (capped at HAT_CEILING, from the factor of the last solve), and whether a leverage
    was capped."""
    pb = chunk.problem
    factor = chunk.system.factor(state.solved, chol, s_inverse)
    hat = state.solved_w[0] * factor.rows_quadform()
    mu = pb.family.clip_mu(chunk.pirls.mean(state.eta)[0])
    dev = pb.weights * pb.family.unit_deviance(pb.y, mu)
    dev = np.maximum(dev, DevianceFloor(floor_mode).at(phi_rows))
    return mu, dev, np.minimum(hat, HAT_CEILING), bool(np.any(hat > HAT_CEILING))


def round_sums(
    chunk: Chunk,
    state: ChunkState,
    previous: ChunkState | None,
    chol: Array,
    s_inverse: Array,
    phi: float | Array,
    lams: Array,
    floor_mode: str,
) -> tuple[ChunkState, dict]:
    """What the end of a round needs from the partition: the deviance sums of the
    observations and of A's effects (raw and floored), A's leverage sum from the factor
    of the last solve, and the change of eta since the ``previous`` round.  With a
    residual-dispersion model the state keeps the rows of its gamma GLM
    (:func:`disp_glm_sums`) and the sums hold the observations' leverage sum."""
    pb, p = chunk.problem, chunk.p
    state = restore(chunk, state, phi, lams, solved=True)
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
    change = np.nan
    if previous is not None:
        before = previous.eta
        before = chunk.system.linear_predictor(previous.delta) if before is None else before
        change = float(np.sum((state.eta - before) ** 2))
    sums = {
        "dev_obs": float(np.sum(dev_obs)),
        "dev_obs_floored": float(np.sum(np.maximum(dev_obs, floor.at(phi_rows)))),
        "dev_a": float(np.sum(dev_a)),
        "dev_a_floored": float(np.sum(np.maximum(dev_a, floor.at(lam[sl])))),
        "a_leverage": a_leverage,
        "change": change,
        "size": float(np.sum(state.eta**2)),
    }
    if pb.x_disp is not None:
        _, dev, hat, capped = observation_rows(chunk, state, chol, s_inverse, phi_rows,
                                               floor_mode)
        state.disp_rows = (dev / (1.0 - hat), (1.0 - hat) / 2.0)
        sums.update(obs_leverage=float(np.sum(hat)), hat_capped=capped)
    return state, sums


def disp_glm_sums(
    chunk: Chunk, state: ChunkState, chol: Array, s_inverse: Array, phi: Array,
    lams: Array, floor_mode: str, coef: Array | None,
) -> dict:
    """One IRLS step's sums of the residual dispersion's gamma GLM (as
    :func:`~.glm.fit_glm`): at ``coef`` (None: at its starting means, the responses),
    X_d'WX_d, X_d'Wz, the deviance and whether the means are valid.  Its rows
    (:func:`round_sums`) are recomputed at the round's dispersions ``phi`` when the
    state is light."""
    pb = chunk.problem
    if state.disp_rows is None:
        state = restore(chunk, state, phi, lams, solved=True)
        phi_rows = chunk.dispersions(phi, lams)[0]
        _, dev, hat, _ = observation_rows(chunk, state, chol, s_inverse, phi_rows, floor_mode)
        state.disp_rows = (dev / (1.0 - hat), (1.0 - hat) / 2.0)
    y, w = state.disp_rows
    fam, X = dispersion_family(pb.link_disp), pb.x_disp
    if coef is None:
        mu = fam.clip_mu(fam.mustart(y, w))
        eta = fam.link.link(mu)
        mean, mu_eta = mu, fam.link.mu_eta(eta)
    else:
        eta = X @ coef
        with np.errstate(all="ignore"):
            mean, mu_eta = fam.link.inverse_and_mu_eta(eta)
        mu = fam.clip_mu(mean)
    with np.errstate(all="ignore"):
        dev = float(np.sum(w * fam.unit_deviance(y, mu)))
        ww = w * mu_eta**2 / fam.variance(mu)
        z = eta + (y - mu) / mu_eta
    valid = bool(np.isfinite(dev) and np.all(np.isfinite(mu_eta)) and np.all(np.isfinite(mean))
                 and np.all(mean > 0))
    return {"xtwx": X.T @ (ww[:, None] * X), "xtwz": X.T @ (ww * z), "dev": dev,
            "valid": valid}


def likelihood_sums(
    chunk: Chunk, state: ChunkState, phi: float | Array, lams: Array
) -> dict:
    """The partition's pieces of the likelihoods at the final estimates: log f(y|v),
    log f(v_A), and the elimination at the final weights (its log det D and piece)."""
    pb = chunk.problem
    state = restore(chunk, state, phi, lams)
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


def level_report(
    chunk: Chunk, state: ChunkState, chol: Array, s_inverse: Array, phi: float | Array,
    lams: Array,
) -> dict:
    """A's effects of the partition at the end: labels, v and diag(C^{-1}) (from the
    factor of the last solve, at the dispersions ``phi``, ``lams`` it was taken at)."""
    state = restore(chunk, state, phi, lams, solved=True)
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
    phi: float | Array,
    lams: Array,
    phi_next: float | Array,
    scale: float,
    floor_mode: str,
) -> pd.DataFrame:
    """The partition's rows at the end, indexed by their labels: the means, the linear
    predictor (with the offset), the deviance components (floored at the dispersions
    ``phi``, ``lams`` of the last round), the leverages (from the factor of its last
    solve), R's studentized residuals (y - mu) / ``scale`` / sqrt(1 - h) and the
    residual dispersions phi_i estimated (``phi_next``)."""
    pb = chunk.problem
    state = restore(chunk, state, phi, lams, solved=True)
    phi_rows = chunk.dispersions(phi, lams)[0]
    mu, dev, hat, _ = observation_rows(chunk, state, chol, s_inverse, phi_rows, floor_mode)
    return pd.DataFrame(
        {
            "fitted": mu,
            "linear_predictor": state.eta + pb.offset,
            "deviances": dev,
            "hat_values": hat,
            "resid": (pb.y - mu) / scale / np.sqrt(1.0 - hat),
            "disp_fitted": chunk.dispersions(phi_next, lams)[0],
        },
        index=chunk.index,
    )
