"""Responses simulated from a fitted mixed model (lme4's ``simulate`` with new random
effects, ``use.u = FALSE``).

Each draw takes new random effects from their fitted distribution (Gaussian N(0, lambda),
a known covariance or precision included; Gamma, Beta and inverse-Gamma on the u scale,
mapped to v by the term's link), forms the linear predictor and draws the response from
its family with the fitted dispersion: Gaussian N(mu, phi / w); binomial counts of
w trials, returned as proportions; Poisson; Gamma with shape w / phi; inverse Gaussian
with shape w / phi.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import linalg, sparse

from ..engine import block_width
from ..spec import Problem, RandomTermModel
from .prediction import random_part

Array = np.ndarray


def _precision_factor(term: RandomTermModel) -> Array | None:
    """R with Q = R'R for a Gaussian term with a known precision Q (else None), factored
    once for all the draws."""
    if not term.family.is_gaussian or term.precision is None:
        return None
    Q = term.precision.toarray() if sparse.issparse(term.precision) else term.precision
    return linalg.cholesky(Q)


def _random_effects(term: RandomTermModel, q: int, lam: float, factor: Array | None,
                    rng: np.random.Generator) -> Array:
    """One draw of a term's q effects on the v scale (as its block of Z takes them);
    ``factor`` is :func:`_precision_factor` of the term."""
    fam = term.family
    if fam.is_gaussian:
        z = rng.standard_normal(q) * np.sqrt(lam)
        # u ~ N(0, lam Q^{-1}): u = R^{-1} z with Q = R'R
        return z if factor is None else linalg.solve_triangular(factor, z)
    if fam.name == "Gamma":
        u = rng.gamma(1.0 / lam, lam, q)
    elif fam.name == "Beta":
        u = rng.beta(fam.psi / lam, (1.0 - fam.psi) / lam, q)
    elif fam.name == "inverse.gamma":
        u = (1.0 / lam) / rng.gamma(1.0 + 1.0 / lam, 1.0, q)
    else:
        raise ValueError(f"simulate: cannot draw {fam.name} random effects")
    return fam.link.link(u)


def _responses(problem: Problem, mu: Array, phi: Array, rng: np.random.Generator) -> Array:
    """One draw of the response given the means."""
    name, w = problem.family.name, problem.weights
    if name == "gaussian":
        return mu + rng.standard_normal(mu.shape[0]) * np.sqrt(phi / w)
    if name == "binomial":
        trials = np.round(w)
        return rng.binomial(trials.astype(np.int64), mu) / trials
    if name == "poisson":
        return rng.poisson(mu).astype(float)
    if name == "Gamma":
        shape = w / phi
        return rng.gamma(shape, mu / shape)
    if name == "inverse.gaussian":
        return rng.wald(mu, w / phi)
    raise ValueError(f"simulate: cannot draw from the {name} family")


def simulate_responses(problem: Problem, beta: Array, lam: Array, phi: Array, nsim: int,
                       seed: int | None) -> pd.DataFrame:
    """Responses simulated from the fitted model.

    Parameters
    ----------
    problem : Problem
        The fitted model's arrays.
    beta : ndarray
        Fixed effects.
    lam : ndarray
        The variance (dispersion) of each random term.
    phi : ndarray
        Residual dispersion per observation (1 for binomial and Poisson).
    nsim : int
        Number of draws.
    seed : int, optional
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    DataFrame
        n rows, columns ``sim_1``, ..., ``sim_nsim``.
    """
    if isinstance(nsim, bool) or not isinstance(nsim, int | np.integer) or nsim < 1:
        raise ValueError(f"nsim: must be a whole number of at least 1, got {nsim!r}")
    rng = np.random.default_rng(seed)
    fixed = problem.X @ beta + problem.offset
    factors = [_precision_factor(term) for term in problem.terms]
    out = {}
    for j in range(int(nsim)):
        v = np.concatenate([
            _random_effects(term, block_width(block), float(lam_k), factor, rng)
            for block, term, lam_k, factor in zip(problem.blocks, problem.terms, lam,
                                                  factors, strict=True)
        ])
        eta = fixed + random_part(problem.blocks, v)
        mu = problem.family.clip_mu(problem.family.link.inverse(eta))
        out[f"sim_{j + 1}"] = _responses(problem, mu, phi, rng)
    return pd.DataFrame(out)
