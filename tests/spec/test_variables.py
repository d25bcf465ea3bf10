"""Tests of ``hglm.spec.variables``: the columns a formula reads."""

from __future__ import annotations

import pytest
from formulaic import Formula

from hglm.spec import variables
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


def test_a_formulaic_syntax_error_has_no_colour_codes():
    with pytest.raises(ValueError, match="cannot parse") as info:
        variables.required_variables("x + (1|g")
    assert "\x1b" not in str(info.value)
