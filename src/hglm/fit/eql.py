"""The EQL driver: interconnected GLMs iterated to their fixed point (DESIGN.md).

One *round* maps the dispersions (phi, lambda) to new ones: solve the augmented GLM
for (beta, v) by IWLS, take leverages h and deviance components d, and refit the gamma
dispersion GLMs.  Rounds are iterated until R's criterion
sum((eta_old - eta)^2) < conv * sum(eta^2) holds.  The iteration of the dispersions is
a fixed-point iteration that converges linearly (slowly when a variance component is
poorly determined), so it is accelerated with SQUAREM (Varadhan & Roland 2008) on the
log dispersions; the fixed point, and so every estimate, is unchanged.

The engine sees arrays only: no formulas, names or DataFrames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from .._warn import warn
from ..engine import (
    AugmentedFactor,
    Block,
    Indicator,
    LazyTail,
    MarginalFactor,
    MarginalSolver,
    NotPositiveDefiniteError,
    block_width,
    column_norms,
    make_system,
    precision_deviance,
)
from ..spec import Problem
from .diagnostics import (
    ConvergenceWarning,
    Divergence,
    not_degenerate,
    warn_guards,
    warn_if_collapsed,
    warn_if_terms_collapsed,
)
from .dispersion import DispersionFit, fit_dispersion, intercept_only_fit
from .iteration import FixedPointIteration
from .start import starting_values

Array = np.ndarray

DEV_FLOOR = 1e-8
HAT_CEILING = 1.0 - 1e-8
INNER_MAXIT = 100
# R's stopping rule of the IWLS inside an EQL1 round, sum(d eta^2) < 1e-7 sum(eta^2): the
# EQL1 fixed point depends on it (see EQLFitter.solve_augmented)
EQL1_INNER_TOL = 1e-7


@dataclass
class Options:
    """Controls of the iteration (R's names)."""

    conv: float = 1e-6
    maxit: int = 50
    startval: Array | None = None
    verbose: bool | None | Callable[[str], None] = None
    accelerate: bool = True
    hl_correction: bool = False
    bigrr: bool | None = None
    dev_floor: str = "absolute"


@dataclass
class Round:
    """Everything one EQL round produced."""

    delta: Array
    eta: Array
    mu: Array
    factor: AugmentedFactor
    w1: Array
    w2: Array
    hat: Array
    dev: Array
    disp_fit: DispersionFit | None
    rand_disp_fits: list[DispersionFit]
    phi_next: Array
    lam_next: Array
    guards: set[str] = field(default_factory=set)
    # sum of the n observation leverages (exact: p + q minus the random rows' sum)
    observation_leverage_sum: float = np.nan


@dataclass
class EngineFit:
    """The result of :func:`fit_eql` (arrays only)."""

    problem: Problem
    fitter: EQLFitter
    last: Round
    phi: Array
    lam: Array
    n_iter: int
    converged: bool
    stopped_by_criterion: bool
    criterion: float

    def final_weights(self) -> tuple[Array, Array]:
        """IWLS weights (w1, w2) at the final estimates with the final dispersions."""
        delta = self.last.delta
        w1, _, w2, _ = self.fitter.working(delta, self.last.eta, self.phi, self.lam)
        return w1, w2

    @property
    def beta(self) -> Array:
        return self.last.delta[: self.problem.X.shape[1]]

    @property
    def v(self) -> Array:
        return self.last.delta[self.problem.X.shape[1] :]


class EQLFitter:
    """Runs the EQL rounds of one problem.

    Parameters
    ----------
    problem : Problem
    options : Options
    """

    def __init__(self, problem: Problem, options: Options) -> None:
        self.pb = problem
        self.opt = options
        precisions = [t.precision for t in problem.terms]
        # a Gaussian response with one dispersion: w1 = weights / phi changes by a factor
        scaled = problem.is_linear and problem.x_disp is None
        self.system = make_system(problem.X, problem.blocks, precisions, scaled)
        self.p = problem.X.shape[1]
        self.sizes = [block_width(b) for b in problem.blocks]
        self.term_slices = _slices(self.sizes)
        self.psi = np.concatenate(
            [np.full(w, t.family.psi) for w, t in zip(self.sizes, problem.terms, strict=True)]
        )
        self.inner_tol = max(min(options.conv, 1e-7) * 1e-4, 1e-26)
        self.rounds_done = 0
        self._last_eta: tuple[Array, Array] | None = None
        self._last_mean: tuple[Array, Array, Array] | None = None
        self.marginal = self._marginal_solver()
        self.random_sums_suffice = all(
            t.x_disp is None and t.link_disp.name == "log" for t in problem.terms
        )
        # a random effect whose column of Z is empty has leverage 1 by construction
        nonzero = (
            [~e for e in self.marginal.empty] if self.marginal is not None
            else [_nonzero_columns(b) for b in problem.blocks]
        )
        self.informative_rows = np.concatenate(
            [np.ones(problem.y.shape[0], dtype=bool)] + nonzero
        )
        self.informative_counts = np.array([int(np.sum(nz)) for nz in nonzero])
        self.z_system, self.shift_system = self._correction_systems(precisions)
        self._shift: tuple[Array, Array] | None = None

    def _correction_systems(self, precisions: list) -> tuple[object, object]:
        """The Z-only systems of the EQL1 correction: the fitted design (the
        pseudo-responses' compensation W2^-1 Z'W1 c) and the design K is built from,
        which differs for CAR/SAR terms (their design before the eigen-rotation)."""
        if not self.opt.hl_correction:
            return None, None
        empty = np.zeros((self.pb.y.shape[0], 0))
        fitted = make_system(empty, self.pb.blocks, precisions)
        if all(t.shift_block is None for t in self.pb.terms):
            return fitted, fitted
        blocks = [
            b if t.shift_block is None else t.shift_block
            for b, t in zip(self.pb.blocks, self.pb.terms, strict=True)
        ]
        return fitted, make_system(empty, blocks, precisions)

    def _marginal_solver(self) -> MarginalSolver | None:
        """The n-space solver (bigRR) when asked for; by default when q > 10 n, or when
        dense random designs have more columns than rows (n <= 10,000): it gives the same
        fixed point at the cost of an n x n factorization instead of a q x q one."""
        pb, n, q = self.pb, self.pb.y.shape[0], self.system.q
        eligible = (
            pb.is_linear
            and not self.opt.hl_correction
            and all(t.x_disp is None and t.family.spatial is None and t.precision is None
                    for t in pb.terms)
        )
        dense_only = not any(isinstance(b, Indicator) for b in pb.blocks)
        use = (
            self.opt.bigrr
            if self.opt.bigrr is not None
            else q > 10 * n or (dense_only and q > n and n <= 10_000)
        )
        if use and not eligible:
            if self.opt.bigrr:
                raise ValueError(
                    "bigrr: needs a Gaussian response with Gaussian (non-spatial) random "
                    "effects whose dispersions have no covariates"
                )
            return None
        if not use:
            return None
        return MarginalSolver(pb.X, pb.blocks, pb.y - pb.offset, pb.weights)

    def factorize(self, w1: Array, w2: Array) -> AugmentedFactor | MarginalFactor:
        """The factorization of T'WT for given weights (by the solver in use)."""
        if self.marginal is not None:
            return self.marginal.factorize(w1, w2)
        return self.system.factorize(w1, w2)

    # --- the dispersions as the iteration's state ----------------------------------------

    def pack(self, phi: Array, lam: Array) -> Array:
        """The state of the outer iteration: the log dispersions (log lambda alone when
        phi is fixed)."""
        parts = [np.log(lam)] if self.pb.fix_disp is not None else [np.log(phi), np.log(lam)]
        return np.concatenate(parts)

    def unpack(self, theta: Array) -> tuple[Array, Array]:
        """(phi, lambda) of the state ``theta``."""
        n = self.pb.y.shape[0]
        if self.pb.fix_disp is not None:
            return np.full(n, float(self.pb.fix_disp)), np.exp(theta)
        return np.exp(theta[:n]), np.exp(theta[n:])

    def step(self, theta: Array, delta: Array) -> tuple[Round, Array]:
        """One round at the dispersions ``theta`` started from ``delta``, and its next
        dispersions."""
        phi, lam = self.unpack(theta)
        rnd = self.round(delta, phi, lam)
        return rnd, self.pack(rnd.phi_next, rnd.lam_next)

    def describe(self, rnd: Round) -> str:
        """The dispersions a round estimated, for the progress line."""
        phi = rnd.phi_next
        disp = f"phi={phi[0]:.6g}" if np.ptp(phi) == 0 else f"mean phi={phi.mean():.6g}"
        lams = [float(rnd.lam_next[sl].mean()) for sl in self.term_slices]
        return f"{disp}  lambda={', '.join(f'{x:.6g}' for x in lams)}"

    # --- one round ------------------------------------------------------------------------

    def _random_scale(self, v: Array) -> tuple[Array, Array]:
        """u = v^{-1}(v) and du/dv for all random effects."""
        u = np.empty_like(v)
        du_dv = np.empty_like(v)
        for sl, t in zip(self.term_slices, self.pb.terms, strict=True):
            link = t.family.link
            u[sl] = link.inverse(v[sl])
            du_dv[sl] = link.mu_eta(v[sl])
        return u, du_dv

    def _random_variance(self, u: Array) -> Array:
        out = np.empty_like(u)
        for sl, t in zip(self.term_slices, self.pb.terms, strict=True):
            out[sl] = t.family.variance(u[sl])
        return out

    def _random_deviance(self, u: Array) -> Array:
        out = np.empty_like(u)
        for sl, t in zip(self.term_slices, self.pb.terms, strict=True):
            out[sl] = (
                t.family.deviance(u[sl]) if t.precision is None
                else precision_deviance(t.precision, u[sl])
            )
        return out

    def working(
        self, delta: Array, eta_lin: Array, phi: Array, lam: Array, shift: Array | None = None
    ) -> tuple[Array, Array, Array, Array]:
        """IWLS weights and working responses (w1, z1, w2, z2) at ``delta`` (DESIGN.md,
        step 2); ``eta_lin`` = X beta + Z v.  ``shift``: the EQL1 correction c of the
        working response, if any."""
        pb, fam = self.pb, self.pb.family
        mean, mu_eta = self._mean(eta_lin)
        mu = fam.clip_mu(mean)
        w1 = pb.weights * mu_eta**2 / (fam.variance(mu) * phi)
        z1 = eta_lin + (pb.y - mu) / mu_eta
        v = delta[self.p :]
        u, du_dv = self._random_scale(v)
        w2 = du_dv**2 / (self._random_variance(u) * lam)
        z2 = v + (self.psi - u) / du_dv
        if shift is not None:
            z1 = z1 - shift
            z2 = z2 + self.z_system.z_rmatvec(w1 * shift) / w2
        return w1, z1, w2, z2

    def _mean(self, eta_lin: Array) -> tuple[Array, Array]:
        """g^{-1}(eta) and d mu / d eta at eta = ``eta_lin`` + offset: kept for this very
        array (a round's last linear predictor starts the next round's IWLS)."""
        if self._last_mean is None or self._last_mean[0] is not eta_lin:
            mean, mu_eta = self.pb.family.link.inverse_and_mu_eta(eta_lin + self.pb.offset)
            self._last_mean = (eta_lin, mean, mu_eta)
        return self._last_mean[1], self._last_mean[2]

    def _hl_active(self, rounds_before: int) -> bool:
        """Whether the round after ``rounds_before`` rounds is corrected: EQL1 corrects
        from the third round on (from the first under fix_disp)."""
        if self.z_system is None:
            return False
        return self.pb.fix_disp is not None or rounds_before >= 2

    def _round_shift(self, delta: Array, eta_lin: Array, phi: Array, lam: Array) -> Array:
        """The EQL1 shift of a round starting at ``delta``: the one computed when the
        round that ended at this very array did (with its dispersions); otherwise (the
        first round, or after a rejected extrapolation) the shift at ``delta`` now."""
        if self._shift is not None and self._shift[0] is delta:
            return self._shift[1]
        return self._shift_at(delta, eta_lin, phi, lam)

    def _shift_at(self, delta: Array, eta_lin: Array, phi: Array, lam: Array) -> Array:
        """The HL(1,1) shift c at ``delta`` with dispersions (phi, lam)."""
        w1, _, w2, _ = self.working(delta, eta_lin, phi, lam)
        mu = self.pb.family.clip_mu(self._mean(eta_lin)[0])
        return self._hl_shift(mu, w1, w2)

    def _hl_shift(self, mu: Array, w1: Array, w2: Array) -> Array:
        """The HL(1,1) shift c of the working response (DESIGN.md, "EQL1").

        With K = Z (Z'W1Z + W2)^{-1} Z' and P_i = K_ii W1_i,
        c_i = (P_i W1_i^-2 W1'_i mu'_i - sum_j P_j W1_j^-1 W1'_j mu'_j K_ji) / 2, where
        W1' = dW1/dmu = -W1 (2 g''/g' + V'/V) and mu' = dmu/deta = 1/g'.  Z is each
        term's design as given (``shift_block``: a CAR/SAR term before its rotation),
        paired with the W2 of the fitted effects, as in R's hglm.
        """
        fam = self.pb.family
        g1 = fam.link.deta_dmu(mu)
        dw1 = -w1 * (2.0 * fam.link.d2eta_dmu2(mu) / g1 + fam.dvariance(mu) / fam.variance(mu))
        zs = self.shift_system
        factor = zs.factorize(w1, w2)
        P = factor.rows_quadform() * w1
        a = P / w1 * dw1 / g1
        Ka = zs.z_matvec(factor.solve(zs.z_rmatvec(a)))
        return 0.5 * (P / w1**2 * dw1 / g1 - Ka)

    def solve_augmented(
        self, delta: Array, phi: Array, lam: Array
    ) -> tuple[Array, AugmentedFactor, Array, Array]:
        """IWLS for (beta, v) given the dispersions, warm-started at ``delta``.

        Returns the solution, the factor and weights of the last solve.

        An EQL1 round is R's: its first step is uncorrected, the later ones subtract the
        shift c of the state the previous round ended in, and it stops by R's rule
        (EQL1_INNER_TOL).  The first step moves away from the corrected solution and the
        corrected steps return to within that tolerance, so R's EQL1 fixed point lies
        about 1e-4 (relative) from the solution of the corrected equations; this
        iteration reproduces it (cancer_car_eql1_legacy to 1e-9).
        """
        sysm = self.system
        eta_lin = self._linear_predictor(delta)
        active = self._hl_active(self.rounds_done)
        shift = self._round_shift(delta, eta_lin, phi, lam) if active else None
        inner_tol = self.inner_tol if shift is None else EQL1_INNER_TOL
        previous = np.inf
        for step in range(INNER_MAXIT):
            w1, z1, w2, z2 = self.working(delta, eta_lin, phi, lam, shift if step else None)
            if not (np.all(np.isfinite(w1)) and np.all(np.isfinite(w2))):
                raise Divergence("non-finite IWLS weights")
            try:
                factor = sysm.factorize(w1, w2, trace_weights=self._trace_weights(w2))
            except NotPositiveDefiniteError as exc:
                raise Divergence(str(exc)) from exc
            new = factor.solve(sysm.rhs(w1, z1, w2, z2))
            if not np.all(np.isfinite(new)):
                raise Divergence("non-finite IWLS solution")
            new_eta = sysm.linear_predictor(new)
            change = float(np.sum((new_eta - eta_lin) ** 2))
            delta, eta_lin = new, new_eta
            bound = inner_tol * float(np.sum(eta_lin**2)) + 1e-300
            # an EQL1 round stops by R's rule alone: where it stops is part of its result
            if change <= bound or shift is None and (
                self.pb.is_linear or self._remaining(change, previous) <= bound
            ):
                break
            previous = change
        else:
            raise Divergence("the IWLS of the augmented GLM did not converge")
        self._last_eta = (delta, eta_lin)
        if self._hl_active(self.rounds_done + 1):  # the next round's shift
            self._shift = (delta, self._shift_at(delta, eta_lin, phi, lam))
        return delta, factor, w1, w2

    def _trace_weights(self, w2: Array) -> Array | None:
        """The weights of the round's leverage sums when this factorization is the last
        of its round (a linear problem takes one step), so that their product may be
        formed with it; None otherwise."""
        return w2 if self.random_sums_suffice and self.pb.is_linear else None

    def _linear_predictor(self, delta: Array) -> Array:
        """X beta + Z v at ``delta``: kept from the IWLS that ended at this very array
        (the next round starts from the last round's solution)."""
        if self._last_eta is not None and self._last_eta[0] is delta:
            return self._last_eta[1]
        return self.system.linear_predictor(delta)

    def _remaining(self, change: float, previous: float) -> float:
        """The squared distance still to go after an IWLS step, extrapolated from the last
        two steps (squared lengths ``previous`` and ``change``) as a geometric series:
        with r = |step| / |previous step| < 1/2, the rest is |step| r / (1 - r).  IWLS
        converges quadratically (canonical links) or fast linearly, so once r is small
        the step just taken is within the tolerance of the solution and the step that
        would only confirm it is skipped (accelerated iteration only)."""
        if not self.opt.accelerate or not np.isfinite(previous) or previous <= 0:
            return np.inf
        r = np.sqrt(change / previous)
        return np.inf if r >= 0.5 else change * (r / (1.0 - r)) ** 2

    def _observation_leverages(
        self, factor: AugmentedFactor, w1: Array, hat_random: Array
    ) -> Array:
        """The n observation leverages, or, when the round needs only their sum (an
        intercept-only log-link residual dispersion, or a fixed one), their mean
        everywhere: sum_i h_i = p + q - sum_j h_j, since tr(C^{-1} C) = p + q.  The
        exact values are computed once, for the report (:meth:`exact_leverages`)."""
        pb = self.pb
        only_sum = pb.fix_disp is not None or (pb.x_disp is None and pb.link_disp.name == "log")
        if not only_sum:
            return w1 * factor.rows_quadform()
        n = pb.y.shape[0]
        total = self.p + self.system.q - float(np.sum(hat_random))
        return np.full(n, total / n)

    def _random_leverages(self, factor: AugmentedFactor, w2: Array) -> Array:
        """The q leverages of the random-effect rows, or, when every random term's
        dispersion is intercept-only with a log link, each term's mean leverage
        everywhere: those dispersion fits need only the sums."""
        if not self.random_sums_suffice:
            return factor.random_leverages(w2)
        sums = factor.weighted_diag_sums(w2, self.term_slices)
        # an effect with an empty column has h = 1 exactly (clipped at HAT_CEILING as the
        # exact values are): the mean is over the others, as in the n-space solver
        informative = self.informative_rows[self.pb.y.shape[0] :]
        counts = self.informative_counts
        means = (sums - (np.array(self.sizes) - counts)) / np.maximum(counts, 1)
        return np.where(informative, np.repeat(means, self.sizes), 1.0)

    def exact_leverages(self, rnd: Round) -> LazyTail:
        """The leverages of every row at the last round, for the report, computed on
        first use: the q random effects' own ones with the n-space solver (O(n^2 q)),
        all of them with the augmented solver."""
        if self.marginal is not None:
            return rnd.factor.exact_leverages(HAT_CEILING)
        size = self.pb.y.shape[0] + self.system.q
        # the factor and weights, not the round, which will hold the vector (no cycle)
        compute = partial(_augmented_leverages, rnd.factor, rnd.w1, rnd.w2)
        return LazyTail(np.empty(0), compute, size)

    def _floor_guard(self, raw: Array, floored: Array, guards: set[str]) -> None:
        """Notes in ``guards`` when the deviance floor changed the sum of the deviances of
        the observations or of any random term (``raw``, ``floored``: those sums; the
        dispersion estimates' numerators) by more than 1e-6 relative: a few residuals
        below 1e-4 among many rows are not worth a warning."""
        if np.any(floored - raw > 1e-6 * floored):
            guards.add(
                f"Residuals numerically 0 are replaced by 1e-8 ({self.opt.dev_floor} floor); "
                "this moved a dispersion estimate by more than 1e-6 (relative)"
            )

    def _floor(self, scale: Array) -> Array | float:
        """The deviance floor of rows whose dispersions are ``scale``: 1e-8, or 1e-8 times
        the dispersion (``dev_floor="relative"``)."""
        return DEV_FLOOR if self.opt.dev_floor == "absolute" else DEV_FLOOR * scale

    def _hat_guard(self, hat: Array, guards: set[str]) -> Array:
        if np.any((hat > HAT_CEILING) & self.informative_rows):
            guards.add("Hat-values numerically 1 are replaced by 1 - 1e-8")
        return np.minimum(hat, HAT_CEILING)

    def _groups(self) -> list[slice]:
        """The rows of the observations and of each random term in (n + q)-vectors."""
        n = self.pb.y.shape[0]
        return [slice(0, n)] + [slice(n + sl.start, n + sl.stop) for sl in self.term_slices]

    def _mean_and_deviance(self, eta: Array) -> tuple[Array, Array]:
        pb = self.pb
        mu = pb.family.clip_mu(self._mean(eta)[0])
        return mu, pb.weights * pb.family.unit_deviance(pb.y, mu)

    def round(self, delta: Array, phi: Array, lam: Array) -> Round:
        """One EQL round (DESIGN.md, steps 2-5)."""
        if self.marginal is not None:
            return self._marginal_round(phi, lam)
        delta, factor, w1, w2 = self.solve_augmented(delta, phi, lam)
        hat_random = self._random_leverages(factor, w2)
        hat = np.concatenate([self._observation_leverages(factor, w1, hat_random), hat_random])
        self.rounds_done += 1
        eta = self._linear_predictor(delta)
        mu, dev_obs = self._mean_and_deviance(eta)
        u, _ = self._random_scale(delta[self.p :])
        dev = np.concatenate([dev_obs, self._random_deviance(u)])
        floored = np.maximum(dev, self._floor(np.concatenate([phi, lam])))
        guards: set[str] = set()
        groups = self._groups()
        self._floor_guard(
            np.array([np.sum(dev[g]) for g in groups]),
            np.array([np.sum(floored[g]) for g in groups]),
            guards,
        )
        hat = self._hat_guard(hat, guards)
        rand_fits = self._random_dispersion_fits(floored, hat)
        return self._finish_round(
            delta, eta, mu, factor, w1, w2, hat, floored, rand_fits, phi, guards
        )

    def _marginal_round(self, phi: Array, lam: Array) -> Round:
        """One round by the n-space solver (bigRR): the random terms' dispersion fits
        need only their deviance sums, so the BLUPs (a pass over Z) and their deviances
        are computed on first use (:class:`LazyTail`)."""
        pb, n = self.pb, self.pb.y.shape[0]
        w1, w2 = pb.weights / phi, 1.0 / lam
        try:
            delta, factor = self.marginal.solve(w1, w2)
        except NotPositiveDefiniteError as exc:
            raise Divergence(str(exc)) from exc
        self.rounds_done += 1
        guards: set[str] = set()
        hat = self._hat_guard(factor.leverages(), guards)
        eta = factor.linear_predictor()  # X beta + lambda G P y, without a pass over Z
        mu, dev_obs = self._mean_and_deviance(eta)
        obs_floored = np.maximum(dev_obs, self._floor(phi))
        floors = np.broadcast_to(self._floor(self.marginal.term_lambdas(lam)), (len(self.sizes),))
        raw, floored = factor.random_deviance_sums(floors)
        self._floor_guard(
            np.concatenate([[np.sum(dev_obs)], raw]),
            np.concatenate([[np.sum(obs_floored)], floored]),
            guards,
        )
        groups = self._groups()
        rand_fits = [
            intercept_only_fit(total, 1.0 - hat[g])
            for total, g in zip(floored, groups[1:], strict=True)
        ]
        dev = LazyTail(obs_floored, partial(_floored_squares, delta, self.p, floors, self.sizes),
                       n + self.system.q)
        return self._finish_round(
            delta, eta, mu, factor, w1, w2, hat, dev, rand_fits, phi, guards
        )

    def _random_dispersion_fits(self, dev: Array, hat: Array) -> list[DispersionFit]:
        """The random terms' dispersion GLMs (DESIGN.md, step 5)."""
        try:
            return [
                fit_dispersion(dev[g], hat[g], t.x_disp, t.link_disp)
                for g, t in zip(self._groups()[1:], self.pb.terms, strict=True)
            ]
        except (ValueError, np.linalg.LinAlgError) as exc:
            raise Divergence(f"a dispersion GLM failed ({exc})") from exc

    def _finish_round(
        self,
        delta: Array,
        eta: Array,
        mu: Array,
        factor: AugmentedFactor | MarginalFactor,
        w1: Array,
        w2: Array,
        hat: Array,
        dev: Array,
        rand_fits: list[DispersionFit],
        phi: Array,
        guards: set[str],
    ) -> Round:
        """The residual dispersion's fit (DESIGN.md, step 4) and the checks that the next
        dispersions are valid."""
        pb, n = self.pb, self.pb.y.shape[0]
        disp_fit = None
        phi_next = phi
        try:
            if pb.fix_disp is None:
                disp_fit = fit_dispersion(dev[:n], hat[:n], pb.x_disp, pb.link_disp)
                phi_next = disp_fit.fitted
        except (ValueError, np.linalg.LinAlgError) as exc:
            raise Divergence(f"a dispersion GLM failed ({exc})") from exc
        lam_next = np.concatenate([f.fitted for f in rand_fits])
        if not (np.all(np.isfinite(phi_next)) and np.all(phi_next > 0)):
            raise Divergence("the residual dispersion left its parameter space")
        if not (np.all(np.isfinite(lam_next)) and np.all(lam_next > 0)):
            raise Divergence("a random-effect dispersion left its parameter space")
        return Round(
            delta, eta, mu, factor, w1, w2, hat, dev, disp_fit, rand_fits, phi_next, lam_next,
            guards,
        )


def _augmented_leverages(factor: AugmentedFactor, w1: Array, w2: Array) -> Array:
    """Every row's leverage from the augmented factor for weights (w1, w2), at most
    HAT_CEILING."""
    hat = np.concatenate([w1 * factor.rows_quadform(), factor.random_leverages(w2)])
    return np.minimum(hat, HAT_CEILING)


def _floored_squares(delta: LazyTail, p: int, floors: Array, sizes: list[int]) -> Array:
    """The deviances v_j^2 of Gaussian random effects, floored at each term's floor."""
    v = np.asarray(delta)[p:]
    return np.maximum(v**2, np.repeat(floors, sizes))


def _nonzero_columns(block: Block) -> Array:
    if isinstance(block, Indicator):
        return np.bincount(block.index, block.values != 0, minlength=block.n_levels) > 0
    return column_norms(block) > 0  # as the n-space solver decides (MarginalSolver.empty)


def _slices(sizes: list[int]) -> list[slice]:
    ends = np.cumsum(sizes)
    return [slice(int(e - s), int(e)) for s, e in zip(sizes, ends, strict=True)]


def fit_eql(problem: Problem, options: Options) -> EngineFit:
    """Fit an HGLM by EQL.

    Parameters
    ----------
    problem : Problem
    options : Options

    Returns
    -------
    EngineFit

    Warns
    -----
    ConvergenceWarning
        When the iteration stops at ``maxit`` or a random term holds nearly all the
        dispersion.
    """
    fitter = EQLFitter(problem, options)
    start = starting_values(problem, fitter.sizes, options.startval, fitter.marginal)

    def step(theta: Array, last: Round | None) -> tuple[Round, Array]:
        return fitter.step(theta, start.delta if last is None else last.delta)

    it = FixedPointIteration(
        step, fitter.describe, options.conv, options.maxit, options.accelerate, options.verbose
    )
    try:
        it.run(fitter.pack(start.phi, start.lam))
    except Divergence as exc:
        raise RuntimeError(
            f"the EQL iteration diverged at round {it.n_iter + 1} ({exc}); try other "
            "starting values (startval) or a simpler model"
        ) from exc
    last = it.last
    round_hat = last.hat  # exact sums per term, without the report's per-effect values
    last.observation_leverage_sum = float(np.sum(round_hat[: problem.y.shape[0]]))
    last.hat = fitter.exact_leverages(last)
    warn_guards(last.guards)
    phi_last, lam_last = last.phi_next, last.lam_next
    warn_if_collapsed(problem, phi_last, start.phi0)
    warn_if_terms_collapsed(
        problem, fitter.term_slices, fitter.informative_rows, lam_last, round_hat
    )
    converged = (
        it.converged
        and it.n_iter < options.maxit
        and not_degenerate(fitter.term_slices, phi_last, lam_last)
    )
    if not converged:
        warn(
            f"EQL did not converge in {it.n_iter} iterations (criterion {it.criterion:.3g}, "
            f"conv={options.conv:g}); the estimates are not reliable",
            ConvergenceWarning,
        )
    return EngineFit(problem, fitter, last, phi_last, lam_last, it.n_iter, converged,
                     it.converged, it.criterion)
