"""EQL fits of vector-valued terms at the boundary (hglm.fit.eql_boundary): singular fits
converge there and say so."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hglm import BoundaryWarning, ConvergenceWarning
from hglm.fit.covariance_update import HELD
from hglm.fit.eql import Options, fit_eql
from hglm.fit.eql_boundary import is_singular, reml_start
from hglm.fit.likelihood import fit_likelihoods
from hglm.fit.lmm import fit_lmm
from hglm.fit.theta import ThetaLayout

from .glmm_problems import vector_problem
from .problems import make_problem, one_way


def _fit(pb, match: str = "boundary", **options):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with pytest.warns(BoundaryWarning, match=match):
            return fit_eql(pb, Options(**options))


@pytest.mark.parametrize("seed", [1, 2])
def test_gaussian_singular_fit_is_lmers_reml_fit(seed: int) -> None:
    """No slope variance in the data: REML's optimum has Lambda's second diagonal at 0;
    EQL converges to it (the REML restart) and reports it as singular."""
    pb = vector_problem(seed=seed, slope_sd=0.0)
    with pytest.warns(BoundaryWarning):
        reml = fit_lmm(pb, reml=True)
    assert reml.singular
    eql = _fit(pb)
    assert eql.converged and eql.singular
    assert eql.theta[2] == pytest.approx(HELD, rel=1e-6)
    np.testing.assert_allclose(eql.theta[:2], reml.theta[:2], rtol=1e-5)
    np.testing.assert_allclose(eql.phi[0], reml.sigma2, rtol=1e-6)
    np.testing.assert_allclose(eql.beta, reml.beta, rtol=1e-6)
    np.testing.assert_allclose(eql.covariances[0], reml.covariances[0], rtol=1e-5, atol=1e-9)
    assert fit_likelihoods(eql).pbvh == pytest.approx(reml.loglik, abs=1e-6)


@pytest.mark.parametrize("seed", [0, 3])
def test_binomial_singular_fit_stops_on_the_boundary(seed: int) -> None:
    """A binomial fit whose Sigma heads to a correlation of +-1 (it diverged with NaN
    weights when 1 - B_jj fell below B's rounding): the diagonal is held at HELD and the
    fit is singular; the last round's update leaves Sigma where it is."""
    pb = vector_problem("binomial", seed=seed, slope_sd=0.0, n=300, m=30)
    eql = _fit(pb, "converge very slowly on the boundary")
    assert eql.converged and eql.singular
    L = eql.last.factors_next[0]
    assert L[1, 1] == pytest.approx(HELD)
    np.testing.assert_allclose(eql.last.factors[0] @ eql.last.factors[0].T, L @ L.T,
                               rtol=1e-3, atol=1e-8)


def test_an_interior_fit_is_not_singular() -> None:
    pb = vector_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("error", BoundaryWarning)
        eql = fit_eql(pb, Options())
    assert eql.converged and not eql.singular


def test_reml_start_only_for_gaussian_eql_with_a_vector_term() -> None:
    sizes = [16]
    assert reml_start(vector_problem("binomial"), sizes, False) is None
    assert reml_start(vector_problem(), sizes, True) is None
    y, X, Z, _ = one_way(1)
    assert reml_start(make_problem(y, X, Z), [Z.shape[1]], False) is None
    phi, lam, factors = reml_start(vector_problem(), sizes, False)
    reml = fit_lmm(vector_problem(), reml=True)
    np.testing.assert_allclose(phi, reml.sigma2)
    np.testing.assert_allclose(lam, 1.0)
    np.testing.assert_allclose(factors[0] @ factors[0].T, reml.covariances[0])


def test_is_singular_is_lme4s_rule() -> None:
    vector = ThetaLayout(vector_problem())
    with pytest.warns(BoundaryWarning, match="random term"):
        assert is_singular(vector, np.array([1.0, 0.3, 5e-5]), True)
    with pytest.warns(BoundaryWarning, match="converge very slowly"):
        assert is_singular(vector, np.array([1.0, 0.3, 5e-5]), False)
    assert not is_singular(vector, np.array([1.0, 0.3, 2e-4]), False)
    y, X, Z, _ = one_way(1)
    scalar = ThetaLayout(make_problem(y, X, Z))
    with warnings.catch_warnings():  # a collapsed scalar term has its own warning
        warnings.simplefilter("error", BoundaryWarning)
        assert is_singular(scalar, np.array([1e-6]), True)
        assert not is_singular(scalar, np.array([0.5]), True)
