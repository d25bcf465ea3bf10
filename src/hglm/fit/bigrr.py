"""bigRR for every response family (Shen et al. 2013): a ridge regression on many more
markers than observations, with one shrinkage estimated (SNP-BLUP) or, after
:func:`hem_weights`, one per marker (HEM, the heteroscedastic effects model).

The q markers' effects u (one Gaussian random term, effect j of variance lambda w_j) enter
the model only through Z u, so the EQL rounds run on the equivalent n x n problem whose
random design is L, L L' = Z diag(w) Z' (:class:`~hglm.engine.MarkerBasis`), whatever the
family and link; the q effects and their leverages are recovered from the n effects (the
leverages as R's bigRR defines them, which HEM's weights use, and the exact hat diagonal on
request: :mod:`hglm.engine.marker_basis`).  The
rounds are R's bigRR's: its start (lambda_0 = 0.66 phi_0, the transformed problem's R
start), the deviance floor on the n transformed effects, and with ``accelerate=False`` and
``conv=1e-8`` (bigRR's ``tol.conv``) its very stopping point (R's IWLS rule
included).  With fewer markers than
observations the ordinary (q-dimensional) fit is used, on Z diag(sqrt(w)).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .._warn import warn
from ..engine import (
    Grouped,
    Indicator,
    MarkerBasis,
    bigrr_leverages,
    marker_leverages,
    weighted_gram,
)
from ..spec import Independent, Problem
from .diagnostics import BoundaryWarning
from .eql import Options, fit_eql
from .eql_result import EngineFit
from .start import starting_values

Array = np.ndarray

# R's hglm stops the IWLS of a round when sum(d eta^2) < R_IWLS_TOL sum(eta^2)
R_IWLS_TOL = 1e-7
# HEM's floor of the marker weights u_j^2 / (1 - h_j) (bigRR_update's tol.err)
HEM_FLOOR = 1e-6
# an estimated binomial or Poisson dispersion below this has collapsed (phi = 1 in a GLMM)
COLLAPSED_DISPERSION = 1e-2
# dense random designs with more than this many columns per row take the marker path
WIDE = 10


@dataclass
class MarkerFit:
    """A bigRR fit.

    Attributes
    ----------
    problem : Problem
        The model as given (its block is the marker design Z).
    options : Options
    engine : EngineFit
        The EQL fit that was run: of the transformed n x n problem, or of the ordinary one
        on Z diag(sqrt(w)) when q < n (``transformed`` False).
    u : ndarray (q,)
        The marker effects.
    leverage : ndarray (q,)
        The markers' leverages as R's bigRR reports them (:func:`~hglm.engine.bigrr_leverages`),
        which HEM's weights use; :meth:`hat_leverage` gives the diagonal of the hat matrix.
    weights : ndarray (q,) or None
        The marker weights (None: all 1, SNP-BLUP).
    transformed : bool
    G : ndarray (n, n)
        Z diag(w) Z'.
    """

    problem: Problem
    options: Options
    engine: EngineFit
    u: Array
    leverage: Array
    weights: Array | None
    transformed: bool
    G: Array

    def hat_leverage(self) -> Array:
        """The markers' exact leverages: the diagonal of the hat matrix on their rows,
        h_j = 1 - lambda w_j z_j' P z_j at the final IWLS weights (O(n^2 q))."""
        w1, _ = self.engine.final_weights()
        return marker_leverages(self.problem.blocks[0], self.weights, self.G,
                                self.problem.X, w1, float(self.engine.lam[0]))


def check_markers(Z: Array) -> None:
    """Refuse a marker matrix with missing values, naming the first bad column.

    Raises
    ------
    ValueError
        A column that is entirely NaN (R's ``scale()`` of a constant marker), or NaN
        genotypes (imputation is the user's job).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(Z)):
            return
    bad = ~np.isfinite(Z)
    whole = np.flatnonzero(bad.all(axis=0))
    if whole.size:
        raise ValueError(
            f"Z: column {int(whole[0])} (0-based) is entirely NaN ({whole.size} such "
            "columns): scaling a constant marker divides by a zero standard deviation; "
            "drop the constant columns before scaling"
        )
    row, col = np.argwhere(bad)[0]
    raise ValueError(
        f"Z: contains missing (NaN) or infinite values, first at row {int(row)}, column "
        f"{int(col)} ({int(bad.sum())} in all); impute missing genotypes (e.g. by the "
        "column mean) before fitting"
    )


def use_markers(problem: Problem, options: Options) -> bool:
    """Whether a fit takes the marker path: a non-Gaussian response (the Gaussian one has
    the n-space EQL solver) with ``bigrr=True``, or by default one dense random design
    with more than WIDE columns per row."""
    if problem.is_linear or options.bigrr is False:
        return False
    block = problem.blocks[0]
    if options.bigrr:
        return True
    return len(problem.blocks) == 1 and not isinstance(block, Indicator | Grouped) and (
        block.shape[1] > WIDE * block.shape[0]
    )


def fit_markers(problem: Problem, options: Options, weights: Array | None = None) -> MarkerFit:
    """Fit bigRR (SNP-BLUP, or HEM with ``weights``) to ``problem``.

    Parameters
    ----------
    problem : Problem
        One Gaussian random term with a dense design Z (n x q), intercept-only dispersions.
    options : Options
        ``startval`` is not supported (the start is R's bigRR's).
    weights : ndarray (q,), optional
        Marker weights: effect j has variance lambda w_j.

    Returns
    -------
    MarkerFit

    Raises
    ------
    ValueError
        For a model the marker path does not fit, or bad weights.
    """
    Z = _marker_design(problem, options)
    n, q = Z.shape
    w = None if weights is None else _checked_weights(weights, q)
    # plain rounds (accelerate=False) are R's bigRR's, inner stopping rule included
    options = replace(options, bigrr=False,
                      iwls_tol=None if options.accelerate else R_IWLS_TOL)
    if q < n:
        warn(
            f"bigrr: Z has fewer columns ({q}) than rows ({n}); the ordinary "
            "(q-dimensional) fit is used",
            UserWarning,
        )
        fit = _ordinary(problem, Z, w, options)
    else:
        fit = _transformed(problem, Z, w, options)
    _warn_if_dispersion_collapsed(problem, fit.engine)
    return fit


def hem_weights(u: Array, leverage: Array) -> Array:
    """HEM's marker weights w_j = u_j^2 / (1 - h_j), at least HEM_FLOOR."""
    one_minus = np.maximum(1.0 - np.asarray(leverage, dtype=float), np.finfo(float).tiny)
    return np.maximum(np.asarray(u, dtype=float) ** 2 / one_minus, HEM_FLOOR)


