"""Tests of the starting values, ``hglm.fit.start``: the GLM start and the user's
``startval``."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest

import hglm
from hglm.engine import as_block
from hglm.fit.glm import fit_glm
from hglm.fit.start import starting_values
from hglm.spec import RandomTermModel
from hglm.spec.families import response_family

from .glmm_problems import vector_problem
from .problems import count_data, dense_hat, make_problem, one_way


@pytest.mark.parametrize("length_delta", [-1, 1])
def test_startval_wrong_length(length_delta: int) -> None:
    y, X, Z, _ = one_way(9)
    size = X.shape[1] + Z.shape[1] + 1 + 1 + length_delta
    with pytest.raises(ValueError, match=r"\bstartval\b"):
        hglm.hglm(y=y, X=X, Z=Z, startval=np.ones(size))


def test_startval_with_fix_disp_has_no_residual_dispersion() -> None:
    rng, g, n, x, X, Z = count_data(10)
    q = Z.shape[1]
    y = rng.poisson(np.exp(0.7 + 0.2 * x + 0.6 * rng.normal(size=q)[g])).astype(float)
    with pytest.raises(ValueError, match=r"\bstartval\b"):
        hglm.hglm(y=y, X=X, Z=Z, family="poisson", fix_disp=1, startval=np.ones(2 + q + 2))
    sv = np.concatenate([[np.log(2.0), 0.0], np.zeros(q), [0.5]])
    fit = hglm.hglm(y=y, X=X, Z=Z, family="poisson", fix_disp=1, startval=sv, conv=1e-12)
    ref = hglm.hglm(y=y, X=X, Z=Z, family="poisson", fix_disp=1, conv=1e-12)
    assert fit.converged and ref.converged
    np.testing.assert_allclose(fit.fixef, ref.fixef, rtol=1e-6)
    np.testing.assert_allclose(fit.var_ranef, ref.var_ranef, rtol=1e-5)


def test_startval_nonpositive_dispersion() -> None:
    y, X, Z, _ = one_way(9)
    sv = np.concatenate([[1.0, 0.5], np.zeros(Z.shape[1]), [0.5, -1.0]])
    with pytest.raises(ValueError, match=r"\bstartval\b"):
        hglm.hglm(y=y, X=X, Z=Z, startval=sv)


def test_startval_reaches_the_same_fit() -> None:
    y, X, Z, _ = one_way(12)
    ref = hglm.hglm(y=y, X=X, Z=Z, conv=1e-20)
    sv = np.concatenate([[0.0, 0.0], np.zeros(Z.shape[1]), [3.0, 0.2]])
    fit = hglm.hglm(y=y, X=X, Z=Z, startval=sv, conv=1e-20)
    assert fit.converged and ref.converged
    np.testing.assert_allclose(fit.fixef, ref.fixef, rtol=1e-8)
    assert fit.var_fix == pytest.approx(ref.var_fix, rel=1e-7)
    np.testing.assert_allclose(fit.var_ranef, ref.var_ranef, rtol=1e-7)



def test_glm_start_as_designed() -> None:
    """DESIGN.md step 1: beta from the GLM, phi_0 = 0.6 deviance / (n - p), v = v(psi),
    lambda_0 = 0.66 phi_0 / k over the mean of diag(Z_k Z_k') (1 for indicators)."""
    rng, g, n, x, X, Z = count_data(11)
    y = 1.0 + x + rng.normal(size=Z.shape[1])[g] + rng.normal(size=n)
    wide = rng.normal(size=(n, 7))  # a dense second term: mean diag(ZZ') is not 1
    one = make_problem(y, X, Z)
    pb = replace(one, blocks=[*one.blocks, as_block(wide)], terms=one.terms * 2)
    start = starting_values(pb, [Z.shape[1], 7])
    glm = fit_glm(y, X, response_family("gaussian"))
    phi0 = 0.6 * glm.deviance / (n - 2)
    assert start.phi0 == pytest.approx(phi0, rel=1e-12)
    np.testing.assert_allclose(start.phi, phi0, rtol=1e-12)
    np.testing.assert_allclose(start.delta, np.concatenate([glm.coef, np.zeros(Z.shape[1] + 7)]),
                               rtol=1e-12, atol=1e-15)
    lam = 0.66 * phi0 / 2 / np.repeat([1.0, np.sum(wide**2) / n], [Z.shape[1], 7])
    np.testing.assert_allclose(start.lam, lam, rtol=1e-12)


def test_startval_is_taken_as_given() -> None:
    rng, g, n, x, X, Z = count_data(12)
    q = Z.shape[1]
    pb = make_problem(rng.normal(size=n), X, Z)
    sv = np.concatenate([[0.1, 0.2], np.linspace(-1, 1, q), [0.7, 1.9]])
    start = starting_values(pb, [q], sv)
    np.testing.assert_array_equal(start.delta, sv[: 2 + q])
    np.testing.assert_array_equal(start.lam, np.full(q, 0.7))
    np.testing.assert_array_equal(start.phi, np.full(n, 1.9))
    assert start.phi0 == 1.9


def _bacteria():
    from shared import load_data

    df = load_data("bacteria.csv")
    y = (df["y"] == "y").to_numpy(float)
    ids = df["ID"].astype("category").cat.codes.to_numpy()
    X = np.column_stack([np.ones(len(df)), df["week"].to_numpy(float)])
    return y, X, np.eye(ids.max() + 1)[ids]


def test_startval_without_the_residual_dispersion_starts_phi_at_one() -> None:
    """R's hglm accepts p + q + k values for the bacteria model (53, phi starting at 1)."""
    y, X, Z = _bacteria()
    short = np.concatenate([[2.0, -0.1], np.zeros(Z.shape[1]), [1.5]])
    assert short.size == 53
    fit = hglm.hglm(y=y, X=X, Z=Z, family="binomial", startval=short)
    full = hglm.hglm(y=y, X=X, Z=Z, family="binomial", startval=np.append(short, 1.0))
    assert fit.converged and fit.n_iter == full.n_iter
    np.testing.assert_array_equal(fit.fixef, full.fixef)
    assert (fit.var_fix, fit.var_ranef[0]) == (full.var_fix, full.var_ranef[0])


@pytest.mark.parametrize("family", ["gaussian", "Gamma"])
def test_startval_keeps_the_residual_dispersion_of_gaussian_and_gamma(family) -> None:
    y, X, Z, _ = one_way(9)
    sv = np.concatenate([[1.0, 0.5], np.zeros(Z.shape[1]), [0.5]])
    with pytest.raises(ValueError, match=r"startval: expected 19 values \(fixed"):
        hglm.hglm(y=np.exp(y / 4), X=X, Z=Z, family=family, startval=sv)


def test_the_start_has_the_glm_linear_predictor() -> None:
    """v starts at v(psi) (1 for Gamma(identity) effects) and beta from the GLM given
    Z v0, so that X beta + Z v0 is the GLM's linear predictor (the intercept takes -1)."""
    rng, g, n, x, X, Z = count_data(13)
    y = rng.gamma(4.0, np.exp(0.5 + 0.2 * x) / 4.0)
    start = starting_values(make_problem(y, X, Z, "Gamma", hglm.Gamma("identity")),
                            [Z.shape[1]])
    glm = fit_glm(y, X, response_family("Gamma"))
    np.testing.assert_array_equal(start.delta[2:], np.ones(Z.shape[1]))
    np.testing.assert_allclose(start.delta[:2], glm.coef - [1.0, 0.0], rtol=1e-9)


_RESPONSES = [hglm.Gaussian, hglm.Binomial, hglm.Poisson, hglm.Gamma, hglm.InverseGaussian]
_RANDOM = [hglm.Gaussian, hglm.Gamma, hglm.Beta, hglm.InverseGamma]
_PAIRS = [
    pytest.param((F, link, R, rlink), id=f"{F.__name__}({link})-{R.__name__}({rlink})")
    for F in _RESPONSES for link in F.response_links
    for R in _RANDOM for rlink in R.random_links
]


def _simulated(family: type, scale: float | None = None,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """y, X, Z of 20 groups of 8, y in the family's support, with random effects of
    standard deviation ``scale`` on the linear predictor; by default large enough that
    their variance is estimated away from 0 under every link."""
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(20), 8)
    x = rng.normal(size=g.shape[0])
    X, Z = np.column_stack([np.ones(g.shape[0]), x]), np.eye(20)[g]
    if scale is None:
        scale = 1.0 if family in (hglm.Gaussian, hglm.Binomial) else 0.3
    b = scale * rng.normal(size=20)[g]
    y = {
        hglm.Gaussian: lambda: 5 + 0.5 * x + b + rng.normal(size=x.shape[0]),
        hglm.Binomial: lambda: rng.binomial(1, 1 / (1 + np.exp(-(0.2 + 0.5 * x + b)))),
        hglm.Poisson: lambda: rng.poisson(np.exp(2.3 + 0.1 * x + b)),
        hglm.Gamma: lambda: rng.gamma(5, np.exp(1 + 0.2 * x + b) / 5),
        hglm.InverseGaussian: lambda: rng.wald(np.exp(0.5 + 0.1 * x + b), 5.0),
    }[family]()
    return np.asarray(y, dtype=float), X, Z


@pytest.mark.parametrize("pair", _PAIRS)
def test_the_default_start_fits_every_family_and_link(pair: tuple) -> None:
    """Every response family/link with every random family/link converges from the
    default start, without a warning."""
    family, link, rand_family, rand_link = pair
    y, X, Z = _simulated(family)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = hglm.hglm(y=y, X=X, Z=Z, family=family(link), rand_family=rand_family(rand_link))
    assert fit.converged
    assert np.all(np.isfinite(fit.fixef)) and np.all(np.isfinite(fit.var_ranef))


@pytest.mark.parametrize("pair", _PAIRS)
def test_every_family_and_link_solves_the_eql_equations(pair: tuple) -> None:
    """The fit from the default start (to conv=1e-12) against the EQL equations by dense
    algebra from the families' formulas: the score of the augmented GLM is 0 (its
    Fisher-scoring step from the estimates is below 1e-6), and each dispersion is its
    deviances' sum over the sum of 1 - h (the intercept-only gamma GLM's estimate)."""
    family, link, rand_family, rand_link = pair
    y, X, Z = _simulated(family)
    fit = hglm.hglm(y=y, X=X, Z=Z, family=family(link), rand_family=rand_family(rand_link),
                    conv=1e-12)
    fam, rand = family(link).as_response(), rand_family(rand_link).as_random()
    beta, u = fit.fixef.to_numpy(), fit.ranef.to_numpy()
    phi, lam = fit.var_fix, fit.var_ranef[0]
    v = rand.link.link(u)
    eta = X @ beta + Z @ v
    mu, mu_eta, du_dv = fam.link.inverse(eta), fam.link.mu_eta(eta), rand.link.mu_eta(v)
    w1 = mu_eta**2 / (fam.variance(mu) * phi)
    w2 = du_dv**2 / (rand.variance(u) * lam)
    r1 = w1 * (y - mu) / mu_eta
    score = np.concatenate([X.T @ r1, Z.T @ r1 + w2 * (rand.psi - u) / du_dv])
    hat, c_inv = dense_hat(X, Z, w1, w2)
    assert np.max(np.abs(c_inv @ score)) < 1e-6
    n = y.shape[0]
    phi_eql = np.sum(fam.unit_deviance(y, mu)) / np.sum(1.0 - hat[:n])
    lam_eql = np.sum(rand.deviance(u)) / np.sum(1.0 - hat[n:])
    assert phi == pytest.approx(phi_eql, rel=1e-6)
    assert lam == pytest.approx(lam_eql, rel=1e-6)


@pytest.mark.parametrize("rand_family", [hglm.Gamma("inverse"), hglm.Gamma("identity"),
                                         hglm.InverseGamma("inverse")],
                         ids=["Gamma(inverse)", "Gamma(identity)", "InverseGamma(inverse)"])
def test_gaussian_inverse_link_with_effects_starting_at_one(rand_family) -> None:
    """v0 = 1: with v0 added to the GLM's linear predictor (0.2, mu = 5) the start had
    eta = 1.2 (mu = 0.8) and the IWLS ran off to eta -> -inf.  From the GLM given Z v0,
    effects too weak to be told from noise go to their boundary (a named warning) and
    the fixed effects are the GLM's, the intercept less 1 (v = 1 at lambda = 0)."""
    y, X, Z = _simulated(hglm.Gaussian, scale=0.3)
    with pytest.warns(hglm.BoundaryWarning, match="went to 0"):
        fit = hglm.hglm(y=y, X=X, Z=Z, family=hglm.Gaussian("inverse"),
                        rand_family=rand_family)
    glm = fit_glm(y, X, response_family(hglm.Gaussian("inverse")))
    np.testing.assert_allclose(fit.fixef, glm.coef - [1.0, 0.0], rtol=1e-5)


def test_a_grouped_block_of_a_scalar_term_starts_as_a_scalar_term() -> None:
    """Whether a term is vector-valued is its covariance's (Unstructured), not its
    block's type: a Grouped block with independent effects gets the scalar start."""
    vec = vector_problem("gaussian")
    t = vec.terms[0]
    scalar = replace(vec, terms=[RandomTermModel(t.family, None, t.link_disp)])
    q = vec.blocks[0].width
    start_vec = starting_values(vec, [q])
    start_scalar = starting_values(scalar, [q])
    assert start_vec.factors[0] is not None and np.all(start_vec.lam == 1.0)
    assert start_scalar.factors == [None]
    assert np.all(start_scalar.lam != 1.0)
