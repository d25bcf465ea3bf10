"""One EQL round and its state (R's hglm; DESIGN.md, "The EQL algorithm", steps 2-5).

A *round* maps the dispersions (phi, lambda) to new ones: penalized IRLS for
(beta, v) (:mod:`.pirls`, with the HL(1,1) shift of :mod:`.hl_correction` under EQL1),
the leverages h (:mod:`.leverages`) and deviance components d (floored,
:mod:`.guards`), and the gamma dispersion GLMs (:mod:`.dispersion`); a Gaussian model
whose random design is wide takes its rounds in n-space (bigRR).  A vector-valued term
(1 + x | g) is fitted in the spherical form of :mod:`.theta`, its covariance updated by
:mod:`.covariance_update` in place of a dispersion GLM.  :class:`EQLFitter` also packs
the dispersions into the state that :mod:`.eql` iterates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from ..engine import (
    Factor,
    Indicator,
    LazyTail,
    MarginalSolver,
    NotPositiveDefiniteError,
    make_system,
    transformed_blocks,
)
from ..spec import Problem
from .covariance_update import CovarianceIteration, hold_boundary
from .diagnostics import Divergence
from .dispersion import (
    DispersionFit,
    fit_random_dispersions,
    fit_residual_dispersion,
    intercept_only_fit,
)
from .guards import DevianceFloor, cap_leverages, floored_squares
from .hl_correction import EQL1Correction
from .leverages import Leverages
from .pirls import PenalizedIRLS
from .random_effects import RandomEffects
from .theta import check_vector_terms, residual_scale

Array = np.ndarray


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
    dev_floor: str = "relative"
    # the penalized IRLS stops when sum(d eta^2) < iwls_tol sum(eta^2); None: conv 1e-4
    # (at most 1e-11), which puts the rounds on their fixed point rather than R's 1e-7
    iwls_tol: float | None = None

    @classmethod
    def from_controls(cls, c: dict, hl_correction: bool = False) -> Options:
        """The options of hglm's controls ``c`` (checked by ``spec.check_controls``)."""
        startval = c["startval"]
        return cls(
            conv=float(c["conv"]), maxit=int(c["maxit"]),
            startval=None if startval is None else np.asarray(startval, dtype=float),
            verbose=c["verbose"], accelerate=bool(c["accelerate"]),
            hl_correction=hl_correction, bigrr=c["bigrr"], dev_floor=c["dev_floor"],
        )


@dataclass
class Round:
    """Everything one EQL round produced (``factor``, ``mu``, ``w1``, ``w2``, ``hat`` and
    ``dev`` None once a later round replaced it: ``eql._release_round``)."""

    delta: Array
    eta: Array
    mu: Array | None
    factor: Factor | None
    w1: Array | None
    w2: Array | None
    hat: Array | None
    dev: Array | None
    disp_fit: DispersionFit | None
    rand_disp_fits: list[DispersionFit]
    phi_next: Array
    lam_next: Array
    guards: set[str] = field(default_factory=set)
    # sum of the n observation leverages (exact: p + q minus the random rows' sum)
    observation_leverage_sum: float = np.nan
    # the vector terms' factors L the round ran at and the next ones (None: scalar)
    factors: list = field(default_factory=list)
    factors_next: list = field(default_factory=list)


