"""Tests of ``hglm.fit.leverages``: a round's leverages (sums where sums suffice) and the
exact ones of the report, against dense algebra."""

from __future__ import annotations

import numpy as np
import pytest

from hglm.engine import as_block, make_system
from hglm.fit.leverages import Leverages
from hglm.fit.random_effects import RandomEffects
from hglm.spec import Problem, RandomTermModel
from hglm.spec.families import random_family, response_family
from hglm.spec.links import LINKS

from .problems import dense_hat


def _problem(seed: int, x_disp: bool) -> tuple[Problem, np.ndarray, np.ndarray]:
    """Two crossed indicator terms, the second with a level no row has (an empty column
    of Z); with ``x_disp`` the residual dispersion has a covariate (so a round needs
    every observation leverage).  Returns the problem, its weights (w1, w2) and Z."""
    rng = np.random.default_rng(seed)
    n = 80
    a, b = rng.integers(0, 6, size=n), rng.integers(0, 4, size=n)
    Z = np.hstack([np.eye(6)[a], np.eye(5)[b]])  # level 4 of the second term is empty
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    term = RandomTermModel(random_family("gaussian"), None, LINKS["log"])
    pb = Problem(
        y=rng.normal(size=n), X=X, blocks=[as_block(Z[:, :6]), as_block(Z[:, 6:])],
        terms=[term, term], family=response_family("gaussian"), weights=np.ones(n),
        offset=np.zeros(n), x_disp=X if x_disp else None, link_disp=LINKS["log"],
        fix_disp=None,
    )
    w = (rng.uniform(0.5, 2.0, size=n), rng.uniform(0.2, 3.0, size=11))
    return pb, w, Z


def _leverages(pb: Problem, w1: np.ndarray, w2: np.ndarray):
    system = make_system(pb.X, pb.blocks)
    lev = Leverages(pb, RandomEffects(pb), system.q)
    return lev, system.factorize(w1, w2)


def test_exact_leverages_are_the_dense_ones() -> None:
    pb, (w1, w2), Z = _problem(1, x_disp=False)
    lev, factor = _leverages(pb, w1, w2)
    h, _ = dense_hat(pb.X, Z, w1, w2)
    np.testing.assert_allclose(np.asarray(lev.exact(factor, w1, w2)), np.minimum(h, 1 - 1e-8),
                               rtol=1e-10)


def test_a_round_needs_only_sums_of_intercept_only_dispersions() -> None:
    pb, (w1, w2), Z = _problem(2, x_disp=False)
    n = pb.y.shape[0]
    lev, factor = _leverages(pb, w1, w2)
    h, _ = dense_hat(pb.X, Z, w1, w2)
    hat = lev.of_round(factor, w1, w2)
    # observations: their mean everywhere; random terms: each term's mean
    np.testing.assert_allclose(hat[:n], np.full(n, h[:n].mean()), rtol=1e-10)
    np.testing.assert_allclose(hat[n : n + 6], np.full(6, h[n : n + 6].mean()), rtol=1e-10)
    # the empty level has h = 1 and the mean is over the other levels
    assert hat[n + 10] == 1.0
    assert h[n + 10] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(hat[n + 6 : n + 10], np.full(4, h[n + 6 : n + 10].mean()),
                               rtol=1e-10)
    assert not lev.informative_rows[n + 10] and lev.informative_rows[: n + 10].all()


def test_a_dispersion_model_with_covariates_gets_every_observation_leverage() -> None:
    pb, (w1, w2), Z = _problem(3, x_disp=True)
    n = pb.y.shape[0]
    lev, factor = _leverages(pb, w1, w2)
    h, _ = dense_hat(pb.X, Z, w1, w2)
    np.testing.assert_allclose(lev.of_round(factor, w1, w2)[:n], h[:n], rtol=1e-10)
