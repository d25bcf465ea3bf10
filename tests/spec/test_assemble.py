"""Tests of ``hglm.spec.assemble``: the Problem and labels of an HGLM from arrays, with
the engine's part (the blocks of Z, the test of definiteness) given by the caller.

The checks of the arguments are tested through the public API (``tests/test_api.py``,
``tests/spec/test_covariance.py``, ``tests/spec/test_spatial.py``); here, what the
assembly hands to the estimators, and that spec stands beside the engine.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import hglm
from hglm.spec import EngineHooks, Names, Precision, assemble
from hglm.spec.formula import design_from_lme4

SPEC = Path(hglm.spec.__file__).parent


def tagged(columns: object) -> tuple[str, object]:
    """A stand-in for the engine's block: the columns it was made of."""
    return "block", columns


HOOKS = EngineHooks(block=tagged, positive_definite=lambda Q: True)

DEFAULTS = {
    "rand_c": None, "family": "gaussian", "rand_family": "gaussian", "x_disp": None,
    "link_disp": "log", "x_rand_disp": None, "link_rand_disp": "log", "rand_cov": None,
    "rand_cov_labels": None, "weights": None, "offset": None, "fix_disp": None,
    "random_labels": None, "engine": HOOKS,
}


@pytest.fixture
def arrays() -> dict:
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(5), 4)
    X = pd.DataFrame({"one": 1.0, "x": rng.normal(size=20)})
    return {"y": pd.Series(rng.normal(size=20), name="yield"), "X": X, "Z": np.eye(5)[g]}


def test_matrix_interface(arrays) -> None:
    problem, labels = assemble(**arrays, **{**DEFAULTS, "rand_c": [3, 2], "fix_disp": 2})
    assert labels == Names(
        fixed=["one", "x"], random=[f"Z.{j}" for j in range(1, 6)],
        terms=["Random1", "Random2"], disp=None, rand_disp=[None, None], response="yield",
    )
    np.testing.assert_array_equal(problem.X, arrays["X"].to_numpy())
    assert [tag for tag, _ in problem.blocks] == ["block", "block"]
    np.testing.assert_array_equal(problem.blocks[1][1], arrays["Z"][:, 3:])
    np.testing.assert_array_equal(problem.weights, np.ones(20))
    np.testing.assert_array_equal(problem.offset, np.zeros(20))
    assert problem.fix_disp == 2.0 and problem.family.name == "gaussian"
    assert [t.family.name for t in problem.terms] == ["gaussian", "gaussian"]


def test_formula_terms_are_handed_over_without_building_z(arrays) -> None:
    frame = pd.DataFrame({"y": arrays["y"], "x": arrays["X"]["x"],
                          "g": np.repeat(list("abcde"), 4)})
    design = design_from_lme4("y ~ x + (1|g)", frame)
    problem, labels = assemble(
        design.y, design.X, design.random,
        **{**DEFAULTS, "random_labels": (design.random[0].names, ["(1|g)"])},
    )
    assert problem.blocks[0][1] is design.random[0]
    assert design.random[0]._Z is None
    assert labels.terms == ["(1|g)"] and labels.random[0] == "(Intercept)|g:a"


