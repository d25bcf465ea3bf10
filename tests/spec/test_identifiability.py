"""Tests of ``hglm.spec.identifiability``: models whose variances the data cannot tell
apart are refused by name before a fit (issue 18)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import hglm
from hglm.spec.identifiability import _shape, _vector_shape, check_sample_size


def _grouped(seed: int = 0, k: int = 8, m: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(k), m)
    return pd.DataFrame({"y": 2.0 + rng.normal(size=k)[g] + rng.normal(size=k * m), "g": g})


def test_one_observation_per_level_with_estimated_dispersion_is_refused() -> None:
    one = pd.DataFrame({"y": np.random.default_rng(1).normal(size=10), "g": np.arange(10)})
    with pytest.raises(ValueError, match=r"random term \(1\|g\): every level has a single "
                                         r"observation.*fix_disp"):
        hglm.hglm2("y ~ 1 + (1|g)", data=one)


def test_one_observation_per_level_is_refused_through_the_matrix_interface() -> None:
    n = 10
    y = np.random.default_rng(1).normal(size=n)
    with pytest.raises(ValueError, match=r"Z: random term 1: every level has a single"):
        hglm.hglm(y=y, X=np.ones((n, 1)), Z=sparse.identity(n, format="csc") * 3.0)


def test_one_observation_per_level_is_fitted_when_the_residual_dispersion_is_fixed() -> None:
    one = pd.DataFrame({"y": np.random.default_rng(1).normal(size=10), "g": np.arange(10)})
    fit = hglm.hglm2("y ~ 1 + (1|g)", data=one, fix_disp=0.5)
    assert fit.converged
    assert fit.var_fix == 0.5


def test_one_observation_per_level_is_fitted_for_a_poisson_response() -> None:
    rng = np.random.default_rng(2)
    data = pd.DataFrame({"y": rng.poisson(np.exp(1 + rng.normal(size=30))), "g": np.arange(30)})
    fit = hglm.hglm2("y ~ 1 + (1|g)", data=data, family="poisson", fix_disp=1)
    assert np.isfinite(fit.var_ranef).all()


def test_rows_without_the_term_identify_the_residual_variance() -> None:
    """Rows in no level of a term (a zero row of Z) separate the two variances."""
    data = _grouped()
    g = data["g"].to_numpy()
    Z = np.zeros((len(g), 20))
    first = np.flatnonzero(g < 4)
    Z[first, np.arange(first.size)] = 1.0  # one observation per level on half of the rows
    fit = hglm.hglm(y=data["y"], X=np.ones((len(g), 1)), Z=Z)
    assert np.isfinite(fit.var_fix)


def test_a_single_row_is_refused() -> None:
    data = _grouped()
    with pytest.raises(ValueError, match="y: has a single observation"):
        hglm.hglm2("y ~ 1 + (1|g)", data=data.iloc[:1])
    with pytest.raises(ValueError, match="y: has a single observation"):
        hglm.hglm(y=[1.0], X=np.ones((1, 1)), Z=np.ones((1, 1)))


def test_no_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="y: has no observations"):
        hglm.hglm(y=np.zeros(0), X=np.ones((0, 1)), Z=np.ones((0, 1)))


def test_as_many_fixed_effects_as_observations_leave_no_residual_dispersion() -> None:
    with pytest.raises(ValueError, match="y: has 3 observations for 3 fixed effects.*fix_disp"):
        check_sample_size(3, 3, None)
    check_sample_size(3, 3, 1.0)


def test_an_all_zero_term_is_refused() -> None:
    data = _grouped()
    n = len(data)
    Z = np.hstack([np.eye(8)[data["g"]], np.zeros((n, 3))])
    with pytest.raises(ValueError, match="Z: random term 2: all its columns of Z are zero"):
        hglm.hglm(y=data["y"], X=np.ones((n, 1)), Z=Z, rand_c=[8, 3])
    with pytest.raises(ValueError, match="Z: random term 1: all its columns of Z are zero"):
        hglm.hglm(y=data["y"], X=np.ones((n, 1)), Z=np.zeros((n, 1)))


def test_a_zero_column_in_a_term_leaves_the_estimates_as_without_it() -> None:
    data = _grouped()
    n = len(data)
    Z = np.eye(8)[data["g"]]
    fit = hglm.hglm(y=data["y"], X=np.ones((n, 1)), Z=Z)
    padded = hglm.hglm(y=data["y"], X=np.ones((n, 1)), Z=np.hstack([Z, np.zeros((n, 2))]))
    np.testing.assert_allclose(padded.var_ranef, fit.var_ranef, rtol=1e-6)
    np.testing.assert_allclose(padded.var_fix, fit.var_fix, rtol=1e-6)
    np.testing.assert_array_equal(padded.ranef.to_numpy()[-2:], 0.0)


@pytest.mark.parametrize("scale", [1.0, -2.5])
def test_the_same_block_twice_is_refused(scale: float) -> None:
    data = _grouped()
    n = len(data)
    Z = np.eye(8)[data["g"]]
    with pytest.raises(ValueError, match="Z: random term 2: has the same columns of Z as "
                                         "Z: random term 1"):
        hglm.hglm(y=data["y"], X=np.ones((n, 1)), Z=np.hstack([Z, scale * Z]), rand_c=[8, 8])
    with pytest.raises(ValueError, match="has the same columns of Z"):
        hglm.hglm(y=data["y"], X=np.ones((n, 1)),
                  Z=sparse.hstack([sparse.csc_matrix(Z), sparse.csc_matrix(scale * Z)]),
                  rand_c=[8, 8])


def test_the_same_formula_term_twice_is_refused() -> None:
    data = _grouped().assign(one=1.0)
    with pytest.raises(ValueError, match=r"random term \(1\|g\): has the same columns"):
        hglm.hglm2("y ~ 1 + (1|g) + (1|g)", data=data)
    with pytest.raises(ValueError, match=r"random term \(0 \+ one\|g\): has the same columns"):
        hglm.hglm2("y ~ 1 + (1|g) + (0 + one|g)", data=data)


def test_the_same_block_with_a_known_covariance_is_identified() -> None:
    """The repeatability model: one factor with a known covariance and without."""
    data = _grouped(k=12, m=4)
    n = len(data)
    rng = np.random.default_rng(3)
    L = np.tril(rng.normal(size=(12, 12)) * 0.2) + np.eye(12)
    Z = np.eye(12)[data["g"]]
    fit = hglm.hglm(y=data["y"], X=np.ones((n, 1)), Z=np.hstack([Z, Z]), rand_c=[12, 12],
                    rand_cov=[L @ L.T, None])
    assert np.isfinite(fit.var_ranef).all()


def test_a_vector_terms_shape_is_that_of_its_sparse_block() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=30)
    x[:4] = 0.0  # zero entries: no observation in their column
    g = pd.Series(rng.choice(["a", "b", "c", "d"], 30))
    df = pd.DataFrame({"y": rng.normal(size=30), "x": x, "g": g})
    (term,) = hglm.spec.design_from_lme4("y ~ x + (1 + x|g)", df).random
    term.codes[5] = -1  # a row in no level
    from_block = _shape(term.Z)
    shape = _vector_shape(term)
    np.testing.assert_array_equal(shape.column_counts, from_block.column_counts)
    np.testing.assert_allclose(shape.row_squares, from_block.row_squares, rtol=1e-15)
