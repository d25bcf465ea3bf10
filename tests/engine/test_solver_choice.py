"""The choice of the solver (``hglm.engine.solver_choice``): the general sparse one for
known precisions and for nested terms whose structured Schur complement would be large,
the structured Cholesky otherwise (vector-valued terms by the indicators' rules); a
nested model fits the same by either."""

from __future__ import annotations

import numpy as np

from hglm.engine import solver_choice
from hglm.engine.augmented import AugmentedSystem
from hglm.engine.blocks import Grouped, as_block
from hglm.engine.solver_choice import make_system
from hglm.engine.sparse import SparseSystem

from .test_sparse import (
    N,
    groups,
    layout_dense,
    layout_nested,
    layout_precision,
    layout_two_crossed,
    one_hot,
    problem,
)


def test_make_system_choice() -> None:
    pb = problem(layout_precision, 0)
    blocks = [as_block(Z) for Z in pb["Zs"]]
    assert isinstance(make_system(pb["X"], blocks, pb["Qs"]), SparseSystem)
    assert isinstance(make_system(pb["X"], blocks, [None, None]), AugmentedSystem)


def test_nested_terms() -> None:
    rng = np.random.default_rng(0)
    pb = problem(layout_nested, 0)
    assert solver_choice.nested_terms([as_block(Z) for Z in pb["Zs"]])
    crossed = problem(layout_two_crossed, 0)
    assert not solver_choice.nested_terms([as_block(Z) for Z in crossed["Zs"]])
    dense = problem(layout_dense, 0)
    assert not solver_choice.nested_terms([as_block(Z) for Z in dense["Zs"]])
    a = groups(rng, 3)
    b = a * 2 + rng.integers(0, 2, N)
    three = [one_hot(a, 3), one_hot(b, 6), one_hot(b * 4 + rng.integers(0, 4, N), 24)]
    assert solver_choice.nested_terms([as_block(Z) for Z in three])
    # a:c with c drawn independently of b is nested in a but not in a:b
    other = [one_hot(a, 3), one_hot(b, 6), one_hot(a * 8 + rng.integers(0, 8, N), 24)]
    assert not solver_choice.nested_terms([as_block(Z) for Z in other])


def _grouped(codes: np.ndarray, levels: int, rng: np.random.Generator) -> Grouped:
    return Grouped.from_codes(codes, np.column_stack([np.ones(codes.size),
                                                      rng.normal(size=codes.size)]), levels)


def test_vector_valued_terms_follow_the_indicators_rules(monkeypatch) -> None:
    """(1 + x | a) alone or crossed: structured; nested with (1 | a:b) or
    (1 + x | a:b): nested_terms, and sparse once the Schur complement is large."""
    rng = np.random.default_rng(4)
    X = np.column_stack([np.ones(N), rng.normal(size=N)])
    a = groups(rng, 3)
    ab = a * 4 + rng.integers(0, 4, N)
    crossed = [_grouped(groups(rng, 5), 5, rng), as_block(one_hot(groups(rng, 4), 4))]
    nested = [_grouped(a, 3, rng), as_block(one_hot(ab, 12))]
    both = [_grouped(a, 3, rng), _grouped(ab, 12, rng)]
    assert isinstance(make_system(X, crossed[:1]), AugmentedSystem)
    assert isinstance(make_system(X, crossed), AugmentedSystem)
    assert not solver_choice.nested_terms(crossed)
    assert solver_choice.nested_terms(nested) and solver_choice.nested_terms(both)
    codes = rng.integers(-1, 12, N)  # (1 + x | c) crossed with a, rows in no level
    assert not solver_choice.nested_terms([_grouped(a, 3, rng), _grouped(codes, 12, rng)])
    assert isinstance(make_system(X, both), AugmentedSystem)
    monkeypatch.setattr(solver_choice, "SPARSE_FROM_SCHUR", 0)
    assert isinstance(make_system(X, both), SparseSystem)
    assert isinstance(make_system(X, crossed), AugmentedSystem)


def test_nested_fit_by_either_solver(monkeypatch) -> None:
    """A nested model fitted by the general sparse solver (chosen when the structured
    solver's Schur complement is large; forced here) equals the structured fit."""
    import pandas as pd

    import hglm

    rng = np.random.default_rng(8)
    n = 600
    a = rng.integers(0, 12, n)
    b = a * 5 + rng.integers(0, 5, n)
    x = rng.normal(size=n)
    y = 1 + 0.5 * x + rng.normal(0, 0.8, 12)[a] + rng.normal(0, 0.6, 60)[b] + rng.normal(
        size=n)
    df = pd.DataFrame({"y": y, "x": x, "a": a, "b": b})
    kw = {"conv": 1e-12, "maxit": 500, "calc_like": True}
    structured = hglm.hglm2("y ~ x + (1|a) + (1|a:b)", data=df, **kw)
    assert type(structured._engine.fitter.system).__name__ == "AugmentedSystem"
    monkeypatch.setattr(solver_choice, "SPARSE_FROM_SCHUR", 0)
    general = hglm.hglm2("y ~ x + (1|a) + (1|a:b)", data=df, **kw)
    assert type(general._engine.fitter.system).__name__ == "SparseSystem"
    for attr in ("fixef", "se_fixef", "ranef", "se_ranef"):
        np.testing.assert_allclose(getattr(general, attr).to_numpy(),
                                   getattr(structured, attr).to_numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(general.var_ranef, structured.var_ranef, rtol=1e-8)
    np.testing.assert_allclose(general.hat_values, structured.hat_values, rtol=1e-8)
    for key, value in structured.likelihood.items():
        np.testing.assert_allclose(general.likelihood[key], value, rtol=1e-10)
