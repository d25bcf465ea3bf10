"""Tests of ``hglm.spec.materializer``: formulaic's model matrices with R's column names
(``model.matrix``'s rules) and R's logicals as factors, on the training data and on new
data."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from formulaic import model_matrix

from hglm.spec.materializer import NAME, RMaterializer
from hglm.spec.r_syntax import FUNCTIONS


@pytest.fixture
def data() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [0.5, 1.0, 1.5, 2.0, 2.5, 3.0],
            "f": ["u", "v", "w", "u", "v", "w"],
            "h": ["b", "a", "b", "a", "b", "a"],
            "g": [10, 2, 1, 10, 2, 1],
            "r": [2.5, 1.0, 2.5, 1.0, 2.5, 1.0],
            "b": [True, False, True, True, False, False],
            "seed": ["O73", "O75", "O73", "O75", "O73", "O75"],
        }
    )


def columns(formula: str, frame: pd.DataFrame) -> list[str]:
    matrix = model_matrix(formula, frame, context=FUNCTIONS, materializer=RMaterializer)
    return list(matrix.columns)


@pytest.mark.parametrize(
    ("formula", "names"),
    [
        ("x + f", ["Intercept", "x", "fv", "fw"]),
        ("f*x", ["Intercept", "fv", "fw", "x", "fv:x", "fw:x"]),
        ("x*f", ["Intercept", "x", "fv", "fw", "x:fv", "x:fw"]),
        ("f*h", ["Intercept", "fv", "fw", "hb", "fv:hb", "fw:hb"]),
        ("0 + f", ["fu", "fv", "fw"]),
        ("x:f", ["Intercept", "x:fu", "x:fv", "x:fw"]),
        ("factor(g)", ["Intercept", "factor(g)2", "factor(g)10"]),
        ("as_factor(g)", ["Intercept", "as.factor(g)2", "as.factor(g)10"]),
        ("factor(r)", ["Intercept", "factor(r)2.5"]),
        ("b", ["Intercept", "bTRUE"]),
        ("0 + b", ["bFALSE", "bTRUE"]),
        ('I(seed == "O73")', ["Intercept", 'I(seed == "O73")TRUE']),
        ('x:I(seed == "O73")', ["Intercept", 'x:I(seed == "O73")FALSE',
                                'x:I(seed == "O73")TRUE']),
        ("I(x**2) + sqrt(x) + x:sqrt(x)", ["Intercept", "I(x^2)", "sqrt(x)", "x:sqrt(x)"]),
        ("poly(x, 2)", ["Intercept", "poly(x, 2)1", "poly(x, 2)2"]),
        ("C(f, contr.sum)", ["Intercept", "C(f, contr.sum)[S.u]", "C(f, contr.sum)[S.v]"]),
    ],
)
def test_r_column_names(data: pd.DataFrame, formula: str, names: list[str]) -> None:
    assert columns(formula, data) == names


def test_values_are_formulaic_values(data: pd.DataFrame) -> None:
    for formula in ["x*f + factor(g)", "f*h", "0 + f + x:sqrt(x)", "poly(x, 2)"]:
        ours = model_matrix(formula, data, context=FUNCTIONS, materializer=RMaterializer)
        theirs = model_matrix(formula, data, context=FUNCTIONS)
        np.testing.assert_array_equal(np.asarray(ours, float), np.asarray(theirs, float))


def test_logical_is_a_factor(data: pd.DataFrame) -> None:
    matrix = model_matrix("0 + b", data, materializer=RMaterializer)
    np.testing.assert_array_equal(matrix["bTRUE"], data["b"].astype(float))
    np.testing.assert_array_equal(matrix["bFALSE"], (~data["b"]).astype(float))


def test_new_data_gets_the_training_encoding(data: pd.DataFrame) -> None:
    matrix = model_matrix("x*f + factor(g) + b + scale(x)", data, context=FUNCTIONS,
                          materializer=RMaterializer)
    spec = matrix.model_spec
    assert spec.materializer == NAME
    new = pd.DataFrame({"x": [10.0, 1.0], "f": ["w", "u"], "g": [2, 1], "b": [True, True]})
    for rebuilt in (spec, pickle.loads(pickle.dumps(spec))):
        again = rebuilt.get_model_matrix(new, context=FUNCTIONS)
        assert list(again.columns) == list(matrix.columns)
        np.testing.assert_array_equal(again["fw"], [1.0, 0.0])
        np.testing.assert_array_equal(again["factor(g)2"], [1.0, 0.0])
        np.testing.assert_array_equal(again["bTRUE"], [1.0, 1.0])
        centre, scale = data["x"].mean(), data["x"].std(ddof=1)
        np.testing.assert_allclose(again["scale(x)"], (new["x"] - centre) / scale)


def test_formulaic_default_is_untouched(data: pd.DataFrame) -> None:
    assert list(model_matrix("f + b", data).columns) == ["Intercept", "f[T.v]", "f[T.w]", "b"]
