"""Simulated data and fits shared by the tests of the marginal-likelihood results."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

import hglm
from hglm.results import MarginalResult
from hglm.spec import Names, Problem


def lmm_data(seed: int = 7, n_groups: int = 12, per: int = 6) -> pd.DataFrame:
    """y = 2 + 0.5 x + b_g + c_h + e with groups g (sd 1.2), crossed h (sd 0.5), e (sd 1)
    and a second covariate z that has no effect."""
    rng = np.random.default_rng(seed)
    n = n_groups * per
    g = np.repeat(np.arange(n_groups), per)
    h = rng.integers(0, 4, n)
    x, z = rng.normal(size=n), rng.normal(size=n)
    y = (2.0 + 0.5 * x + rng.normal(0.0, 1.2, n_groups)[g] + rng.normal(0.0, 0.5, 4)[h]
         + rng.normal(size=n))
    return pd.DataFrame({"y": y, "x": x, "z": z, "g": [f"G{k:02d}" for k in g],
                         "h": [f"H{k}" for k in h]})


def lmm_fit(reml: bool = True, formula: str = "y ~ x + (1|g)", seed: int = 7
            ) -> hglm.MarginalResult:
    return hglm.lmer(formula, data=lmm_data(seed), REML=reml)


@dataclass
class GLMMFitDouble:
    """The estimators' shared interface (``MarginalFit``) filled with a binomial EQL fit's
    estimates: a test double for the presentation of GLMM fits, not an estimator."""

    problem: Problem
    beta: np.ndarray
    v: np.ndarray
    vcov_beta: np.ndarray
    cond_var: np.ndarray
    theta: np.ndarray
    objective: float
    method: str = "Laplace"
    nAGQ: int = 1
    reml: bool = False
    sigma2: float = 1.0
    disp_coef: np.ndarray | None = None
    n_eval: int = 1
    converged: bool = True
    message: str = "converged"
    singular: bool = False

    @property
    def lam(self) -> np.ndarray:
        return self.theta**2

    @property
    def loglik(self) -> float:
        return -0.5 * self.objective

    @property
    def n_params(self) -> int:
        return self.beta.shape[0] + self.theta.shape[0]


def binomial_data(seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(15), 4)
    x = rng.normal(size=g.size)
    size = rng.integers(2, 10, g.size)
    eta = -0.5 + 0.7 * x + rng.normal(0.0, 0.8, 15)[g]
    r = rng.binomial(size, 1.0 / (1.0 + np.exp(-eta)))
    return pd.DataFrame({"p": r / size, "size": size, "x": x, "g": [f"h{k:02d}" for k in g]})


def _marginal_double(eql: hglm.HGLMResult, nAGQ: int = 1) -> MarginalResult:
    """A MarginalResult on :class:`GLMMFitDouble` filled with an EQL fit's estimates."""
    pb = eql._engine.problem
    disp_coef = None if pb.x_disp is None else eql.disp_coef["estimate"].to_numpy()
    fit = GLMMFitDouble(
        problem=pb, beta=eql.fixef.to_numpy(), v=eql._engine.v,
        vcov_beta=np.diag(eql.se_fixef.to_numpy() ** 2),
        cond_var=eql.se_ranef.to_numpy() ** 2, theta=np.sqrt(eql.var_ranef),
        objective=150.0, nAGQ=nAGQ, method="Laplace" if nAGQ == 1 else "AGQ",
        disp_coef=disp_coef,
    )
    names = Names(fixed=list(eql.names.fixed), random=list(eql.names.random),
                  terms=list(eql.names.terms), disp=eql.names.disp)
    return MarginalResult(fit, names, design=eql.design, formula="p ~ x + (1|g)")


def glmm_result(nAGQ: int = 1) -> MarginalResult:
    """A binomial GLMM's MarginalResult built on :class:`GLMMFitDouble`."""
    eql = hglm.hglm2("p ~ x + (1|g)", data=binomial_data(), family="binomial",
                     weights="size", fix_disp=1)
    return _marginal_double(eql, nAGQ)


def inverse_gamma_result() -> MarginalResult:
    """A Poisson model with inverse-Gamma random effects (inverse link: v = 1/u, whose
    mean is 1) as a MarginalResult on :class:`GLMMFitDouble`."""
    data = binomial_data().assign(c=lambda d: np.round(d["p"] * d["size"]))
    eql = hglm.hglm2("c ~ x + (1|g)", data=data, family="poisson",
                     rand_family="inverse_gamma", fix_disp=1)
    return _marginal_double(eql)


def dispersion_model_result() -> MarginalResult:
    """A Gaussian model whose residual variance has a model, log phi = g0 + g1 z, as a
    MarginalResult on :class:`GLMMFitDouble`."""
    eql = hglm.hglm2("y ~ x + (1|g)", data=lmm_data(), disp="~ z")
    return _marginal_double(eql)
