"""Tests of ``hglm.spec.bars``: the formula text parsed into response, fixed part,
random-effect bars and offsets, without data."""

from __future__ import annotations

import pytest

from hglm.spec.bars import (
    Bar,
    ParsedModel,
    parse_disp,
    parse_formula,
    parse_hglm,
    parse_lme4,
    split_terms,
)


def test_lme4_formula_parts() -> None:
    model = parse_lme4("y ~ x + offset(log(t)) + (1|g) + (0 + x||a/b) - 1")
    assert model == ParsedModel(
        response="y",
        fixed="x - 1",
        bars=(Bar("1", (("g",),)), Bar("0 + x", (("a",), ("a", "b")))),
        offsets=("log(t)",),
    )


def test_only_bars_leave_the_intercept() -> None:
    assert parse_lme4("y ~ (1|g)").fixed == "1"
    assert parse_lme4("y ~ (1|g) - 1").fixed == "1 - 1"


def test_brackets_and_strings_are_not_split() -> None:
    model = parse_lme4('y ~ I(a - b) + C(f, levels=["a|b", "c+d"]) + (1|g)')
    assert model.fixed == 'I(a - b) + C(f, levels=["a|b", "c+d"])'
    assert model.bars == (Bar("1", (("g",),)),)


def test_hglm_formulas() -> None:
    assert parse_hglm("y ~ week", "~ 1|ID").bars == (Bar("1", (("ID",),)),)
    model = parse_hglm("r/n ~ week", "~ (1|a) + (0 + x|b:c)")
    assert model.response == "r/n"
    assert model.bars == (Bar("1", (("a",),)), Bar("0 + x", (("b", "c"),)))
    assert parse_hglm("y ~ 1", None).bars == ()


def test_disp_formula() -> None:
    assert parse_disp("~ x2 + (1|id)") == ParsedModel("", "x2", (Bar("1", (("id",),)),), ())
    with pytest.raises(ValueError, match="disp: offset"):
        parse_disp("~ x + offset(t)")
    with pytest.raises(ValueError, match="disp: .*one-sided"):
        parse_disp("y ~ x")


def test_formula_of_either_side() -> None:
    assert parse_formula("~ x").response == ""
    assert parse_formula("r/n ~ a").response == "r/n"


def test_split_terms() -> None:
    assert split_terms("a + b - c + (1|g) + I(x - y)") == [
        ("+", "a"), ("+", "b"), ("-", "c"), ("+", "(1|g)"), ("+", "I(x - y)"),
    ]
