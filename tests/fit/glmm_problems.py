"""Small simulated GLMMs shared by the tests of the marginal-likelihood estimators."""

from __future__ import annotations

import numpy as np

from hglm.engine import Grouped, Indicator
from hglm.spec import Gamma, Gaussian, Problem, RandomTermModel, Unstructured, get_link
from hglm.spec.families import Binomial, InverseGaussian, Poisson, random_family

FAMILIES = {
    "binomial": lambda link: Binomial(link).as_response(),
    "poisson": lambda link: Poisson(link).as_response(),
    "gaussian": lambda link: Gaussian(link).as_response(),
    "Gamma": lambda link: Gamma(link).as_response(),
    "inverse.gaussian": lambda link: InverseGaussian(link).as_response(),
}


def glmm_problem(family: str = "binomial", link: str | None = None, seed: int = 1,
                 levels: tuple[int, ...] = (12,), n: int = 90, sd: float = 0.8,
                 disp_model: bool = False, trials: int = 1,
                 rand_family: str = "gaussian") -> Problem:
    """y ~ 1 + x + (1 | g1) + (1 | g2) + ... with crossed grouping factors of ``levels``
    levels, simulated from the family (binomial with ``trials`` trials as proportions
    with weights); ``disp_model`` adds log phi = 1 + x2 (a residual-dispersion model)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    codes = [rng.integers(0, m, n) for m in levels]
    blocks = [Indicator(c.astype(np.int64), np.ones(n), m) for c, m in zip(codes, levels,
                                                                          strict=True)]
    eta = 0.3 + 0.5 * x + sum(sd * rng.normal(size=m)[c] for c, m in zip(codes, levels,
                                                                          strict=True))
    fam = FAMILIES[family](link)
    mu = fam.link.inverse(eta)
    weights = np.ones(n)
    x_disp = None
    if family == "binomial":
        weights = np.full(n, float(trials))
        y = rng.binomial(trials, np.clip(mu, 0.02, 0.98)) / trials
    elif family == "poisson":
        y = rng.poisson(np.clip(mu, 0.05, 50.0)).astype(float)
    else:
        x2 = rng.normal(size=n)
        phi = np.exp(-1.0 + 0.4 * x2) if disp_model else np.full(n, 0.3)
        if disp_model:
            x_disp = np.column_stack([np.ones(n), x2])
        mu = np.abs(mu) + 0.1 if family != "gaussian" else mu
        y = (mu + np.sqrt(phi) * rng.normal(size=n) if family == "gaussian"
             else mu * rng.gamma(1.0 / phi, phi))
    terms = [RandomTermModel(random_family(rand_family), None, get_link("log"))
             for _ in blocks]
    return Problem(y, X, blocks, terms, fam, weights, np.zeros(n), x_disp, get_link("log"),
                   None)


def gaussian_lmm(seed: int = 2, levels: tuple[int, ...] = (10, 6), n: int = 120) -> Problem:
    """A linear mixed model with crossed factors."""
    return glmm_problem("gaussian", "identity", seed=seed, levels=levels, n=n)


def vector_problem(family: str = "gaussian", seed: int = 3, n: int = 160, m: int = 16,
                   scalar_levels: int | None = None, slope_sd: float = 0.8) -> Problem:
    """y ~ 1 + x + (1 + x | g) (an unstructured 2 x 2 covariance, correlation 0.5, the
    slope's standard deviation ``slope_sd``), with ``scalar_levels`` a crossed (1 | h)
    besides; Gaussian (identity) or binomial (logit)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, n)
    X = np.column_stack([np.ones(n), x])
    codes = rng.integers(0, m, n)
    factor = np.array([[1.0, 0.0], [0.5 * slope_sd, np.sqrt(0.75) * slope_sd]])
    u = rng.normal(size=(m, 2)) @ factor.T
    eta = 0.3 + 0.5 * x + u[codes, 0] + u[codes, 1] * x
    blocks = [Grouped.from_codes(codes, np.column_stack([np.ones(n), x]), m)]
    terms = [RandomTermModel(random_family("gaussian"), None, get_link("log"),
                             Unstructured(2))]
    if scalar_levels is not None:
        h = rng.integers(0, scalar_levels, n)
        eta = eta + 0.5 * rng.normal(size=scalar_levels)[h]
        blocks.append(Indicator(h.astype(np.int64), np.ones(n), scalar_levels))
        terms.append(RandomTermModel(random_family("gaussian"), None, get_link("log")))
    if family == "gaussian":
        y = eta + 0.7 * rng.normal(size=n)
        fam = Gaussian("identity").as_response()
    else:
        y = rng.binomial(1, 1.0 / (1.0 + np.exp(-eta))).astype(float)
        fam = Binomial("logit").as_response()
    return Problem(y, X, blocks, terms, fam, np.ones(n), np.zeros(n), None, get_link("log"),
                   None)
