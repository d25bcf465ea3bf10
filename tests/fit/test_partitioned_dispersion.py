"""Tests of ``hglm.fit.partitioned_dispersion``: the residual dispersion's gamma GLM
from sums over partitions takes fit_glm's steps (start, halving, R's stopping rule)."""

from __future__ import annotations

import numpy as np
import pytest

from hglm.fit.dispersion import fit_dispersion
from hglm.fit.partitioned_dispersion import fit_partitioned_dispersion
from hglm.spec.links import LINKS


def _sums(y: np.ndarray, w: np.ndarray, X: np.ndarray, coef: np.ndarray | None) -> dict:
    """One partition's IRLS sums of the gamma GLM with a log link."""
    eta = np.log(y) if coef is None else X @ coef
    mu = np.exp(eta)
    ww = w  # gamma variance mu^2 and log link: w (dmu/deta)^2 / V = w
    z = eta + (y - mu) / mu
    dev = float(np.sum(w * 2.0 * ((y - mu) / mu - np.log(y / mu))))
    return {"xtwx": X.T @ (ww[:, None] * X), "xtwz": X.T @ (ww * z), "dev": dev,
            "valid": bool(np.all(np.isfinite(mu)))}


@pytest.mark.parametrize("n_parts", [1, 3])
def test_agrees_with_fit_dispersion_on_the_rows(n_parts: int) -> None:
    rng = np.random.default_rng(4)
    n = 300
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)])
    hat = rng.uniform(0.01, 0.3, n)
    dev = np.exp(0.3 + 0.6 * X[:, 1]) * rng.chisquare(1, n) + 1e-4
    whole = fit_dispersion(dev, hat, X, LINKS["log"])
    y, w = dev / (1 - hat), (1 - hat) / 2
    parts = np.array_split(np.arange(n), n_parts)

    def pass_at(coef):
        sums = [_sums(y[i], w[i], X[i], coef) for i in parts]
        return {"xtwx": sum(s["xtwx"] for s in sums), "xtwz": sum(s["xtwz"] for s in sums),
                "dev": sum(s["dev"] for s in sums), "valid": all(s["valid"] for s in sums)}

    fit = fit_partitioned_dispersion(pass_at)
    np.testing.assert_allclose(fit.coef, whole.coef, rtol=1e-10)
    np.testing.assert_allclose(fit.std_error, whole.std_error, rtol=1e-10)
    np.testing.assert_allclose(np.exp(X @ fit.coef), whole.fitted, rtol=1e-10)


def test_a_first_step_out_of_the_means_space_is_an_error() -> None:
    def pass_at(coef):
        return {"xtwx": np.eye(1), "xtwz": np.ones(1), "dev": 1.0, "valid": coef is None}

    with pytest.raises(ValueError, match="first step left the means' space"):
        fit_partitioned_dispersion(pass_at)
