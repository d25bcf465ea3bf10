"""Starting values of (beta, v, phi, lambda) (DESIGN.md, step 1): v at v(psi), beta from
the GLM without random effects (given Z v(psi) in its offset), or the user's
``startval``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..engine import Grouped, Indicator, MarginalSolver, block_matvec
from ..spec import Problem
from .covariance_update import starting_factor
from .glm import fit_glm
from .theta import ThetaLayout

Array = np.ndarray


@dataclass
class StartingValues:
    """Where an estimator starts.

    Attributes
    ----------
    delta : ndarray
        (beta, v), length p + q.
    phi, lam : ndarray
        The residual dispersion of each observation (n: one value, read-only broadcast)
        and the dispersion of each random effect (q; 1 for a vector term's spherical
        effects).
    phi0 : float
        The residual dispersion started from (the scale of a collapsed phi).
    factors : list
        The Cholesky factor L of each vector term's starting covariance (None for a
        scalar term).
    """

    delta: Array
    phi: Array
    lam: Array
    phi0: float
    factors: list = field(default_factory=list)


def starting_values(
    problem: Problem,
    sizes: list[int],
    startval: Array | None = None,
    marginal: MarginalSolver | None = None,
) -> StartingValues:
    """The starting values of ``problem``, whose random terms have ``sizes`` effects.

    Parameters
    ----------
    problem : Problem
    sizes : list of int
        The number of effects of each random term.
    startval : ndarray, optional
        The user's values: fixed effects, random effects, one dispersion per random term
        and the residual dispersion (absent under ``fix_disp``), as R's ``startval``;
        as in R, the residual dispersion may be left out (then 1) but for the Gaussian
        and Gamma families.
    marginal : MarginalSolver, optional
        The n-space solver, when it fits the problem (it knows the scale of Z's rows).

    Raises
    ------
    ValueError
        When ``startval`` has the wrong length, a non-finite value or a dispersion <= 0.
    """
    vector = ThetaLayout(problem).vector
    if startval is not None:
        if any(vector):
            raise ValueError("startval: not supported with vector-valued random terms "
                             "(1 + x | g); drop startval")
        return _user_start(problem, sizes, np.asarray(startval, dtype=float))
    pb, n, k = problem, problem.y.shape[0], len(problem.terms)
    p = pb.X.shape[1]
    v0 = [np.full(w, t.family.link.link(np.array(t.family.psi)))
          for w, t in zip(sizes, pb.terms, strict=True)]
    glm = fit_glm(pb.y, pb.X, pb.family, pb.weights, start_offset(pb, v0))
    if pb.fix_disp is not None:
        phi0 = float(pb.fix_disp)
    else:
        phi0 = 0.6 * glm.deviance / max(n - p, 1)
        phi0 = phi0 if np.isfinite(phi0) and phi0 > 0 else 1.0
    share = 0.66 * phi0 / k
    lam0 = np.where(vector, 1.0, share / _mean_row_norm2(problem, marginal))
    factors = [starting_factor(b, share) if vec else None
               for b, vec in zip(problem.blocks, vector, strict=True)]
    return StartingValues(np.concatenate([glm.coef, *v0]), np.broadcast_to(phi0, (n,)),
                          np.repeat(lam0, sizes), phi0, factors)


def start_offset(problem: Problem, v0: list[Array]) -> Array:
    """The offset of the starting GLM: the problem's plus Z v0, so that the start's
    linear predictor X beta + Z v0 is the GLM's (v0 = v(psi) is 1 for Gamma effects under
    an inverse or identity link, and an inverse-link response is not shifted by 1)."""
    shifted = [block_matvec(b, v) for b, v in zip(problem.blocks, v0, strict=True)
               if np.any(v)]
    return problem.offset + sum(shifted) if shifted else problem.offset


def _mean_row_norm2(problem: Problem, marginal: MarginalSolver | None) -> Array:
    """Mean of diag(Z_k Z_k') per term: 1 for indicator designs.

    Starting each term at lambda_0 = 0.66 phi_0 / k divided by this value gives each
    term the same share of var(y) whatever the scale of its columns (R's start for
    indicators); with thousands of standardized genotype columns R's start would put
    nearly all the variance in the random effects, in the basin of the boundary
    optimum phi -> 0.
    """
    n = problem.y.shape[0]
    if marginal is not None:
        return np.maximum(marginal.mean_row_norm2(), 1e-12)
    norms = []
    for b in problem.blocks:
        # the sum of squares without an n x q temporary
        sq = float(np.sum(b.values**2)) if isinstance(b, Indicator | Grouped) else float(
            np.einsum("ij,ij->", b, b)
        )
        norms.append(max(sq / n, 1e-12))
    return np.array(norms)


def _user_start(problem: Problem, sizes: list[int], sv: Array) -> StartingValues:
    n, k, q, p = problem.y.shape[0], len(problem.terms), sum(sizes), problem.X.shape[1]
    n_phi = 0 if problem.fix_disp is not None else 1
    expected = p + q + k + n_phi
    # R's hglm starts phi at 1 when startval stops before it, but for the families whose
    # dispersion has no natural unit (the Gaussian and the Gamma)
    phi_optional = n_phi == 1 and problem.family.name not in ("gaussian", "Gamma")
    if sv.shape != (expected,) and not (phi_optional and sv.shape == (expected - 1,)):
        also = f" (or {expected - 1}, phi then starting at 1)" if phi_optional else ""
        raise ValueError(
            f"startval: expected {expected} values{also} (fixed effects {p}, random "
            f"effects {q}, one dispersion per random term {k}, residual dispersion "
            f"{n_phi}), got {sv.size}"
        )
    if not np.all(np.isfinite(sv)):
        raise ValueError("startval: contains missing (NaN) or infinite values")
    lam_terms = sv[p + q : p + q + k]
    if n_phi == 0:
        phi0 = float(problem.fix_disp)
    else:
        phi0 = float(sv[-1]) if sv.shape == (expected,) else 1.0
    if np.any(lam_terms <= 0) or phi0 <= 0:
        raise ValueError("startval: the dispersion starting values must be positive")
    lam0 = np.repeat(lam_terms, sizes)
    return StartingValues(sv[: p + q].copy(), np.broadcast_to(phi0, (n,)), lam0, phi0)
