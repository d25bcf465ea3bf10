"""EQL (R's hglm) on rows partitioned by the grouping factor of one random term A.

The same rounds as :mod:`.eql`, with the sums over rows taken partition by partition
(:mod:`.partition_chunk`) and only small objects on the client.  One IWLS step is one
pass: each partition eliminates its own levels of A and returns its m x m piece of the
Schur complement and its m-vector (m = p + the levels of the other terms); the client
sums, factors and solves for B = (v of the other terms, beta) and hands x_B back, from
which each partition recovers its effects of A and its linear predictor.  The end of a
round is one more pass: deviance sums, A's leverage sum (tr(S^{-1} E'diag(c/D^2)E) with
S^{-1} broadcast) and the change of the linear predictor, R's criterion.

Scope: intercept-only log-link random-effect dispersions (their GLMs need sums only),
a residual dispersion that is one value or a gamma GLM with covariates (``x_disp``,
:mod:`.partitioned_dispersion`: one pass per IRLS step) and indicator random terms.  The
iteration (SQUAREM, R's rule) is :mod:`.iteration`'s, on the state (log phi, log
lambda_k), one value per dispersion, or (the dispersion model's coefficients gamma,
log lambda_k): with a log link log phi_i = x_i'gamma, and the squared norms of the
in-memory state (one log phi per row) are gamma'X_d'X_d gamma.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import linalg

from .._warn import warn
from ..engine import schur_cholesky
from .diagnostics import (
    ConvergenceWarning,
    Divergence,
    dominant_term,
    nonconvergence_reason,
    warn_guards,
)
from .dispersion import GLM_FAILURES, DispersionFit, intercept_only_fit
from .eql import Options
from .guards import HAT_CEILING, DevianceFloor
from .iteration import FixedPointIteration
from .likelihood import LOG_2PI, Likelihoods, random_loglik
from .partition_chunk import (
    disp_glm_sums,
    glm_sums,
    likelihood_sums,
    round_sums,
    start_state,
)
from .partitioned_dispersion import fit_partitioned_dispersion
from .partitioned_model import (
    PartitionedFit,
    PartitionedModel,
    PartitionedRound,
    Partitions,
)
from .partitioned_pirls import partitioned_pirls

Array = np.ndarray


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

    def pack(self, phi: float | Array, lams: Array) -> Array:
        """The state: log lambda_k after log phi, or after the dispersion model's
        coefficients, or alone (``fix_disp``)."""
        lams = np.log(lams)
        if self.model.fix_disp is not None:
            return lams
        head = np.asarray(phi) if self.model.disp_gram is not None else [np.log(phi)]
        return np.concatenate([head, lams])

    def multiplicity(self) -> Array:
        """The rows and effects each entry of the state stands for: the in-memory state
        holds log phi once per row and log lambda_k once per effect, and SQUAREM's steps
        depend on its norms."""
        md = self.model
        sizes = np.array(md.sizes, dtype=float)
        if md.fix_disp is not None:
            return sizes
        if md.disp_gram is None:
            return np.concatenate([[float(md.n)], sizes])
        return linalg.block_diag(md.disp_gram, np.diag(sizes))

    def unpack(self, theta: Array) -> tuple[float | Array, Array]:
        """(phi, lambda) of the state: phi one value or the dispersion model's
        coefficients."""
        md = self.model
        if md.fix_disp is not None:
            return float(md.fix_disp), np.exp(theta)
        if md.disp_gram is None:
            return float(np.exp(theta[0])), np.exp(theta[1:])
        p_d = md.disp_gram.shape[0]
        return theta[:p_d].copy(), np.exp(theta[p_d:])

    def describe(self, rnd: PartitionedRound) -> str:
        lams = ", ".join(f"{x:.6g}" for x in rnd.lam_next)
        if np.ndim(rnd.phi_next):
            coef = ", ".join(f"{x:.6g}" for x in rnd.phi_next)
            return f"phi model=({coef})  lambda={lams}"
        return f"phi={rnd.phi_next:.6g}  lambda={lams}"

    # --- start ----------------------------------------------------------------------

    def start(self) -> tuple[Any, float | Array, Array]:
        """The partitions' starting states and (phi0, lambda0) from the GLM without
        random effects, as :func:`~.start.starting_values` (with a dispersion model:
        its coefficients of the constant phi0, log link)."""
        md = self.model
        v0 = [float(t.family.link.link(np.array(t.family.psi))) for t in md.terms]
        coef, dev = self._glm_start(v0)
        if md.fix_disp is not None:
            phi0 = float(md.fix_disp)
        else:
            phi0 = 0.6 * dev / max(md.n - md.p, 1)
            phi0 = phi0 if np.isfinite(phi0) and phi0 > 0 else 1.0
        lam0 = 0.66 * phi0 / len(md.terms) / np.maximum(md.row_norm2, 1e-12)
        x_b = np.concatenate(
            [np.full(md.sizes[k], v0[k]) for k in md.other_terms] + [coef]
        )
        states, _ = self.parts.advance(_start, None, x_b, v0[md.a_term])
        if md.disp_gram is not None:
            coef = np.zeros(md.disp_gram.shape[0])
            coef[md.disp_intercept] = np.log(phi0)
            return states, coef, lam0
        return states, phi0, lam0

    def _glm_start(self, v0: list[float]) -> tuple[Array, float]:
        """The GLM's coefficients given each term's effects at ``v0`` (in the offset) by
        IRLS (normal equations summed over the partitions, R's stopping rule) and its
        deviance there."""
        coef, dev_old = None, np.inf
        for _ in range(100):
            sums = self.parts.gather(_glm_step, None, coef, v0)
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
        states, x_b, chol, s_inverse, w2_b = partitioned_pirls(
            self.parts, self.model, states, phi, lams, self.tol, self.opt.accelerate)
        md = self.model
        previous = None if last is None else last.states
        factor = self.parts.share((chol, s_inverse))
        states, sums = self.parts.advance(
            _round_sums, states, factor, phi, lams, self.opt.dev_floor, previous=previous,
        )
        dev_raw, dev_floored, leverage = self._term_sums(sums, x_b, s_inverse, w2_b, lams)
        guards: set[str] = set()
        obs_raw = sum(s["dev_obs"] for s in sums)
        obs_floored = sum(s["dev_obs_floored"] for s in sums)
        self.floor.note(np.concatenate([[obs_raw], dev_raw]),
                        np.concatenate([[obs_floored], dev_floored]), guards)
        modelled = md.disp_gram is not None
        if modelled:
            obs_sum = float(sum(s["obs_leverage"] for s in sums))
            if any(s["hat_capped"] for s in sums):
                guards.add("Hat-values numerically 1 are replaced by 1 - 1e-8")
        else:
            obs_sum = md.p + self.q - float(np.sum(leverage))
        disp_fit, rand_fits = self._dispersion_fits(obs_floored, obs_sum, dev_floored,
                                                    leverage, guards)
        if modelled:
            disp_fit = self._disp_model_fit(states, factor, phi, lams)
        phi_next = phi if disp_fit is None else (
            disp_fit.coef if modelled else float(disp_fit.fitted[0])
        )
        lam_next = np.array([float(f.fitted[0]) for f in rand_fits])
        if not np.all(np.isfinite(phi_next)) or (not modelled and phi_next <= 0):
            raise Divergence("the residual dispersion left its parameter space")
        if not (np.all(np.isfinite(lam_next)) and np.all(lam_next > 0)):
            raise Divergence("a random-effect dispersion left its parameter space")
        size = sum(s["size"] for s in sums)
        change = np.nan if last is None else sum(s["change"] for s in sums) / max(size, 1e-300)
        return PartitionedRound(
            states, x_b, chol, s_inverse, change, obs_sum, disp_fit, rand_fits, phi_next,
            lam_next, obs_floored + float(np.sum(dev_floored)), phi, lams, guards,
        )

    def _disp_model_fit(
        self, states: Any, factor: Any, phi: Array, lams: Array
    ) -> DispersionFit:
        """The residual dispersion's gamma GLM with covariates, one pass per IRLS step
        (:mod:`.partitioned_dispersion`)."""

        def pass_at(coef: Array | None) -> dict:
            sums = self.parts.gather(_disp_glm_step, states, factor, phi, lams,
                                     self.opt.dev_floor, coef)
            return {"xtwx": sum(s["xtwx"] for s in sums), "xtwz": sum(s["xtwz"] for s in sums),
                    "dev": float(sum(s["dev"] for s in sums)),
                    "valid": all(s["valid"] for s in sums)}

        try:
            return fit_partitioned_dispersion(pass_at)
        except GLM_FAILURES as exc:
            raise Divergence(f"a dispersion GLM failed ({exc})") from exc

    def _term_sums(
        self, sums: list[dict], x_b: Array, s_inverse: Array, w2_b: Array, lams: Array
    ) -> tuple[Array, Array, Array]:
        """Each term's deviance sum (raw and floored) and leverage sum: the other terms'
        from x_B and diag(S^{-1}) on the client, A's from the partitions' sums."""
        md = self.model
        k_terms = len(md.sizes)
        raw, floored, leverage = np.zeros(k_terms), np.zeros(k_terms), np.zeros(k_terms)
        diag = np.diag(s_inverse)
        for k, sl in zip(md.other_terms, md.b_slices(), strict=True):
            fam = md.terms[k].family
            dev = fam.deviance(fam.link.inverse(x_b[sl]))
            raw[k] = float(np.sum(dev))
            floored[k] = float(np.sum(np.maximum(dev, self.floor.at(lams[k]))))
            leverage[k] = float(np.sum(w2_b[sl] * diag[sl]))
        a = md.a_term
        raw[a] = sum(s["dev_a"] for s in sums)
        floored[a] = sum(s["dev_a_floored"] for s in sums)
        leverage[a] = sum(s["a_leverage"] for s in sums)
        return raw, floored, leverage

    def _dispersion_fits(
        self,
        obs_dev: float,
        obs_leverage: float,
        term_dev: Array,
        term_leverage: Array,
        guards: set[str],
    ) -> tuple[DispersionFit | None, list[DispersionFit]]:
        """The intercept-only gamma GLMs of the random-effect dispersions and of the
        residual dispersion (unless it has a model) from the deviance and leverage sums,
        the mean leverages capped as in memory."""
        md = self.model
        counts = np.concatenate([[md.n], md.sizes]).astype(float)
        means = np.concatenate([[obs_leverage], term_leverage]) / counts
        if np.any(means > HAT_CEILING):
            guards.add("Hat-values numerically 1 are replaced by 1 - 1e-8")
        kept = (1.0 - np.minimum(means, HAT_CEILING)) * counts
        disp_fit = None if md.fix_disp is not None or md.disp_gram is not None else (
            intercept_only_fit(obs_dev, kept[:1])
        )
        rand_fits = [intercept_only_fit(term_dev[k], kept[k + 1 : k + 2])
                     for k in range(len(md.sizes))]
        return disp_fit, rand_fits

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


def _glm_step(chunk: Any, state: Any, previous: Any, coef: Array | None,
              v0: list[float]) -> tuple:
    return glm_sums(chunk, coef, v0)


def _round_sums(
    chunk: Any, state: Any, factor: tuple, phi: float | Array, lams: Array,
    floor_mode: str, previous: Any = None,
) -> tuple:
    return round_sums(chunk, state, previous, *factor, phi, lams, floor_mode)


def _disp_glm_step(
    chunk: Any, state: Any, previous: Any, factor: tuple, phi: Array, lams: Array,
    floor_mode: str, coef: Array | None,
) -> dict:
    return disp_glm_sums(chunk, state, *factor, phi, lams, floor_mode, coef)


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
