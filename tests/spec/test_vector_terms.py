"""Tests of ``hglm.spec.vector_terms``: a vector-valued term ``(1 + x|g)`` assembled with
its unstructured covariance, the structures refused with it, and its bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from hglm.spec import EngineHooks, Independent, Unstructured, assemble, design_from_lme4
from hglm.spec.vector_terms import _level_constant

HOOKS = EngineHooks(block=lambda columns: columns, positive_definite=lambda Q: True)
DEFAULTS = {
    "rand_c": None, "family": "gaussian", "rand_family": "gaussian", "x_disp": None,
    "link_disp": "log", "x_rand_disp": None, "link_rand_disp": "log", "rand_cov": None,
    "rand_cov_labels": None, "weights": None, "offset": None, "fix_disp": None,
    "engine": HOOKS,
}


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    n = 40
    return pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(size=n),
                         "z": rng.normal(size=n), "g": np.repeat(list("abcdefgh"), 5),
                         "s": np.repeat(rng.normal(size=8), 5), "one": "a"})


def _assemble(formula: str, frame: pd.DataFrame, **changes: object):
    design = design_from_lme4(formula, frame)
    labels = ([n for t in design.random for n in t.names], [t.label for t in design.random])
    return assemble(design.y, design.X, design.random,
                    **{**DEFAULTS, "random_labels": labels, **changes})


def test_vector_term_has_an_unstructured_covariance(frame) -> None:
    problem, names = _assemble("y ~ x + (1 + x|g) + (0 + z|g)", frame)
    first, second = problem.terms
    assert first.covariance == Unstructured(2) and first.n_theta == 3
    assert isinstance(second.covariance, Independent) and second.n_theta == 1
    assert names.terms == ["(1 + x|g)", "(0 + z|g)"]
    assert names.random[:4] == ["(Intercept)|g:a", "x|g:a", "(Intercept)|g:b", "x|g:b"]
    assert len(names.random) == 8 * 2 + 8


def test_three_effects_per_level(frame) -> None:
    problem, _ = _assemble("y ~ (1 + x + z|g)", frame)
    assert problem.terms[0].covariance == Unstructured(3) and problem.terms[0].n_theta == 6


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rand_family": "gamma"}, r"rand_family: random term \(1 \+ x\|g\) is vector-valued"
                                   r".*Gaussian random effects, not Gamma.*\(1 \+ x\|\|g\)"),
        ({"rand_cov": [np.eye(16)], "rand_cov_labels": ["cov['g']"]},
         r"cov\['g'\]: random term \(1 \+ x\|g\) is vector-valued.*'\|\|'"),
        ({"x_rand_disp": [np.ones((16, 1))]}, r"rand_disp: random term \(1 \+ x\|g\).*'\|\|'"),
    ],
)
def test_scalar_structures_are_refused(frame, changes, message) -> None:
    with pytest.raises(ValueError, match=message):
        _assemble("y ~ (1 + x|g)", frame, **changes)


def test_grouping_factor_with_one_level(frame) -> None:
    with pytest.raises(ValueError, match=r"\(1 \+ x\|one\): its grouping factor one has a "
                                         "single level"):
        _assemble("y ~ (1 + x|one)", frame)


def test_more_effects_per_level_than_levels(frame) -> None:
    frame["k"] = np.tile(["u", "v"], 20)
    with pytest.raises(ValueError, match=r"has 3 effects per level \(\(Intercept\), x, z\) "
                                         "but its grouping factor k has 2 levels"):
        _assemble("y ~ (1 + x + z|k)", frame)


def test_slope_constant_within_every_level_is_warned_of(frame) -> None:
    with pytest.warns(UserWarning, match=r"\(1 \+ s\|g\): the columns \(Intercept\), s are "
                                         "constant within every level of g"):
        _assemble("y ~ (1 + s|g)", frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _assemble("y ~ (0 + s|g) + (1 + x|g)", frame)


@pytest.mark.parametrize("jitter, constant", [(1e-14, True), (1e-9, False)])
def test_level_constant_columns_within_a_relative_tolerance(frame, jitter, constant) -> None:
    (term,) = design_from_lme4("y ~ (1 + s|g)", frame).random
    term.values[::3, 1] *= 1.0 + jitter
    term.codes[1] = -1  # a row in no level is left out
    assert _level_constant(term).tolist() == [True, constant]
