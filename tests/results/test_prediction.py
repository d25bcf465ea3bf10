"""re.form and the random part of the linear predictor (hglm.results.prediction)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hglm
from hglm.engine import Indicator
from hglm.results.prediction import (
    mean_v,
    population_frame,
    random_part,
    re_form_population,
    term_slices,
)

from .marginal_cases import inverse_gamma_result, lmm_fit


def test_re_form_values():
    assert not re_form_population(None)
    for value in ("NA", "~0", "~ 0", " ~0 ", np.nan):
        assert re_form_population(value)
    for bad in ("~ (1|g)", 0, "NULL"):
        with pytest.raises(ValueError, match="re_form"):
            re_form_population(bad)


def test_random_part_over_indicator_and_dense_blocks():
    codes = np.array([0, 1, 1, 2])
    dense = np.arange(8.0).reshape(4, 2)
    v = np.array([1.0, 2.0, 3.0, 10.0, 100.0])
    expected = np.array([1.0, 2.0, 2.0, 3.0]) + dense @ v[3:]
    np.testing.assert_allclose(random_part([Indicator(codes, np.ones(4), 3), dense], v),
                               expected)


def test_population_frame_blanks_the_grouping_columns():
    fit = lmm_fit(formula="y ~ x + (1|g) + (0 + z|h)")
    frame = population_frame(pd.DataFrame({"x": [0.1, 0.2]}, index=[5, 9]), fit.design)
    assert list(frame.columns) == ["x", "g", "h", "z"]
    assert frame["g"].isna().all() and (frame["z"] == 0.0).all()
    blanked = population_frame({"x": [1.0], "g": ["G01"]}, fit.design)
    assert blanked["g"].isna().all()  # a level given is not used at the population level
    np.testing.assert_allclose(fit.predict(frame, re_form="NA"),
                               fit.fixef["(Intercept)"] + fit.fixef["x"] * frame["x"])


def test_term_slices_and_the_means_of_v():
    blocks = [Indicator(np.array([0, 1, 1, 2]), np.ones(4), 3), np.zeros((4, 2))]
    assert term_slices(blocks) == [slice(0, 3), slice(3, 5)]
    np.testing.assert_array_equal(mean_v(inverse_gamma_result().problem), np.ones(15))
    np.testing.assert_array_equal(mean_v(lmm_fit().problem), np.zeros(12))


def _correlated_data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Ten levels, six rows each; A a known covariance; W a ring's neighbourhood."""
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(10), 6)
    y = rng.normal(size=60) + np.repeat(rng.normal(size=10), 6)
    frame = pd.DataFrame({"y": y, "x": rng.normal(size=60), "g": [f"l{i}" for i in g]})
    A = 0.7 * np.eye(10) + 0.3
    W = np.roll(np.eye(10), 1, axis=1) + np.roll(np.eye(10), -1, axis=1)
    return frame, A, W


@pytest.mark.parametrize("covariance", ["rand_cov", "CAR"])
@pytest.mark.filterwarnings("ignore::hglm.NumericalGuardWarning")  # the ring's CAR fit
def test_new_rows_of_a_correlated_term_use_u(covariance):
    """A term fitted on independent effects v with u = T v (a known covariance, a CAR
    term): the rows it was fitted to predict the fitted linear predictor (Z u, not Z v),
    and a row without a level its fixed part."""
    frame, A, W = _correlated_data()
    X = np.column_stack([np.ones(60), frame["x"]])
    Z = np.eye(10)[frame["g"].str[1:].astype(int)]
    given = {"rand_cov": [A]} if covariance == "rand_cov" else {"rand_family": hglm.CAR(W)}
    fit = hglm.hglm(frame["y"], X, Z, **given)
    np.testing.assert_allclose(fit.predict(X=X, Z=Z, type="link"), fit.linear_predictor,
                               rtol=1e-12)
    np.testing.assert_allclose(fit.predict(X=X[:2], Z=np.zeros((2, 10)), type="link"),
                               X[:2] @ fit.fixef.to_numpy(), rtol=1e-12)


def test_new_data_of_a_known_covariance_formula_fit():
    frame, A, _ = _correlated_data()
    labels = [f"l{i}" for i in range(10)]
    fit = hglm.hglm2("y ~ x + (1|g)", data=frame,
                     cov={"g": pd.DataFrame(A, index=labels, columns=labels)})
    np.testing.assert_allclose(fit.predict(frame, type="link"), fit.linear_predictor,
                               rtol=1e-12)
    new = pd.DataFrame({"x": [0.5], "g": ["unseen"]})
    np.testing.assert_allclose(fit.predict(new, type="link"),
                               fit.fixef["(Intercept)"] + 0.5 * fit.fixef["x"], rtol=1e-12)
    with pytest.raises(ValueError, match="unseen"):
        fit.predict(new, unseen="raise")