def _marker_design(problem: Problem, options: Options) -> Array:
    term = problem.terms[0] if len(problem.terms) == 1 else None
    if (
        term is None
        or not term.family.is_gaussian
        or term.family.spatial is not None
        or term.x_disp is not None
        or not isinstance(term.covariance, Independent)
        or isinstance(problem.blocks[0], Indicator)
    ):
        raise ValueError(
            "bigrr: needs one random term of Gaussian effects with a dense marker design Z "
            "(rand_c, rand_family, rand_cov and x_rand_disp at their defaults)"
        )
    if options.hl_correction:
        raise ValueError("method: bigrr fits by EQL; drop method='EQL1'")
    if options.startval is not None:
        raise ValueError("startval: bigrr starts where R's bigRR does; drop startval")
    return problem.blocks[0]


def _checked_weights(weights: Array, q: int) -> Array:
    w = np.asarray(weights, dtype=float)
    if w.shape != (q,):
        raise ValueError(f"weights: need one marker weight per column of Z ({q}), got "
                         f"shape {w.shape}")
    if not (np.all(np.isfinite(w)) and np.all(w > 0)):
        raise ValueError("weights: marker weights must be finite and positive")
    return w


def _transformed(problem: Problem, Z: Array, w: Array | None, options: Options) -> MarkerFit:
    """The EQL rounds on the n x n problem of design L, then the q markers."""
    basis = MarkerBasis(Z, w)
    small = replace(problem, blocks=[basis.design])
    engine = fit_eql(small, replace(options, startval=_bigrr_start(small)))
    leverage = _r_leverages(problem, Z, w, basis.G, engine)
    return MarkerFit(problem, options, engine, basis.markers(engine.v), leverage, w, True,
                     basis.G)


def _ordinary(problem: Problem, Z: Array, w: Array | None, options: Options) -> MarkerFit:
    """The q-dimensional fit on Z diag(sqrt(w)) (a copy of Z: q < n)."""
    root = np.ones(Z.shape[1]) if w is None else np.sqrt(w)
    engine = fit_eql(replace(problem, blocks=[Z * root]), options)
    G = weighted_gram(Z, w)
    leverage = _r_leverages(problem, Z, w, G, engine)
    return MarkerFit(problem, options, engine, root * engine.v, leverage, w, False, G)


def _r_leverages(problem: Problem, Z: Array, w: Array | None, G: Array,
                 engine: EngineFit) -> Array:
    """R's bigRR leverages at the fit's lambda and phi (Gaussian observation weights)."""
    return bigrr_leverages(Z, w, G, problem.X, problem.weights / engine.phi,
                           float(engine.lam[0]))


def _bigrr_start(small: Problem) -> Array:
    """R's start of the transformed problem: the GLM's beta, v = 0, lambda_0 = 0.66 phi_0
    and phi_0 (DESIGN.md, step 1), as ``startval``.  phi_0 = 0.6 D / (n - p) from the GLM's
    deviance D also under ``fix_disp``, where it only sets lambda_0: R's sequence of rounds
    (and so, at bigRR's stopping point, its estimates) starts there."""
    n = small.y.shape[0]
    start = starting_values(replace(small, fix_disp=None), [n])
    phi = [] if small.fix_disp is not None else [start.phi0]
    return np.concatenate([start.delta, [0.66 * start.phi0], phi])


def _warn_if_dispersion_collapsed(problem: Problem, engine: EngineFit) -> None:
    """A binomial or Poisson dispersion estimated (R's bigRR does so) that collapsed."""
    if problem.fix_disp is not None or not problem.family.fixed_dispersion:
        return
    phi = float(np.mean(engine.phi))
    if phi < COLLAPSED_DISPERSION:
        warn(
            f"bigrr: the {problem.family.name} dispersion was estimated (as R's bigRR "
            f"does) and collapsed to {phi:.3g} with {problem.y.shape[0]} observations and "
            f"{problem.blocks[0].shape[1]} markers; a {problem.family.name} GLMM has "
            "phi = 1: pass fix_disp=1",
            BoundaryWarning,
        )
