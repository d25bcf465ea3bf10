"""Tests of ``hglm.spec.model_matrix``: R's model matrices through formulaic, and the
counts of a ``cbind(successes, failures)`` response."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hglm.spec.model_matrix import binomial_counts, fixed_matrix, formulaic_matrix, numeric_values


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"s": [1, 0, 3], "n": [4, 0, 3], "b": [True, False, True],
                         "f": ["a", "b", "a"], "x": [1.0, 4.0, 9.0]})


def test_binomial_counts(frame) -> None:
    y, trials = binomial_counts(frame, ("s", "n - s"), "formula='cbind(s, n - s) ~ 1'")
    np.testing.assert_array_equal(trials, [4.0, 0.0, 3.0])
    np.testing.assert_array_equal(y, [0.25, np.nan, 1.0])
    with pytest.raises(ValueError, match=r"formula='f': the counts 's - 2'.*\(found -1\)"):
        binomial_counts(frame, ("s - 2", "n"), "formula='f'")


def test_fixed_matrix_has_r_names(frame) -> None:
    X, _ = fixed_matrix(frame, "f + sqrt(x) + b", "fixed part")
    assert list(X.columns) == ["(Intercept)", "fb", "sqrt(x)", "bTRUE"]
    np.testing.assert_array_equal(X["sqrt(x)"], [1.0, 2.0, 3.0])
    assert X.dtypes.eq(float).all()


def test_expression_values_keep_a_boolean_one_column(frame) -> None:
    np.testing.assert_array_equal(numeric_values(frame, "b", "response"), [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(numeric_values(frame, 'f == "a"', "response"), [1, 0, 1])
    assert list(formulaic_matrix("0 + b", frame, "test").columns) == ["bFALSE", "bTRUE"]
