"""The Laplace deviance of a GLMM whose rows are partitioned by the grouping factor of
one scalar random term A (:mod:`.partition_laplace`: what a partition runs).

The same function of x = (log sd, beta) as :class:`.laplace.LaplaceDeviance` ("ML"), or
of the log sds with beta at the joint mode ("nAGQ0"), with the sums over rows taken
partition by partition, so that :mod:`.glmm`'s stages optimise it as they optimise the
in-memory one.  The conditional modes (:mod:`.partitioned_modes`) are penalized IRLS
with one pass per step: each
partition eliminates its levels of A and returns its m x m piece of the Schur complement
S (m = p + the other terms' levels); the client solves for B = (the other terms' v,
beta), with beta held (S_zz x_z = s_z - S_zx beta) or not, and each partition recovers
its v_A and linear predictor, which stay on it, warm-starting the next evaluation.  The
step after the last solve leaves the elimination at the mode, whence

    -2 log L = sum_p [-2 log f(y_p | v)] - 2 log f(v) + log|D| - q log(2 pi),
    log|D|   = sum_p log|D_p| + log|S_zz|,

D_p the partition's block of A's levels, S_zz the leading (random) block of S.  The
gradient is :mod:`.laplace`'s, two more passes (:mod:`.partition_laplace`).  The
fixed effects' covariance at the mode is the beta block of S^{-1}.  A's effects and
their conditional variances never leave the partitions during the fit (the mode's
``delta`` and :meth:`~PartitionedLaplaceDeviance.random_factor` are NaN at them);
:meth:`~PartitionedLaplaceDeviance.level_reports` computes them lazily at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import linalg

from ..engine import NotPositiveDefiniteError, schur_inverse
from ..spec import Problem
from .diagnostics import Divergence
from .glmm import fit_laplace_stages
from .glmm_result import GLMMFit
from .kept_states import KeptStates
from .likelihood import LOG_2PI, random_loglik
from .outer_parameters import OuterParameters
from .partition_laplace import (
    column_max,
    gradient_first,
    gradient_second,
    laplace_level_report,
)
from .partitioned_model import PartitionedModel, Partitions
from .partitioned_modes import PartitionedModes, summed

Array = np.ndarray


@dataclass
class PartitionedMode:
    """A conditional mode whose effects of A are on the partitions: the partitions'
    states, beta and x_B (the other terms' v, then beta); ``delta`` = (beta, v) in the
    model's order, NaN at A's effects (they stay on the partitions)."""

    states: list
    beta: Array
    x_b: Array
    lam: Array
    deviance: PartitionedLaplaceDeviance = field(repr=False)

    @property
    def delta(self) -> Array:
        dev = self.deviance
        v_a = np.full(dev.sizes[dev.model.a_term], np.nan)
        return np.concatenate([self.beta, dev.term_order(self.x_b, v_a)])


@dataclass
class PartitionedLaplaceState:
    """The deviance at one x (``objective`` inf, ``mode`` None where the mode or the
    factorization failed); ``chol`` the Cholesky factor of S at the mode, ``sums`` the
    partitions' summed pieces there."""

    x: Array
    objective: float
    mode: PartitionedMode | None = None
    lam: Array | None = None
    chol: Array | None = None
    sums: dict | None = field(default=None, repr=False)
    gradient: Array | None = field(default=None, repr=False)


class PartitionedLaplaceDeviance(KeptStates):
    """-2 log-likelihood by the Laplace approximation of a partitioned GLMM with scalar
    Gaussian random terms and dispersion 1, as a function of x (the interface of
    :class:`.laplace.LaplaceDeviance` that :mod:`.glmm`'s stages use).

    Parameters
    ----------
    problem : Problem
        The model's description with one row whose X holds each column's largest |x|
        (what :func:`.glmm_stage.step_limits` reads); its blocks have all their levels.
    model : PartitionedModel
    parts : Partitions
    kind : str
        "ML" (beta in x) or "nAGQ0" (beta at the joint mode).
    """

    def __init__(self, problem: Problem, model: PartitionedModel, parts: Partitions,
                 kind: str) -> None:
        if kind not in ("ML", "nAGQ0"):
            raise ValueError(f"kind: 'ML' or 'nAGQ0', got {kind!r}")
        self.pb, self.model, self.parts, self.kind = problem, model, parts, kind
        self.params = OuterParameters(problem, beta_outer=kind == "ML")
        self.modes = PartitionedModes(model, parts)
        self.density = None
        self.sizes = np.array(model.sizes)
        ends = np.cumsum(self.sizes)
        self.slices = [slice(int(e - s), int(e)) for s, e in zip(self.sizes, ends, strict=True)]
        self.q = int(ends[-1])
        self.m_z = self.q - self.sizes[model.a_term]
        self.n_eval = 0

    @property
    def analytic_gradient(self) -> bool:
        """The gradient is analytic for "ML" (the nAGQ0 stage needs only values)."""
        return self.kind == "ML"

    def mode(self, st: PartitionedLaplaceState) -> PartitionedMode:
        """The state's mode (kept whole: :meth:`.laplace.LaplaceDeviance.mode` forms a
        let-go linear predictor again)."""
        return st.mode

    def start_at(self, x: Array, mode: PartitionedMode) -> None:
        """Start the next IWLS at ``mode`` (the joint mode at x's variances and fixed
        effects), as :meth:`.laplace.LaplaceDeviance.start_at`; the state at x is then
        solved from there (one IWLS pass confirms it)."""
        self.modes.start_at(mode)

    def difference_gradients(self, points: list[Array], base: Array) -> list[Array]:
        """The gradients at ``points``, difference steps from ``base``: :meth:`gradient`
        (on partitions each mode is solved, as in
        :meth:`.laplace.LaplaceDeviance.gradient`)."""
        return [self.gradient(x) for x in points]

    def term_order(self, x_b: Array, v_a: Array) -> Array:
        """v in the model's order of the terms from x_B and A's effects."""
        md = self.model
        parts = [np.empty(0)] * len(md.sizes)
        for k, sl in zip(md.other_terms, md.b_slices(), strict=True):
            parts[k] = x_b[sl]
        parts[md.a_term] = v_a
        return np.concatenate(parts)

    def _evaluate(self, x: Array) -> PartitionedLaplaceState:
        par, md = self.params, self.model
        lam = par.lam(x)
        beta = par.beta(x).copy() if self.kind == "ML" else None
        try:
            states, x_b, chol, sums = self.modes.solve(beta, lam)
        except (Divergence, NotPositiveDefiniteError):
            return PartitionedLaplaceState(x, np.inf)
        rand = sums["rand_a"] + sum(
            random_loglik(x_b[sl], md.terms[k].family, np.full(sl.stop - sl.start, lam[k]))
            for k, sl in zip(md.other_terms, md.b_slices(), strict=True))
        logdet = sums["logdet_d"] + 2.0 * float(np.sum(np.log(np.diag(chol)[: self.m_z])))
        objective = sums["minus_two"] - 2.0 * rand + logdet - self.q * LOG_2PI
        if not np.isfinite(objective):
            return PartitionedLaplaceState(x, np.inf)
        mode = PartitionedMode(states, x_b[self.m_z :].copy(), x_b, lam, self)
        return PartitionedLaplaceState(x, float(objective), mode, lam, chol, sums)

    def _factor_z(self, st: PartitionedLaplaceState) -> tuple[Array, Array]:
        """The Cholesky factor of S_zz (D's Schur complement) and its inverse."""
        chol = np.ascontiguousarray(st.chol[: self.m_z, : self.m_z])
        return chol, schur_inverse(chol)

    def gradient(self, x: Array) -> Array:
        """The analytic gradient ("ML"; zeros where the objective is infinite), two
        passes (:mod:`.partition_laplace`)."""
        st = self.state(x)
        if st.mode is None:
            return np.zeros_like(st.x)
        if st.gradient is None:
            st.gradient = self._gradient(st)
        return st.gradient

    def _gradient(self, st: PartitionedLaplaceState) -> Array:
        par, md = self.params, self.model
        chol_z, inv_z = self._factor_z(st)
        factor = self.parts.share((chol_z, inv_z))
        scratch, firsts = self.parts.advance(_gradient_first, st.mode.states, factor, st.lam)
        a_b = linalg.cho_solve((chol_z, True), summed(firsts, "s"))
        seconds = self.parts.gather(_gradient_second, scratch, factor, st.lam, a_b,
                                    previous=st.mode.states)
        v_b, diag_z = st.mode.x_b[: self.m_z], np.diag(inv_z)
        vv, traces, moved = (np.empty(len(md.sizes)) for _ in range(3))
        for k, sl in zip(md.other_terms, md.b_slices(), strict=True):
            vv[k], traces[k] = v_b[sl] @ v_b[sl], np.sum(diag_z[sl])
            moved[k] = a_b[sl] @ v_b[sl]
        a = md.a_term
        vv[a], traces[a] = st.sums["vv_a"], summed(firsts, "trace_a")
        moved[a] = summed(seconds, "av")
        d_lam = (self.sizes * st.lam - vv - traces + moved) / st.lam**2
        grad = np.zeros(par.size)
        grad[par.sd_slice] = par.sd_gradient(st.x, d_lam)
        if par.n_beta:
            grad[par.beta_slice] = summed(seconds, "xc")
        return grad

    def fixed_covariance(self, x: Array) -> Array:
        """The fixed effects' block of C^{-1} at the mode of ``x`` (that of S^{-1})."""
        st = self.state(x)
        return schur_inverse(st.chol)[self.m_z :, self.m_z :]

    def random_factor(self, x: Array) -> ConditionalVariances:
        """diag(D^{-1}) at the mode of ``x`` (the conditional variances of v), NaN at
        A's effects (on the partitions: :meth:`level_reports`)."""
        st = self.state(x)
        _, inv_z = self._factor_z(st)
        diag_a = np.full(self.sizes[self.model.a_term], np.nan)
        return ConditionalVariances(self.term_order(np.diag(inv_z), diag_a))

    def level_reports(self, theta: Array, beta: Array) -> list:
        """A's conditional modes and variances at the estimates (lme4's ``theta``: the
        sds), lazy, one report per partition
        (:func:`.partition_laplace.laplace_level_report`, ``Partitions.frames``)."""
        st = self.state(self.params.pack(theta, beta, None))
        factor = self.parts.share(self._factor_z(st))
        return self.parts.frames(laplace_level_report, st.mode.states, st.lam, factor)

    def row_states(self, theta: Array, beta: Array) -> list:
        """The partitions' states at the mode of the estimates (lme4's ``theta``: the
        sds), for their per-row reports."""
        return self.state(self.params.pack(theta, beta, None)).mode.states


@dataclass
class ConditionalVariances:
    """diag(D^{-1}) in the model's order (what :mod:`.glmm` reads of a factor)."""

    diag: Array

    def diag_inverse(self) -> Array:
        return self.diag


def fit_partitioned_glmm(problem: Problem, model: PartitionedModel, parts: Partitions,
                         start: dict | None = None, maxiter: int = 100
                         ) -> tuple[GLMMFit, PartitionedLaplaceDeviance]:
    """Fit a binomial or Poisson GLMM (canonical link, scalar Gaussian random terms) by
    the Laplace approximation on partitioned rows: :func:`.glmm.fit_laplace_stages` on
    :class:`PartitionedLaplaceDeviance`.

    Parameters
    ----------
    problem : Problem
        The model's description (family, terms, blocks with each term's number of
        levels); its arrays of rows are not read.
    model : PartitionedModel
    parts : Partitions
    start : dict, optional
        ``{"theta": ...}`` in the model's order of the terms.
    maxiter : int
        As for :func:`.glmm.fit_glmm`.

    Returns
    -------
    GLMMFit, PartitionedLaplaceDeviance
        The fit (``v`` and ``cond_var`` NaN at A's effects) and its Laplace deviance
        (the partitions' states at the estimates:
        :meth:`PartitionedLaplaceDeviance.row_states`; A's effects:
        :meth:`PartitionedLaplaceDeviance.level_reports`).
    """
    one_row = replace(problem, X=column_scale(parts)[None, :], y=np.zeros(1),
                      weights=np.ones(1), offset=np.zeros(1))
    made: dict[str, PartitionedLaplaceDeviance] = {}

    def make(kind: str, density: object) -> PartitionedLaplaceDeviance:
        made[kind] = PartitionedLaplaceDeviance(one_row, model, parts, kind)
        return made[kind]

    fit = fit_laplace_stages(problem, make, start, maxiter)
    return fit, made["ML"]


def column_scale(parts: Partitions) -> Array:
    """The largest |x| of each column of X over the partitions."""
    return np.max(parts.gather(column_max, None), axis=0)


def _gradient_first(chunk: Any, state: Any, factor: tuple, lams: Array) -> tuple:
    return gradient_first(chunk, state, factor, lams)


def _gradient_second(chunk: Any, scratch: Any, state: Any, factor: tuple, lams: Array,
                     a_b: Array) -> dict:
    return gradient_second(chunk, state, scratch, factor, lams, a_b)