class EQLFitter:
    """Runs the EQL rounds of one problem.

    Parameters
    ----------
    problem : Problem
    options : Options

    Attributes
    ----------
    system : AugmentedSystem or SparseSystem
        T'WT of the problem (``make_system``).
    marginal : MarginalSolver or None
        The n-space solver (bigRR), when the rounds are taken in n-space.
    term_slices : list of slice
        Each random term's effects in v.
    pirls : PenalizedIRLS
    leverages : Leverages
    correction : EQL1Correction or None
        The HL(1,1) shifts under ``hl_correction``.
    """

    def __init__(self, problem: Problem, options: Options) -> None:
        check_vector_terms(problem, "EQL")
        self.pb = problem
        self.opt = options
        self.system = self._system(problem.blocks)
        self.p = problem.X.shape[1]
        self.effects = RandomEffects(problem)
        self.term_slices = self.effects.slices
        self.vectors = CovarianceIteration(problem, self.term_slices)
        self.factors: list = [None] * len(problem.terms)
        self.marginal = self._marginal_solver()
        self.leverages = Leverages(problem, self.effects, self.system.q, self.marginal)
        self.pirls = PenalizedIRLS(
            problem,
            self.system,
            self.effects,
            tol=(
                max(min(options.conv, 1e-7) * 1e-4, 1e-26)
                if options.iwls_tol is None else options.iwls_tol
            ),
            accelerate=options.accelerate,
            # a linear problem's one factorization is its round's last
            trace_sums=self.leverages.random_sums_suffice and problem.is_linear,
        )
        self.correction = EQL1Correction(problem, self.pirls) if options.hl_correction else None
        self.floor = DevianceFloor(options.dev_floor)
        self.rounds_done = 0

    def _system(self, blocks: list) -> object:
        pb = self.pb
        # a Gaussian response with one dispersion: w1 = weights / phi changes by a factor
        scaled = pb.is_linear and pb.x_disp is None
        return make_system(pb.X, blocks, [t.precision for t in pb.terms], scaled)

    def use_factors(self, factors: list) -> None:
        """Solve at the vector terms' ``factors`` L (their blocks of Z become Z L)."""
        if self.vectors.size == 0 or all(
            f is None or np.array_equal(f, g) for f, g in zip(factors, self.factors,
                                                               strict=True)):
            return
        blocks = transformed_blocks(self.pb.blocks, factors)
        self.system = self._system(blocks)
        self.pirls.use_system(self.system)
        if self.correction is not None:
            self.correction.use_blocks(blocks)
        self.factors = factors

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
            and self.vectors.size == 0
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

    def factorize(self, w1: Array, w2: Array) -> Factor:
        """The factorization of T'WT for given weights (by the solver in use)."""
        if self.marginal is not None:
            return self.marginal.factorize(w1, w2)
        return self.system.factorize(w1, w2)

    # --- the dispersions as the iteration's state ----------------------------------------

    @property
    def _phi_size(self) -> int:
        """The entries of log phi in the state: none under ``fix_disp``, one without
        dispersion covariates (phi is then one value: an n-vector per state cost SQUAREM
        eight copies, 60 MB on p2l), else one per observation."""
        if self.pb.fix_disp is not None:
            return 0
        return 1 if self.pb.x_disp is None else self.pb.y.shape[0]

    def pack(self, phi: Array, lam: Array, factors: list | None = None) -> Array:
        """The state of the outer iteration: the log dispersions (log lambda alone when
        phi is fixed), then the vector terms' ``factors`` (:mod:`.covariance_update`)."""
        parts = [np.log(phi[: self._phi_size]), np.log(lam)]
        if self.vectors.size:
            parts.append(self.vectors.pack(factors))
        return np.concatenate(parts)

    def unpack(self, theta: Array) -> tuple[Array, Array]:
        """(phi, lambda) of the state ``theta``."""
        n, q, k = self.pb.y.shape[0], self.system.q, self._phi_size
        # one value (fixed, or without dispersion covariates): a read-only broadcast
        one = float(self.pb.fix_disp) if k == 0 else np.exp(theta[0])
        phi = np.broadcast_to(one, (n,)) if k <= 1 else np.exp(theta[:k])
        return phi, np.exp(theta[k : k + q])

    def expand(self, theta: Array) -> Array:
        """The state with log phi once per observation (SQUAREM's norms are those of that
        state, summed in its order: the steps of before the compact state, to the bit)."""
        if self._phi_size != 1:
            return theta
        n = self.pb.y.shape[0]
        full = np.empty(n + theta.shape[0] - 1)
        full[:n], full[n:] = theta[0], theta[1:]
        return full

    def step(self, theta: Array, delta: Array) -> tuple[Round, Array]:
        """One round at the dispersions ``theta`` started from ``delta``, and its next
        dispersions."""
        phi, lam = self.unpack(theta)
        # an extrapolated state may put a diagonal below where the update holds it
        factors = self.vectors.unpack(theta[theta.shape[0] - self.vectors.size :])
        self.use_factors([None if f is None else hold_boundary(f, residual_scale(self.pb, phi))
                          for f in factors])
        rnd = self.round(delta, phi, lam)
        return rnd, self.pack(rnd.phi_next, rnd.lam_next, rnd.factors_next)

    def describe(self, rnd: Round) -> str:
        """The dispersions a round estimated, for the progress line."""
        phi = rnd.phi_next
        disp = f"phi={phi[0]:.6g}" if np.ptp(phi) == 0 else f"mean phi={phi.mean():.6g}"
        lams = [float(rnd.lam_next[sl].mean()) for sl in self.term_slices]
        return f"{disp}  lambda={', '.join(f'{x:.6g}' for x in lams)}"

    # --- one round ------------------------------------------------------------------------

    def round(self, delta: Array, phi: Array, lam: Array) -> Round:
        """One EQL round (DESIGN.md, steps 2-5)."""
        if self.marginal is not None:
            return self._marginal_round(phi, lam)
        corr = self.correction
        shift = None if corr is None else corr.round_shift(self.rounds_done, delta, phi, lam)
        delta, eta, factor, w1, w2 = self.pirls.solve(delta, phi, lam, shift)
        self.rounds_done += 1
        if corr is not None:
            corr.round_ended(self.rounds_done, delta, eta, phi, lam)
        hat = self.leverages.of_round(factor, w1, w2)
        mu, dev_obs = self._mean_and_deviance(eta)
        u, _ = self.effects.scale(delta[self.p :])
        dev = np.concatenate([dev_obs, self.effects.deviance(u)])
        del dev_obs  # n-vectors: one deviance array at a time
        guards: set[str] = set()
        groups = self._groups()
        raw = np.array([np.sum(dev[g]) for g in groups])
        n = phi.shape[0]  # the deviances floored in place
        np.maximum(dev[:n], self.floor.at(phi), out=dev[:n])
        np.maximum(dev[n:], self.floor.at(lam), out=dev[n:])
        self.floor.note(raw, np.array([np.sum(dev[g]) for g in groups]), guards)
        hat = cap_leverages(hat, self.leverages.informative_rows, guards)
        vector = [f is not None for f in self.factors]
        scalar = [(g, t) for g, t, vec in zip(groups[1:], self.pb.terms, vector, strict=True)
                  if not vec]
        fits = iter(fit_random_dispersions(dev, hat, [g for g, _ in scalar],
                                           [t for _, t in scalar]))
        rand_fits = [None if vec else next(fits) for vec in vector]
        rnd = self._finish_round(
            delta, eta, mu, factor, w1, w2, hat, dev, rand_fits, phi, guards
        )
        rnd.factors_next = self.vectors.update(delta[self.p :], factor, self.p, self.factors,
                                               residual_scale(self.pb, phi))
        return rnd

    def _marginal_round(self, phi: Array, lam: Array) -> Round:
        """One round by the n-space solver (bigRR): the random terms' dispersion fits
        need only their deviance sums, so the BLUPs (a pass over Z) and their deviances
        are computed on first use (:class:`LazyTail`)."""
        pb, n, sizes = self.pb, self.pb.y.shape[0], self.effects.sizes
        w1, w2 = pb.weights / phi, 1.0 / lam
        try:
            delta, factor = self.marginal.solve(w1, w2)
        except NotPositiveDefiniteError as exc:
            raise Divergence(str(exc)) from exc
        self.rounds_done += 1
        guards: set[str] = set()
        hat = cap_leverages(factor.leverages(), self.leverages.informative_rows, guards)
        eta = factor.linear_predictor()  # X beta + lambda G P y, without a pass over Z
        mu, dev_obs = self._mean_and_deviance(eta)
        obs_floored = np.maximum(dev_obs, self.floor.at(phi))
        floors = np.broadcast_to(self.floor.at(self.marginal.term_lambdas(lam)), (len(sizes),))
        raw, floored = factor.random_deviance_sums(floors)
        self.floor.note(
            np.concatenate([[np.sum(dev_obs)], raw]),
            np.concatenate([[np.sum(obs_floored)], floored]),
            guards,
        )
        groups = self._groups()
        rand_fits = [
            intercept_only_fit(total, 1.0 - hat[g])
            for total, g in zip(floored, groups[1:], strict=True)
        ]
        dev = LazyTail(obs_floored, partial(floored_squares, delta, self.p, floors, sizes),
                       n + self.system.q)
        return self._finish_round(
            delta, eta, mu, factor, w1, w2, hat, dev, rand_fits, phi, guards
        )

    def _groups(self) -> list[slice]:
        """The rows of the observations and of each random term in (n + q)-vectors."""
        n = self.pb.y.shape[0]
        return [slice(0, n)] + [slice(n + sl.start, n + sl.stop) for sl in self.term_slices]

    def _mean_and_deviance(self, eta: Array) -> tuple[Array, Array]:
        pb = self.pb
        mu = pb.family.clip_mu(self.pirls.mean(eta)[0])
        return mu, pb.weights * pb.family.unit_deviance(pb.y, mu)

    def _finish_round(
        self,
        delta: Array,
        eta: Array,
        mu: Array,
        factor: Factor,
        w1: Array,
        w2: Array,
        hat: Array,
        dev: Array,
        rand_fits: list[DispersionFit | None],
        phi: Array,
        guards: set[str],
    ) -> Round:
        """The residual dispersion's fit (DESIGN.md, step 4) and the checks that the next
        dispersions are valid (a vector term's effects keep lambda = 1: ``rand_fits``
        None)."""
        n = self.pb.y.shape[0]
        disp_fit = fit_residual_dispersion(dev[:n], hat[:n], self.pb)
        phi_next = phi if disp_fit is None else disp_fit.fitted
        lam_next = np.concatenate([
            np.ones(size) if f is None else f.fitted
            for f, size in zip(rand_fits, self.effects.sizes, strict=True)])
        if not (np.all(np.isfinite(phi_next)) and np.all(phi_next > 0)):
            raise Divergence("the residual dispersion left its parameter space")
        if not (np.all(np.isfinite(lam_next)) and np.all(lam_next > 0)):
            raise Divergence("a random-effect dispersion left its parameter space")
        return Round(
            delta, eta, mu, factor, w1, w2, hat, dev, disp_fit, rand_fits, phi_next, lam_next,
            guards, factors=self.factors, factors_next=self.factors,
        )
