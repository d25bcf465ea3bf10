"""EQL (R's hglm) on rows partitioned by the grouping factor of one random term A.

The same rounds as :mod:`.eql`, with the sums over rows taken partition by partition
(:mod:`.partition_chunk`) and only small objects on the client.  One IWLS step is one
pass: each partition eliminates its own levels of A and returns its m x m piece of the
Schur complement and its m-vector (m = p + the levels of the other terms); the client
sums, factors and solves for B = (v of the other terms, beta) and hands x_B back, from
which each partition recovers its effects of A and its linear predictor.  The end of a
round is one more pass: deviance sums, A's leverage sum (tr(S^{-1} E'diag(c/D^2)E) with
S^{-1} broadcast) and the change of the linear predictor, R's criterion.

Scope: intercept-only log-link dispersions (the dispersion GLMs need sums only) and
indicator random terms; the iteration (SQUAREM, R's rule) is :mod:`.iteration`'s, on the
state (log phi, log lambda_k), one value per dispersion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from scipy import linalg

from .._warn import warn
from ..engine import NotPositiveDefiniteError, schur_cholesky, schur_inverse
from ..spec import RandomTermModel, ResponseFamily
from .diagnostics import (
    ConvergenceWarning,
    Divergence,
    dominant_term,
    nonconvergence_reason,
    warn_guards,
)
from .dispersion import DispersionFit, intercept_only_fit
from .eql import Options
from .guards import HAT_CEILING, DevianceFloor
from .iteration import FixedPointIteration
from .likelihood import LOG_2PI, Likelihoods, random_loglik
from .partition_chunk import (
    eliminate,
    glm_sums,
    likelihood_sums,
    round_sums,
    start_state,
    update,
)
from .pirls import INNER_MAXIT, remaining_change

Array = np.ndarray


class Partitions(Protocol):
    """The partitions of a model's rows, where :mod:`.partition_chunk`'s functions run.

    ``advance(fn, states, *args)`` runs ``fn(chunk, state, *args) -> (state, sums)`` on
    every partition (``states`` None: state None), keeps the new states where
    the partitions live and returns (their handles, the list of sums).
    ``gather(fn, states, *args, previous=None)`` returns the list of
    ``fn(chunk, state, previous state, *args)`` (states or previous states None:
    None).  ``share(value)`` makes a large argument one object for all partitions."""

    def advance(self, fn: Callable, states: Any, *args: Any) -> tuple[Any, list]: ...

    def gather(self, fn: Callable, states: Any, *args: Any, previous: Any = None) -> list: ...

    def share(self, value: Any) -> Any: ...


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
    """

    n: int
    p: int
    sizes: list[int]
    terms: list[RandomTermModel]
    family: ResponseFamily
    fix_disp: float | None
    a_term: int
    row_norm2: Array

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
    phi_next: float
    lam_next: Array
    dev_total: float
    guards: set[str] = field(default_factory=set)


@dataclass
class PartitionedFit:
    """The result of :func:`fit_partitioned`: the last round, the dispersions, and the
    iteration's record; per-partition results by :meth:`gather`."""

    model: PartitionedModel
    parts: Partitions
    last: PartitionedRound
    phi: float
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

    def gather(self, fn: Callable, *args: Any) -> list:
        """``fn(chunk, state, chol, s_inverse, *args)`` on every partition at the end."""
        last = self.last
        shared = self.parts.share((last.chol, last.s_inverse))
        return self.parts.gather(_with_factor, last.states, fn, shared, *args)


def _with_factor(
    chunk: Any, state: Any, previous: Any, fn: Callable, factor: tuple, *args: Any
) -> Any:
    return fn(chunk, state, *factor, *args)


