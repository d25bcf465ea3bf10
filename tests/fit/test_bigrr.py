"""bigRR for every family (fit/bigrr.py): the transformed fit against the ordinary one,
marker weights, HEM's weights and the refusals."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import hglm
from hglm.fit import hem_weights
from hglm.fit.bigrr import HEM_FLOOR


def _binary(n: int = 40, q: int = 120, seed: int = 7, counts: bool = False) -> tuple:
    """Scaled -1/1 markers and a binary trait (or counts) driven by five of them."""
    rng = np.random.default_rng(seed)
    Z = rng.choice([-1.0, 1.0], size=(n, q))
    Z = (Z - Z.mean(axis=0)) / Z.std(axis=0, ddof=1)
    eta = 0.3 + Z[:, :5] @ np.full(5, 0.4)
    y = (
        rng.poisson(np.exp(eta)).astype(float) if counts
        else (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    )
    return y, np.ones((n, 1)), Z


def _quiet(**kwargs: object) -> hglm.HGLMResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hglm.NumericalGuardWarning)
        return hglm.hglm(**kwargs)


@pytest.mark.parametrize("family", ["binomial", "poisson"])
def test_transformed_fit_is_the_q_dimensional_fit(family: str) -> None:
    """The n x n problem has the q-dimensional problem's fixed point (the relative floor
    makes the deviance floors of both negligible)."""
    y, X, Z = _binary(counts=family == "poisson")
    common = dict(y=y, X=X, Z=Z, family=family, fix_disp=1, conv=1e-12, maxit=500,
                  dev_floor="relative")
    wide = _quiet(bigrr=True, **common)
    ordinary = _quiet(bigrr=False, **common)
    assert isinstance(wide, hglm.BigRRResult) and wide.markers.transformed
    assert wide.converged and ordinary.converged
    np.testing.assert_allclose(wide.fixef, ordinary.fixef, rtol=1e-6)
    np.testing.assert_allclose(wide.var_ranef, ordinary.var_ranef, rtol=1e-6)
    u = ordinary.ranef.to_numpy()
    np.testing.assert_allclose(wide.ranef.to_numpy(), u, atol=1e-6 * np.abs(u).max())
    q_hat = ordinary.hat_values[y.shape[0]:]
    np.testing.assert_allclose(wide.hat_leverage.to_numpy(), q_hat, atol=1e-6)


def test_marker_weights_are_column_scales() -> None:
    """Weights w on Z are the model on Z diag(sqrt(w)) with u = sqrt(w) v."""
    y, X, Z = _binary()
    w = np.random.default_rng(2).uniform(0.5, 3.0, Z.shape[1])
    common = dict(family="binomial", fix_disp=1, conv=1e-12, maxit=500,
                  dev_floor="relative")
    snp = _quiet(y=y, X=X, Z=Z, bigrr=True, **common)
    weighted = hglm.fit.fit_markers(snp.markers.problem, snp.markers.options, w)
    scaled = _quiet(y=y, X=X, Z=Z * np.sqrt(w), bigrr=True, **common)
    np.testing.assert_allclose(weighted.engine.beta, scaled.fixef, rtol=1e-6)
    np.testing.assert_allclose(weighted.u, np.sqrt(w) * scaled.ranef.to_numpy(),
                               atol=1e-6 * np.abs(weighted.u).max())
    np.testing.assert_allclose(weighted.leverage, scaled.leverage, atol=1e-6)
    np.testing.assert_allclose(weighted.hat_leverage(), scaled.hat_leverage, atol=1e-6)


def test_bigrr_update_refits_with_hem_weights() -> None:
    y, X, Z = _binary()
    snp = _quiet(y=y, X=X, Z=Z, family="binomial", fix_disp=1, bigrr=True)
    hem = hglm.bigrr_update(snp, Z)
    expected = hem_weights(snp.ranef.to_numpy(), snp.leverage.to_numpy())
    np.testing.assert_array_equal(hem.marker_weights.to_numpy(), expected)
    assert hem.converged and hem.var_fix == 1.0
    assert hem.ranef.shape == (Z.shape[1],)


def test_hem_weights_floor() -> None:
    w = hem_weights(np.array([1e-6, 0.5]), np.array([0.5, 0.75]))
    np.testing.assert_allclose(w, [HEM_FLOOR, 1.0])


def test_bigrr_update_of_a_gaussian_fit() -> None:
    """The n-space Gaussian fit's effects and leverages feed HEM too."""
    y, X, Z = _binary()
    gauss = _quiet(y=y + Z[:, 0], X=X, Z=Z, bigrr=True)
    hem = hglm.bigrr_update(gauss, Z)
    assert isinstance(hem, hglm.BigRRResult) and hem.marker_weights is not None


def test_fewer_markers_than_rows_use_the_ordinary_path() -> None:
    y, X, Z = _binary(q=15)
    with pytest.warns(UserWarning, match="ordinary"):
        fit = _quiet(y=y, X=X, Z=Z, family="binomial", fix_disp=1, bigrr=True)
    assert not fit.markers.transformed and fit.ranef.shape == (15,)


def test_constant_marker_column_is_refused_by_index() -> None:
    y, X, Z = _binary()
    Z = Z.copy()
    Z[:, 17] = np.nan  # scale() of a constant column
    with pytest.raises(ValueError, match="Z: column 17 .*constant"):
        hglm.hglm(y=y, X=X, Z=Z, family="binomial", fix_disp=1, bigrr=True)


def test_missing_genotype_is_refused() -> None:
    y, X, Z = _binary()
    Z = Z.copy()
    Z[3, 5] = np.nan
    with pytest.raises(ValueError, match="Z: contains missing.*row 3, column 5.*impute"):
        hglm.hglm(y=y, X=X, Z=Z, family="binomial", fix_disp=1, bigrr=True)


def test_bigrr_update_checks_z() -> None:
    y, X, Z = _binary()
    snp = _quiet(y=y, X=X, Z=Z, family="binomial", fix_disp=1, bigrr=True)
    with pytest.raises(ValueError, match="Z: has shape"):
        hglm.bigrr_update(snp, Z[:, :-1])


def test_bigrr_refuses_other_random_models() -> None:
    y, X, Z = _binary()
    with pytest.raises(ValueError, match="bigrr: needs one random term"):
        hglm.hglm(y=y, X=X, Z=Z, family="binomial", fix_disp=1, bigrr=True,
                  rand_family="gamma")


def test_prediction_from_markers() -> None:
    y, X, Z = _binary()
    fit = _quiet(y=y, X=X, Z=Z, family="binomial", fix_disp=1, bigrr=True)
    eta = fit.predict(X=X, Z=Z, type="link")
    np.testing.assert_allclose(eta, fit.fixef.iloc[0] + Z @ fit.ranef.to_numpy())
    np.testing.assert_allclose(eta, fit.linear_predictor, atol=1e-8)


def test_a_vector_term_does_not_take_the_marker_path() -> None:
    """A non-Gaussian fit of one vector-valued term (an engine.Grouped block, which has
    no dense shape) is EQL's, not bigRR's."""
    from hglm.fit.bigrr import use_markers
    from hglm.fit.eql import Options

    from .glmm_problems import vector_problem

    assert not use_markers(vector_problem("binomial"), Options())
