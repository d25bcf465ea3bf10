"""Exact ML/REML of a linear mixed model whose rows are partitioned by the grouping
factor of one scalar random term A (:mod:`.partition_lmm`: what a partition runs).

The profiled deviance of :mod:`.lmm` at theta, with B = (the other terms' effects, beta)
in the partition system's order (m = p + their levels), A's levels eliminated
partition by partition and sigma^2 profiled out:

    S   = R'WR + diag(Lambda_B^{-1}, 0) - sum_p E_p' D_p^{-1} E_p,     (m x m)
    s   = R'Wy0 - sum_p E_p' D_p^{-1} r_Ap,       x_B = S^{-1} s,
    r^2 = y0'Wy0 - sum_p r_Ap' D_p^{-1} r_Ap - s'x_B,
    log|D| = sum_p log|D_p| + log|S_zz|,  log|C| = sum_p log|D_p| + log|S|,

(S_zz: S's block of the other terms' effects, whose Cholesky factor is the leading
block of S's), with y0 = y - offset - X beta0 (beta0 from a first pass) and
D_p = diag(Z_A'WZ_A)_p + I / lam_A.  The gradient's traces and penalties need, beyond
S^{-1}, only T = sum_p E_p' D_p^{-2} E_p and t = sum_p E_p' D_p^{-2} r_Ap:

    tr(C^{-1}_AA) = sum_p tr(D_p^{-1}) + tr(S^{-1} T),
    |v_A|^2 = sum_p r_Ap' D_p^{-2} r_Ap - 2 x_B't + x_B'T x_B,

and for ML the fixed effects' correction of A, tr(Cxx^{-1} S^{-1}_{x,:} T S^{-1}_{:,x}).
So one evaluation (objective and gradient) is one pass over the partitions, each
computing two m x m matrices, summed pairwise where the partitions live
(``Partitions.total``); A's effects and every row stay on the workers, and the client
holds a few m x m matrices and vectors of length m; A's effects stay there too (the
fit's ``v`` and ``cond_var`` are NaN at them; :meth:`~PartitionedProfiledDeviance.level_reports`
computes them lazily, partition by partition).  The
optimizer is the in-memory one (:func:`.lmm.minimize_profiled`: the fixed-point map,
then L-BFGS-B), so the fit takes the in-memory fit's steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import linalg

from ..engine import schur_cholesky, schur_inverse
from ..spec import Problem
from .lmm import converged_at, minimize_profiled
from .lmm_result import LMMFit
from .partition_lmm import (
    design_sums,
    level_statistics,
    lmm_level_report,
    lmm_pieces,
    lmm_row_report,
    statistic_sums,
)
from .partitioned_model import PartitionedModel, Partitions
from .partitioned_modes import summed
from .profiled_state import ProfiledCore
from .theta import THETA_FLOOR, ThetaLayout

Array = np.ndarray


@dataclass
class PartitionedLMMState(ProfiledCore):
    """The profiled deviance at one theta on partitions.

    ``delta`` is (beta, the other terms' effects): A's effects are on the partitions;
    ``factor`` the Cholesky factor (lower) of S.
    """

    x_b: Array = field(repr=False)
    pieces: dict = field(repr=False)
    gradient: Array | None = field(default=None, repr=False)


class PartitionedProfiledDeviance:
    """The ML or REML profiled deviance of a partitioned LMM as a function of theta
    (the interface of :class:`.profiled_deviance.ProfiledDeviance` that the optimizer
    and the profile use).

    Parameters
    ----------
    model : PartitionedModel
    layout : ThetaLayout
        Of the model's (scalar) terms.
    parts : Partitions
    reml : bool
    persist : bool
        Keep each partition's level statistics where it lives (True), or recompute
        them at every pass (the partitions are read again).
    """

    def __init__(self, model: PartitionedModel, layout: ThetaLayout, parts: Partitions,
                 reml: bool, persist: bool = True) -> None:
        self.model, self.layout, self.parts, self.reml = model, layout, parts, reml
        self.p, self.a = model.p, model.a_term
        self.sizes = np.array(model.sizes)
        design = parts.total(design_sums, None)
        self.n = int(design["n"])
        self.dof = self.n - self.p if reml else self.n
        self.constant = self.dof * (1.0 + np.log(2.0 * np.pi / self.dof)) - design["log_w"]
        self.F = design["F"]
        m = self.F.shape[0]
        self.m_z = m - self.p
        x = slice(self.m_z, m)
        self.beta0 = (linalg.solve(self.F[x, x], design["r_b"][x], assume_a="pos")
                      if self.p else np.zeros(0))
        if persist:
            self.stats, sums = parts.advance(level_statistics, None, self.beta0)
        else:
            self.stats, sums = None, [parts.total(statistic_sums, None, self.beta0)]
        self.r_b, self.yy = summed(sums, "r_b"), summed(sums, "yy")
        self.b_term = np.repeat(np.array(model.other_terms, dtype=np.int64),
                                self.sizes[model.other_terms])
        self.n_eval = 0
        self._last: PartitionedLMMState | None = None

    @property
    def system_size(self) -> int:
        """The order of the client's factorization (BLAS threads)."""
        return int(self.F.shape[0])

    def state(self, theta: Array) -> PartitionedLMMState:
        """Everything at ``theta`` (kept for the last theta asked for): one pass."""
        theta = np.asarray(theta, dtype=float)
        if self._last is not None and np.array_equal(self._last.theta, theta):
            return self._last
        self.n_eval += 1
        lam = np.maximum(theta, THETA_FLOOR) ** 2
        pieces = self.parts.total(lmm_pieces, self.stats, self.beta0, float(lam[self.a]))
        S = self.F - pieces["G"]
        S[np.arange(self.m_z), np.arange(self.m_z)] += 1.0 / lam[self.b_term]
        chol = schur_cholesky(S)
        s = self.r_b - pieces["e"]
        x_b = linalg.cho_solve((chol, True), s)
        r2 = float(self.yy - pieces["rr"] - s @ x_b)
        log_diag = np.log(np.diag(chol))
        logdet_s, logdet_z = 2.0 * np.sum(log_diag), 2.0 * np.sum(log_diag[: self.m_z])
        objective = (pieces["logdet"] + logdet_z + float(np.sum(self.sizes * np.log(lam)))
                     + self.dof * np.log(r2) + self.constant)
        if self.reml:
            objective += logdet_s - logdet_z
        delta = np.concatenate([self.beta0 + x_b[self.m_z :], x_b[: self.m_z]])
        self._last = PartitionedLMMState(
            theta.copy(), delta, chol, r2, float(objective), r2 / self.dof,
            self._penalty_sums(x_b, pieces, lam), lam, x_b, pieces)
        return self._last

    def objective(self, theta: Array) -> float:
        """-2 log-likelihood (ML) or the REML criterion at ``theta``."""
        return self.state(theta).objective

    def _penalty_sums(self, x_b: Array, pieces: dict, lam: Array) -> Array:
        """S_k = |v_k|^2 / lam_k per term (A's from T and t, module docstring)."""
        out = np.empty(len(self.sizes))
        for k, sl in zip(self.model.other_terms, self.model.b_slices(), strict=True):
            out[k] = float(np.sum(x_b[sl] ** 2)) / lam[k]
        v_a2 = pieces["rr2"] - 2.0 * x_b @ pieces["t"] + x_b @ pieces["T"] @ x_b
        out[self.a] = float(v_a2) / lam[self.a]
        return out

    def gradient(self, theta: Array) -> Array:
        """The derivative of :meth:`objective` in theta (:mod:`.lmm`'s formula)."""
        st = self.state(theta)
        if st.gradient is None:
            s_inv = schur_inverse(st.factor)
            traces = self._traces(s_inv, st.pieces)
            d_lam = (self.sizes - traces / st.lam - st.penalty_sums / st.sigma2) / st.lam
            # d/d theta = 2 theta d/d lam; at the floor the value does not move with theta
            st.gradient = np.where(st.theta > THETA_FLOOR, 2.0 * st.theta * d_lam, 0.0)
        return st.gradient

    def _traces(self, s_inv: Array, pieces: dict) -> Array:
        """tr(M^{-1}) over each term's effects, M = C (REML) or D (ML)."""
        out = np.empty(len(self.sizes))
        T = pieces["T"]
        for k, sl in zip(self.model.other_terms, self.model.b_slices(), strict=True):
            out[k] = float(np.trace(s_inv[sl, sl]))
        out[self.a] = pieces["trace"] + float(np.sum(s_inv * T))
        if self.reml or self.p == 0:
            return out
        sx = s_inv[:, self.m_z :]
        msx = linalg.solve(sx[self.m_z :], sx.T, assume_a="pos")  # Cxx^{-1} S^{-1}_{x,:}
        for k, sl in zip(self.model.other_terms, self.model.b_slices(), strict=True):
            out[k] -= float(np.einsum("jr,rj->", sx[sl], msx[:, sl]))
        out[self.a] -= float(np.sum((msx @ T) * sx.T))
        return out

    def fixed_columns(self, factor: Array) -> tuple[None, Array]:
        """(None, C^{-1}_xx) from the factor of S (the profile reads the second)."""
        return None, schur_inverse(factor)[self.m_z :, self.m_z :]

    def conditional_covariance(self, st: PartitionedLMMState) -> Array:
        """K = S^{-1} less its fixed effects' correction: diag(D^{-1}) of B is its
        diagonal, and A's is d + d^2 e_l'K e_l on each partition."""
        s_inv = schur_inverse(st.factor)
        if not self.p:
            return s_inv
        sx = s_inv[:, self.m_z :]
        return s_inv - sx @ linalg.solve(sx[self.m_z :], sx.T, assume_a="pos")

    def random_effects(self, st: PartitionedLMMState) -> tuple[Array, Array]:
        """Every term's conditional modes and diag(D^{-1}) (term order), NaN at A's
        effects, which stay on the partitions (:meth:`level_reports`)."""
        md = self.model
        diag_b = np.diag(self.conditional_covariance(st))
        v_terms: list[Array] = [np.empty(0)] * len(md.sizes)
        d_terms: list[Array] = [np.empty(0)] * len(md.sizes)
        for k, sl in zip(md.other_terms, md.b_slices(), strict=True):
            v_terms[k], d_terms[k] = st.x_b[sl], diag_b[sl]
        v_terms[self.a] = d_terms[self.a] = np.full(md.sizes[self.a], np.nan)
        return np.concatenate(v_terms), np.concatenate(d_terms)

    def level_reports(self, theta: Array) -> list:
        """A's conditional modes and diag(D^{-1}) at ``theta``, lazy, one report per
        partition (:func:`.partition_lmm.lmm_level_report`, ``Partitions.frames``)."""
        st = self.state(theta)
        stats = [None] * len(self.parts) if self.stats is None else self.stats
        K = self.parts.share(self.conditional_covariance(st))
        return self.parts.frames(lmm_level_report, stats, self.beta0, float(st.lam[self.a]),
                                 st.x_b, K)

    def row_parts(self, theta: Array) -> list:
        """The partitions' rows at ``theta`` (:func:`.partition_lmm.lmm_row_report`),
        lazy, one per partition (``Partitions.frames``)."""
        st = self.state(theta)
        stats = [None] * len(self.parts) if self.stats is None else self.stats
        return self.parts.frames(lmm_row_report, stats, self.beta0, float(st.lam[self.a]),
                                 st.x_b)


def fit_partitioned_lmm(problem: Problem, model: PartitionedModel, parts: Partitions,
                        reml: bool = True, start: Array | None = None,
                        persist: bool = True, maxiter: int = 1000) -> LMMFit:
    """Fit a linear mixed model by ML or REML on partitioned rows.

    Parameters
    ----------
    problem : Problem
        The model's description (family, terms, blocks with each term's number of
        levels); its arrays of rows are not read.
    model : PartitionedModel
    parts : Partitions
    reml : bool
    start : ndarray, optional
        Starting theta in the model's order of the terms (default 1 each, lme4's).
    persist : bool
        Keep the partitions' level statistics on the workers between passes.
    maxiter : int
        As for :func:`.lmm.fit_lmm`.

    Returns
    -------
    LMMFit
        Its ``deviance`` is the :class:`PartitionedProfiledDeviance` (profiles; A's
        effects by its ``level_reports``); ``v`` and ``cond_var`` are NaN at A's
        effects.
    """
    layout = ThetaLayout(problem)
    dev = PartitionedProfiledDeviance(model, layout, parts, reml, persist)
    res, theta = minimize_profiled(dev, start, maxiter)
    st = dev.state(res.x)
    v, d = dev.random_effects(st)
    _, cxx = dev.fixed_columns(st.factor)
    return LMMFit(
        problem=problem, reml=reml, theta=theta,
        covariances=layout.covariances_of(theta, st.sigma2), sigma2=st.sigma2,
        beta=st.delta[: dev.p].copy(), v=v, vcov_beta=st.sigma2 * cxx,
        cond_var=st.sigma2 * d, objective=st.objective, n_eval=dev.n_eval,
        converged=converged_at(res, layout.bounded), message=str(res.message),
        singular=layout.singular(theta), deviance=dev,
    )