class PartitionedEQL:
    """The EQL rounds of a partitioned model.

    Parameters
    ----------
    model : PartitionedModel
    parts : Partitions
    options : Options
    """

    def __init__(self, model: PartitionedModel, parts: Partitions, options: Options) -> None:
        self.model = model
        self.parts = parts
        self.opt = options
        self.tol = (
            max(min(options.conv, 1e-7) * 1e-4, 1e-26)
            if options.iwls_tol is None else options.iwls_tol
        )
        self.floor = DevianceFloor(options.dev_floor)
        self.q = int(sum(model.sizes))

    # --- the state of the outer iteration: (log phi, log lambda_k) ------------------

    def pack(self, phi: float, lams: Array) -> Array:
        lams = np.log(lams)
        return lams if self.model.fix_disp is not None else np.concatenate([[np.log(phi)], lams])

    def multiplicity(self) -> Array:
        """The rows and effects each entry of the state stands for: the in-memory state
        holds log phi once per row and log lambda_k once per effect, and SQUAREM's steps
        depend on its norms."""
        sizes = np.array(self.model.sizes, dtype=float)
        if self.model.fix_disp is not None:
            return sizes
        return np.concatenate([[float(self.model.n)], sizes])

    def unpack(self, theta: Array) -> tuple[float, Array]:
        if self.model.fix_disp is not None:
            return float(self.model.fix_disp), np.exp(theta)
        return float(np.exp(theta[0])), np.exp(theta[1:])

    def describe(self, rnd: PartitionedRound) -> str:
        lams = ", ".join(f"{x:.6g}" for x in rnd.lam_next)
        return f"phi={rnd.phi_next:.6g}  lambda={lams}"

    # --- start ----------------------------------------------------------------------

    def start(self) -> tuple[Any, float, Array]:
        """The partitions' starting states and (phi0, lambda0) from the GLM without
        random effects, as :func:`~.start.starting_values`."""
        md = self.model
        coef, dev = self._glm_start()
        if md.fix_disp is not None:
            phi0 = float(md.fix_disp)
        else:
            phi0 = 0.6 * dev / max(md.n - md.p, 1)
            phi0 = phi0 if np.isfinite(phi0) and phi0 > 0 else 1.0
        v0 = [float(t.family.link.link(np.array(t.family.psi))) for t in md.terms]
        lam0 = 0.66 * phi0 / len(md.terms) / np.maximum(md.row_norm2, 1e-12)
        x_b = np.concatenate(
            [np.full(md.sizes[k], v0[k]) for k in md.other_terms] + [coef]
        )
        states, _ = self.parts.advance(_start, None, x_b, v0[md.a_term])
        return states, phi0, lam0

    def _glm_start(self) -> tuple[Array, float]:
        """The GLM's coefficients by IRLS (normal equations summed over the partitions,
        R's stopping rule) and its deviance there."""
        coef, dev_old = None, np.inf
        for _ in range(100):
            sums = self.parts.gather(_glm_step, None, coef)
            xtwx = sum(s[0] for s in sums)
            xtwz = sum(s[1] for s in sums)
            dev = float(sum(s[2] for s in sums))
            if coef is not None and abs(dev - dev_old) / (abs(dev) + 0.1) < 1e-12:
                return coef, dev
            coef, dev_old = linalg.solve(xtwx, xtwz, assume_a="pos"), dev
        return coef, dev_old

    # --- one round -------------------------------------------------------------------

    def round(self, theta: Array, last: PartitionedRound | None, states: Any) -> PartitionedRound:
        """One EQL round at the dispersions ``theta`` from the partitions' ``states``."""
        phi, lams = self.unpack(theta)
        states, x_b, chol, s_inverse, w2_b = self._pirls(states, phi, lams)
        md = self.model
        previous = None if last is None else last.states
        sums = self.parts.gather(
            _round_sums, states, self.parts.share((chol, s_inverse)), phi, lams,
            self.opt.dev_floor, previous=previous,
        )
        guards: set[str] = set()
        diag = np.diag(s_inverse)
        random_sums, raw, floored = np.zeros(len(md.sizes)), [], []
        obs_raw = sum(s["dev_obs"] for s in sums)
        obs_floored = sum(s["dev_obs_floored"] for s in sums)
        for k, sl in zip(md.other_terms, md.b_slices(), strict=True):
            random_sums[k] = float(np.sum(w2_b[sl] * diag[sl]))
            fam = md.terms[k].family
            dev = fam.deviance(fam.link.inverse(x_b[sl]))
            raw.append((k, float(np.sum(dev))))
            floored.append((k, float(np.sum(np.maximum(dev, self.floor.at(lams[k]))))))
        random_sums[md.a_term] = sum(s["a_leverage"] for s in sums)
        raw.append((md.a_term, sum(s["dev_a"] for s in sums)))
        floored.append((md.a_term, sum(s["dev_a_floored"] for s in sums)))
        raw_k = np.array([v for _, v in sorted(raw)])
        floored_k = np.array([v for _, v in sorted(floored)])
        self.floor.note(np.concatenate([[obs_raw], raw_k]),
                        np.concatenate([[obs_floored], floored_k]), guards)
        obs_sum = md.p + self.q - float(np.sum(random_sums))
        sizes = np.array(md.sizes, dtype=float)
        means = np.concatenate([[obs_sum / md.n], random_sums / sizes])
        if np.any(means > HAT_CEILING):
            guards.add("Hat-values numerically 1 are replaced by 1 - 1e-8")
        one_minus = 1.0 - np.minimum(means, HAT_CEILING)
        counts = np.concatenate([[md.n], sizes])
        disp_fit = None if md.fix_disp is not None else intercept_only_fit(
            obs_floored, np.array([one_minus[0] * counts[0]])
        )
        rand_fits = [intercept_only_fit(floored_k[k], np.array([one_minus[k + 1] * sizes[k]]))
                     for k in range(len(md.sizes))]
        phi_next = phi if disp_fit is None else float(disp_fit.fitted[0])
        lam_next = np.array([float(f.fitted[0]) for f in rand_fits])
        if not (np.isfinite(phi_next) and phi_next > 0):
            raise Divergence("the residual dispersion left its parameter space")
        if not (np.all(np.isfinite(lam_next)) and np.all(lam_next > 0)):
            raise Divergence("a random-effect dispersion left its parameter space")
        size = sum(s["size"] for s in sums)
        change = np.nan if last is None else sum(s["change"] for s in sums) / max(size, 1e-300)
        return PartitionedRound(
            states, x_b, chol, s_inverse, change, obs_sum, disp_fit, rand_fits, phi_next,
            lam_next, obs_floored + float(np.sum(floored_k)), guards,
        )

    def _pirls(self, states: Any, phi: float, lams: Array) -> tuple:
        """Penalized IRLS at (phi, lambda), one pass per step: the pieces summed and
        solved on the client, each partition's back-substitution fused with its next
        piece.  Stops by :class:`~.pirls.PenalizedIRLS`'s rule."""
        linear = self.model.is_linear
        states, pieces = self.parts.advance(_eliminate, states, phi, lams)
        previous = np.inf
        for _ in range(INNER_MAXIT):
            S = sum(pc["S"] for pc in pieces)
            s = sum(pc["s"] for pc in pieces)
            w2_b = next(pc["w2_b"] for pc in pieces if pc["w2_b"] is not None)
            try:
                chol = schur_cholesky(S)
            except NotPositiveDefiniteError as exc:
                raise Divergence(str(exc)) from exc
            x_b = linalg.cho_solve((chol, True), s)
            if not np.all(np.isfinite(x_b)):
                raise Divergence("non-finite IWLS solution")
            states, pieces = self.parts.advance(
                _update, states, self.parts.share(x_b), phi, lams, not linear
            )
            change = sum(pc["change"] for pc in pieces)
            bound = self.tol * sum(pc["size"] for pc in pieces) + 1e-300
            accelerated = remaining_change(change, previous) if self.opt.accelerate else np.inf
            if change <= bound or linear or accelerated <= bound:
                s_inverse = schur_inverse(chol)
                return states, x_b, chol, s_inverse, w2_b
            previous = change
        raise Divergence("the IWLS of the augmented GLM did not converge")

    # --- the likelihoods -------------------------------------------------------------

    def likelihoods(self, fit: PartitionedFit) -> Likelihoods:
        """hlik, pvh, pbvh and cAIC as :func:`~.likelihood.fit_likelihoods`: one more
        elimination at the final weights gives log det D and the Schur complement."""
        md = self.model
        sums = self.parts.gather(_likelihood_sums, fit.last.states, fit.phi, fit.lam)
        S = sum(s["S"] for s in sums)
        chol = schur_cholesky(S)
        m_z = S.shape[0] - md.p
        logdet_d = sum(s["logdet_d"] for s in sums)
        log_diag = np.log(np.diag(chol))
        cond = sum(s["cond"] for s in sums)
        rand = sum(s["rand_a"] for s in sums) + sum(
            random_loglik(v, md.terms[k].family, np.full(v.shape, fit.lam[k]))
            for k, v in zip(md.other_terms, fit.other_effects(), strict=True)
        )
        hlik = cond + rand
        logdet_h = logdet_d + 2.0 * float(np.sum(log_diag[:m_z])) - self.q * LOG_2PI
        logdet_a = logdet_d + 2.0 * float(np.sum(log_diag)) - (self.q + md.p) * LOG_2PI
        leverage = fit.last.observation_leverage_sum
        return Likelihoods(
            hlik, hlik - 0.5 * logdet_h, hlik - 0.5 * logdet_a, -2.0 * cond + 2.0 * leverage
        )


