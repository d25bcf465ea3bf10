"""Tests of ``hglm.spec.r_syntax``: R's expressions rewritten for Python, and R's names of
what formulaic evaluates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from formulaic import Formula

from hglm.spec.r_syntax import FUNCTIONS, factor_argument, r_name, to_python


@pytest.mark.parametrize(
    ("r", "python"),
    [
        ("I(x^2)", "I(x**2)"),
        ("log(x^2 + 1)", "log(x**2 + 1)"),
        ("I((a + b)^2)", "I((a + b)**2)"),
        ("(a + b)^2", "(a + b)^2"),  # the formula's power: interactions, as in R
        ("as.factor(batch)", "as_factor(batch)"),
        ("y ~ as.factor(a) + I(x^3)", "y ~ as_factor(a) + I(x**3)"),
        ('I(s == "a^b")', 'I(s == "a^b")'),  # string literals are left alone
        ('I(s == "as.factor(x)")', 'I(s == "as.factor(x)")'),
        ("has.factor(x)", "has.factor(x)"),
        ("x", "x"),
        ("Sepal.Length + log(Petal.Width)", "`Sepal.Length` + log(`Petal.Width`)"),
        ("x.1:f", "`x.1`:f"),
        ("np.log(x) + I(x * np.pi) + x.mean()", "np.log(x) + I(x * np.pi) + x.mean()"),
        ("I(x * 1.5 + .5)", "I(x * 1.5 + .5)"),
        ("`a.b` + `c d`", "`a.b` + `c d`"),
    ],
)
def test_to_python(r: str, python: str) -> None:
    assert to_python(r) == python


@pytest.mark.parametrize(
    ("python", "r"),
    [
        ("I(x ** 2)", "I(x^2)"),
        ("I(seed == 'O73')", 'I(seed == "O73")'),
        ('I(s == "it\'s")', 'I(s == "it\'s")'),
        ("as_factor(batch)", "as.factor(batch)"),
        ("log(x + 1)", "log(x + 1)"),
        ("I(b == True)", "I(b == TRUE)"),
        ("sqrt(wk)", "sqrt(wk)"),
        ("`a b`", "`a b`"),  # a name R quotes too
        ("log(`Sepal.Length`)", "log(Sepal.Length)"),
        ("`x.1`:f", "x.1:f"),
    ],
)
def test_r_name(python: str, r: str) -> None:
    assert r_name(python) == r


def test_r_name_of_formulaic_normalised_text() -> None:
    # formulaic normalises an expression as Python writes it; r_name gives R's deparse
    (term,) = Formula(to_python("0 + I(x^2)"))
    assert str(term) == "I(x ** 2)"
    assert r_name(str(term)) == "I(x^2)"


def test_factor_argument() -> None:
    assert factor_argument("factor(batch)") == "batch"
    assert factor_argument("as.factor(batch)") == "batch"
    assert factor_argument("batch") is None
    assert factor_argument("log(batch)") is None


def test_functions() -> None:
    x = pd.Series([4.0, -9.0])
    np.testing.assert_array_equal(FUNCTIONS["sqrt"](x.abs()), [2.0, 3.0])
    np.testing.assert_array_equal(FUNCTIONS["abs"](x), [4.0, 9.0])
    assert FUNCTIONS["as_factor"] is FUNCTIONS["factor"]
