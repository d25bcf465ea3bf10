"""Tests of ``hglm.spec.variables``: the columns a formula reads."""

from __future__ import annotations

import pandas as pd
import pytest
from formulaic import Formula

from hglm.spec import model_matrix, variables
from hglm.spec.variables import formula_columns


def test_formula_columns():
    assert formula_columns("~ x2 + x3") == ["x2", "x3"]
    assert formula_columns("r/n ~ a*np.log(b) + offset(log(t)) + (0 + c|d/e)") == [
        "a",
        "b",
        "c",
        "d",
        "e",
        "n",
        "r",
        "t",
    ]


@pytest.mark.parametrize(
    "expr",
    ["y", "x1 + x2", "0 + x", "x - 1", "1", "-1 + x + 1", "sum", "x + max", "x + x",
     "I(y)", "I(r/n)", "np.log(t)", "a*b + C(f)", "x - x", "1 - 0"],
)
def test_required_variables_as_formulaic(expr):
    assert variables.required_variables(expr) == frozenset(Formula(expr).required_variables)


def test_formula_columns_of_r_formulas():
    assert formula_columns(
        "cbind(s, n - s) ~ trt*sqrt(wk) + scale(x) + as.factor(a) + (1 | factor(b)/c)"
    ) == ["a", "b", "c", "n", "s", "trt", "wk", "x"]
    assert formula_columns("Sepal.Length ~ log(Petal.Width) + (1 | plant.id)") == [
        "Petal.Width", "Sepal.Length", "plant.id",
    ]


def test_required_variables_of_stateful_transforms():
    # formulaic's own required_variables misses them
    assert variables.required_variables("scale(x) + poly(z, 2) + center(w)") == {"x", "z", "w"}


def test_required_variables_read_backquoted_names_whole():
    assert variables.required_variables("`a.b` + log(`c.d`) + a") == {"a.b", "c.d", "a"}
    assert variables.required_variables("`a b`:x") == {"a b", "x"}


def test_spec_columns():
    frame = pd.DataFrame({"a.b": [1.0, 2.0, 3.0], "x": [1.0, 0.0, 2.0], "f": ["u", "v", "u"]})
    spec = model_matrix.formulaic_matrix(
        "`a.b` + log(`a.b`):x + C(f) + I(x**2)", frame, "test"
    ).model_spec
    assert variables.spec_columns(spec) == {"a.b", "x", "f"}
def test_a_formulaic_syntax_error_has_no_colour_codes():
    with pytest.raises(ValueError, match="cannot parse") as info:
        variables.required_variables("x + (1|g")
    assert "\x1b" not in str(info.value)