def _start(chunk: Any, state: None, x_b: Array, v_a: float) -> tuple[Any, dict]:
    return start_state(chunk, x_b, v_a), {}


def _glm_step(chunk: Any, state: Any, previous: Any, coef: Array | None) -> tuple:
    return glm_sums(chunk, coef)


def _eliminate(chunk: Any, state: Any, phi: float, lams: Array) -> tuple:
    return eliminate(chunk, state, phi, lams)


def _update(chunk: Any, state: Any, x_b: Array, phi: float, lams: Array, nxt: bool) -> tuple:
    return update(chunk, state, x_b, phi, lams, nxt)


def _round_sums(
    chunk: Any, state: Any, previous: Any, factor: tuple, phi: float, lams: Array,
    floor_mode: str,
) -> dict:
    return round_sums(chunk, state, previous, *factor, phi, lams, floor_mode)


def _likelihood_sums(chunk: Any, state: Any, previous: Any, phi: float, lams: Array) -> dict:
    return likelihood_sums(chunk, state, phi, lams)


def fit_partitioned(
    model: PartitionedModel, parts: Partitions, options: Options
) -> tuple[PartitionedFit, PartitionedEQL]:
    """Fit an HGLM by EQL on partitioned rows (see the module docstring).

    Parameters
    ----------
    model : PartitionedModel
    parts : Partitions
    options : Options

    Returns
    -------
    PartitionedFit, PartitionedEQL

    Warns
    -----
    ConvergenceWarning
        When the iteration stops at ``maxit`` or a random term holds nearly all the
        dispersion.
    """
    eql = PartitionedEQL(model, parts, options)
    states0, phi0, lam0 = eql.start()

    def step(theta: Array, last: PartitionedRound | None) -> tuple[PartitionedRound, Array]:
        rnd = eql.round(theta, last, states0 if last is None else last.states)
        return rnd, eql.pack(rnd.phi_next, rnd.lam_next)

    it = FixedPointIteration(
        step, eql.describe, options.conv, options.maxit, options.accelerate, options.verbose,
        relative_change=lambda last, rnd: rnd.relative_change,
        multiplicity=eql.multiplicity(),
    )
    try:
        it.run(eql.pack(phi0, lam0))
    except Divergence as exc:
        raise RuntimeError(
            f"the EQL iteration diverged at round {it.n_iter + 1} ({exc}); try a simpler "
            "model"
        ) from exc
    last = it.last
    warn_guards(last.guards)
    slices = [slice(k, k + 1) for k in range(len(model.sizes))]
    dominant = dominant_term(slices, np.array([last.phi_next]), last.lam_next)
    converged = it.converged and it.n_iter < options.maxit and dominant is None
    if not converged:
        reason = nonconvergence_reason(
            it.n_iter, options.maxit, it.criterion, options.conv, it.settled, dominant
        )
        warn(f"EQL is not converged: {reason}; the estimates are not reliable",
             ConvergenceWarning)
    fit = PartitionedFit(model, parts, last, last.phi_next, last.lam_next, it.n_iter,
                         converged, it.criterion)
    return fit, eql
