"""Tests of ``hglm.fit.diagnostics``: non-convergence by R's dominance rule, and the
boundary warnings of a random term without variation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import hglm
from hglm.fit.diagnostics import ConvergenceWarning, divergence_cause, nonconvergence_reason

from .problems import make_problem


def test_dominant_random_variance_is_not_converged() -> None:
    # residual noise ~1e-4 of the random-effect spread: a random term holds more than
    # 1 - 1e-4 of the total dispersion, which R's rule reports as non-convergence
    rng = np.random.default_rng(8)
    k = 10
    g = np.repeat(np.arange(k), 5)
    n = g.shape[0]
    y = rng.normal(size=k)[g] + 1e-4 * rng.normal(size=n)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = hglm.hglm(y=y, X=np.ones((n, 1)), Z=np.eye(k)[g])
    messages = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert fit.var_ranef[0] / (fit.var_ranef[0] + fit.var_fix) > 1 - 1e-4
    assert fit.converged is False
    # the message names the cause, not a criterion far below conv
    assert len(messages) == 1
    assert "random term 1 holds more than 1 - 1e-4 of the total dispersion" in messages[0]
    assert "criterion" not in messages[0]


def test_a_fit_stopped_by_maxit_says_so() -> None:
    y = np.random.default_rng(3).normal(size=40)
    g = np.repeat(np.arange(8), 5)
    y = y + np.random.default_rng(4).normal(size=8)[g]
    with pytest.warns(ConvergenceWarning, match=r"did not converge in 2 iterations \(crit"):
        hglm.hglm(y=y, X=np.ones((40, 1)), Z=np.eye(8)[g], maxit=2)


@pytest.mark.parametrize(
    ("criterion", "settled", "dominant", "expected"),
    [
        (1.6e-14, True, 0, "random term 1 holds more than 1 - 1e-4"),
        (1e-9, False, None, "the dispersions still moving"),
        (1e-9, True, None, "held only at the last allowed iteration (maxit=50)"),
        (1e-3, True, None, "did not converge in 50 iterations (criterion 0.001"),
    ],
)
def test_nonconvergence_reason_names_the_cause(criterion, settled, dominant, expected) -> None:
    reason = nonconvergence_reason(50, 50, criterion, 1e-6, settled, dominant)
    assert expected in reason



def _poisson_groups(seed: int, sd: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(40), 5)
    y = rng.poisson(10.0 * np.exp(sd * rng.normal(size=40))[g])
    return y, np.eye(40)[g]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_random_term_without_variation_gets_a_boundary_warning(seed: int) -> None:
    # every group holds the same counts (shuffled): no variation between groups, so the
    # variance goes to its boundary 0
    rng = np.random.default_rng(seed)
    y = np.concatenate([rng.permutation([6, 8, 10, 12, 14]) for _ in range(40)])
    Z = np.eye(40)[np.repeat(np.arange(40), 5)]
    with pytest.warns(hglm.BoundaryWarning, match="random term 1: the variance of its"):
        fit = hglm.hglm(y=y, X=np.ones((200, 1)), Z=Z, family="poisson", fix_disp=1)
    assert fit.var_ranef[0] < 1e-3


def test_a_real_random_term_gets_no_boundary_warning() -> None:
    y, Z = _poisson_groups(5, sd=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", hglm.BoundaryWarning)
        fit = hglm.hglm(y=y, X=np.ones((200, 1)), Z=Z, family="poisson", fix_disp=1)
    assert 0.02 < fit.var_ranef[0] < 0.3



def _design(seed: int = 1):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(10), 6)
    x = rng.normal(size=g.size)
    return rng, x, np.column_stack([np.ones(g.size), x]), np.eye(10)[g]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("separation", r"^y, X: the fixed effects separate the outcomes \(perfect separation"),
        ("all zero counts", r"^y: every count is 0"),
        ("all successes", r"^y: every observation is a success \(y = 1\)"),
        ("all failures", r"^y: every observation is a failure \(y = 0\)"),
        ("near-collinear X", r"^X: is rank deficient: column\(s\) \['X.3'\]"),
    ],
)
def test_a_fit_that_cannot_exist_names_its_cause(case: str, message: str) -> None:
    """Data whose estimates go to infinity or are not identified get a ValueError naming
    the argument and the cause, not "the EQL iteration diverged ... try other starting
    values" (T'WT not positive definite, or an IWLS that does not converge)."""
    rng, x, X, Z = _design()
    n = x.size
    kw = {
        "separation": dict(y=(x > 0).astype(float), family="binomial"),
        "all zero counts": dict(y=np.zeros(n), family="poisson"),
        "all successes": dict(y=np.ones(n), family="binomial"),
        "all failures": dict(y=np.zeros(n), family="binomial"),
        "near-collinear X": dict(
            y=x + rng.normal(size=n), X=np.column_stack([X, x + 1e-9 * rng.normal(size=n)])
        ),
    }[case]
    with pytest.raises(ValueError, match=message):
        hglm.hglm(**{"X": X, "Z": Z, **kw})


@pytest.mark.parametrize("family", ["gaussian", "binomial", "poisson"])
def test_good_data_have_no_divergence_cause(family: str) -> None:
    rng, x, X, Z = _design()
    y = {"gaussian": x + rng.normal(size=x.size),
         "binomial": rng.binomial(1, 0.5, x.size).astype(float),
         "poisson": rng.poisson(2.0, x.size).astype(float)}[family]
    assert divergence_cause(make_problem(y, X, Z, family=family)) is None
