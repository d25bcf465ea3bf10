"""Ordinal responses, cumulative links and the linear predictors' design
(hglm.spec.ordinal)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hglm.spec.ordinal import OrdinalDesign, latent_distribution, ordinal_response


def test_integer_and_ordered_categorical_responses() -> None:
    r = ordinal_response(pd.Series([1, 3, 2, 3, 1]))
    assert r.q == 2 and r.labels == ("1", "2", "3")
    np.testing.assert_array_equal(r.codes, [0, 2, 1, 2, 0])
    cat = pd.Categorical(["low", "high", "mid"], categories=["low", "mid", "high"], ordered=True)
    r = ordinal_response(pd.Series(cat))
    assert r.labels == ("low", "mid", "high")
    np.testing.assert_array_equal(r.codes, [0, 2, 1])


@pytest.mark.parametrize(("values", "message"), [
    ([2, 2, 2], "fewer than 2 categories"),
    ([1, 3, 3, 1], "categories 2 are never observed"),
    ([1.5, 2.0], "non-integer"),
    ([0, 1, 2], "non-integer or values below 1"),
    ([1.0, np.nan, 2.0], "missing values"),
    (["a", "b"], "ordered pandas Categorical"),
])
def test_bad_responses_are_named(values, message) -> None:
    with pytest.raises(ValueError, match=message):
        ordinal_response(pd.Series(values), "y")


def test_unordered_categorical_is_refused() -> None:
    with pytest.raises(ValueError, match="must be ordered"):
        ordinal_response(pd.Series(pd.Categorical(["a", "b"])))


def test_unused_categorical_level_is_a_gap() -> None:
    cat = pd.Categorical(["a", "c"], categories=["a", "b", "c"], ordered=True)
    with pytest.raises(ValueError, match="categories b are never observed"):
        ordinal_response(pd.Series(cat))


@pytest.mark.parametrize("name", ["logit", "probit", "cloglog"])
def test_latent_distribution_derivatives(name) -> None:
    dist = latent_distribution(name)
    x, h = np.linspace(-4, 3, 15), 1e-6
    np.testing.assert_allclose(dist.cdf(x) + dist.sf(x), 1.0, rtol=1e-14)
    inner = x[x < 2]  # near 1, F(x) keeps too few digits to invert exactly
    np.testing.assert_allclose(dist.quantile(dist.cdf(inner)), inner, rtol=1e-10, atol=1e-12)
    F, S, f, df = dist.pieces(x)
    np.testing.assert_allclose(F, dist.cdf(x), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(S, dist.sf(x), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(f, (dist.cdf(x + h) - dist.cdf(x - h)) / (2 * h),
                               rtol=1e-6, atol=1e-10)
    density = lambda z: dist.pieces(z)[2]  # noqa: E731
    np.testing.assert_allclose(df, (density(x + h) - density(x - h)) / (2 * h),
                               rtol=1e-5, atol=1e-9)


def test_logistic_pieces_keep_the_upper_tail() -> None:
    """f = F(1 - F) from both tails: exact where 1 - expit(x) has lost its digits."""
    x = np.array([25.0, 35.0])
    _, sf, pdf, dpdf = latent_distribution("logit").pieces(x)
    np.testing.assert_allclose(pdf, np.exp(-x) / (1 + np.exp(-x)) ** 2, rtol=1e-14)
    np.testing.assert_allclose(dpdf, -pdf * np.tanh(x / 2), rtol=1e-14)
    np.testing.assert_allclose(sf, np.exp(-x) / (1 + np.exp(-x)), rtol=1e-14)


def test_unknown_link() -> None:
    with pytest.raises(ValueError, match="link must be one of logit, probit, cloglog"):
        latent_distribution("cauchit")


def _design() -> OrdinalDesign:
    r = ordinal_response(pd.Series([1, 2, 3, 1]))
    return OrdinalDesign(r, X=np.array([[1.0], [2.0], [3.0], [4.0]]), x_names=("x",),
                         X_npo=np.array([[0.0], [1.0], [0.0], [1.0]]), npo_names=("t",),
                         Z=np.ones((4, 1)), z_names=("(Intercept)",),
                         cluster=np.array([0, 0, 1, 1]), cluster_labels=("a", "b"))


def test_parameter_names_and_jacobian() -> None:
    d = _design()
    assert d.parameter_names() == ["(Intercept) 1", "(Intercept) 2", "t 1", "t 2", "x"]
    J = d.fixed_jacobian()
    assert J.shape == (4, 2, 5)
    np.testing.assert_array_equal(J[1], [[1, 0, 1, 0, 2], [0, 1, 0, 1, 2]])
    assert d.fixed_columns("(Intercept)") == [0, 1]
    assert d.fixed_columns("t") == [2, 3]
    assert d.fixed_columns("x") == [4]
    assert d.fixed_columns("w") == []