def test_binomial_counts_are_checked(arrays) -> None:
    y = np.tile([0.5, 0.0, 1.0, 0.25], 5)
    with pytest.warns(UserWarning, match="non-integer #successes in a binomial glm!"):
        assemble(**{**arrays, "y": y}, **{**DEFAULTS, "family": "binomial"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        binomial, _ = assemble(**{**arrays, "y": y},
                               **{**DEFAULTS, "family": "binomial", "weights": np.full(20, 4.0)})
        gamma, _ = assemble(**{**arrays, "y": y + 1.0}, **{**DEFAULTS, "family": "gamma"})
    # the counts the checks read: a binomial's successes y * weights, else y
    np.testing.assert_array_equal(binomial.counts, np.tile([2.0, 0.0, 4.0, 1.0], 5))
    np.testing.assert_array_equal(gamma.counts, y + 1.0)


def test_known_covariance_and_precision(arrays) -> None:
    A = 0.5 * np.eye(5) + 0.5
    L = np.linalg.cholesky(A)
    problem, _ = assemble(**arrays, **{**DEFAULTS, "rand_cov": [A]})
    np.testing.assert_allclose(problem.terms[0].transform, L)
    np.testing.assert_allclose(problem.blocks[0][1], arrays["Z"] @ L)
    Q = sparse.csc_matrix(np.linalg.inv(A))
    problem, _ = assemble(**arrays, **{**DEFAULTS, "rand_cov": [Precision(Q)]})
    np.testing.assert_allclose(problem.terms[0].precision.toarray(), Q.toarray())
    np.testing.assert_array_equal(problem.blocks[0][1], arrays["Z"])
    assert problem.terms[0].transform is None


def test_definiteness_of_a_precision_is_the_engines(arrays) -> None:
    checked = []
    hooks = EngineHooks(block=tagged, positive_definite=lambda Q: checked.append(Q) or False)
    Q = Precision(sparse.identity(5, format="csc"))
    with pytest.raises(ValueError, match=r"rand_cov\[0\]: the precision must be positive"):
        assemble(**arrays, **{**DEFAULTS, "rand_cov": [Q], "engine": hooks})
    assert len(checked) == 1


def test_spatial_term_is_fitted_on_its_eigen_basis(arrays) -> None:
    D = np.diag(np.ones(4), 1) + np.diag(np.ones(4), -1)
    car = hglm.CAR(D)
    problem, labels = assemble(**arrays, **{**DEFAULTS, "rand_family": car})
    term, structure = problem.terms[0], car.as_random().spatial
    np.testing.assert_array_equal(term.shift_block[1], arrays["Z"])
    np.testing.assert_allclose(problem.blocks[0][1], arrays["Z"] @ structure.vectors)
    np.testing.assert_array_equal(term.x_disp, structure.disp_design)
    assert term.link_disp == structure.disp_link
    assert labels.rand_disp == [["(Intercept)", "eigenvalue"]]


def test_fix_disp_with_a_dispersion_model_is_refused() -> None:
    """fix_disp used to silently ignore x_disp (issue 18)."""
    rng = np.random.default_rng(0)
    n = 20
    y, Z = rng.normal(size=n), np.eye(4)[np.arange(n) % 4]
    x_disp = np.column_stack([np.ones(n), rng.normal(size=n)])
    with pytest.raises(ValueError, match=r"fix_disp: .*\(x_disp, or disp=\) would be ignored"):
        assemble(y, np.ones((n, 1)), Z, **{**DEFAULTS, "fix_disp": 1.0, "x_disp": x_disp})
    data = pd.DataFrame({"y": y, "g": np.arange(n) % 4, "x": x_disp[:, 1]})
    with pytest.raises(ValueError, match="fix_disp: .*would be ignored"):
        hglm.hglm2("y ~ 1 + (1|g)", data=data, disp="~ x", fix_disp=1.0)


def test_rand_c_given_as_r_numbers() -> None:
    rng = np.random.default_rng(0)
    n = 20
    y, Z = rng.normal(size=n), np.eye(4)[np.arange(n) % 4]
    with pytest.raises(ValueError, match="rand_c: must be whole numbers"):
        assemble(y, np.ones((n, 1)), np.hstack([Z, Z[:, :3]]),
                 **{**DEFAULTS, "rand_c": [2.7, 4.2]})
    with pytest.raises(ValueError, match=r"rand_c: .*\[6\] must be positive and sum to the 7"):
        assemble(y, np.ones((n, 1)), np.hstack([Z, Z[:, :3]]), **{**DEFAULTS, "rand_c": 6})
    problem, _ = assemble(y, np.ones((n, 1)), Z, **{**DEFAULTS, "rand_c": 4})
    assert len(problem.terms) == 1
