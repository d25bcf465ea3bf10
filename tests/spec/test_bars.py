"""Tests of ``hglm.spec.bars``: the formula text parsed into response, fixed part,
random-effect bars and offsets, without data."""

from __future__ import annotations

import pytest

from hglm.spec.bars import (
    Bar,
    ParsedModel,
    group_columns,
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
        bars=(Bar("1", (("g",),)), Bar("0 + x", (("a",), ("a", "b")), independent=True)),
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


def test_cbind_response() -> None:
    model = parse_lme4("cbind(incidence, size - incidence) ~ period + (1 | herd)")
    assert model.response == "cbind(incidence, size - incidence)"
    assert model.counts == ("incidence", "size - incidence")
    assert parse_hglm("cbind(r, n - r) ~ x", "~ 1|g").counts == ("r", "n - r")
    assert parse_lme4("r/n ~ x").counts is None
    for bad in ["cbind(r) ~ x", "cbind(r, n, m) ~ x", "cbind(r, ) ~ x"]:
        with pytest.raises(ValueError, match=r"formula: .*cbind\(successes, failures\)"):
            parse_lme4(bad)


def test_r_expressions_become_python() -> None:
    model = parse_lme4(
        "y.obs ~ I(x^2) + as.factor(a) + offset(log(t.x)) + (0 + I(x^2) | g) + (1 | as.factor(b))"
    )
    assert model.response == "`y.obs`"
    assert model.fixed == "I(x**2) + as_factor(a)"
    assert model.offsets == ("log(`t.x`)",)
    assert model.bars == (Bar("0 + I(x**2)", (("g",),)), Bar("1", (("as.factor(b)",),)))


def test_grouping_factors_as_r_writes_them() -> None:
    model = parse_lme4("y ~ (1 | factor(batch)) + (1 | a/as.factor(b)) + (1 | a.b:c)")
    assert [bar.groups for bar in model.bars] == [
        (("factor(batch)",),),
        (("a",), ("a", "as.factor(b)")),
        (("a.b", "c"),),
    ]
    assert group_columns(("a", "as.factor(b)")) == ("a", "b")
    assert group_columns(("factor(batch)",)) == ("batch",)
    assert group_columns(("a.b", "c")) == ("a.b", "c")


@pytest.mark.parametrize("group", ["cut(x, 3)", "factor(log(x))", "a:factor()"])
def test_grouping_factor_must_be_a_column(group: str) -> None:
    with pytest.raises(ValueError, match=r"formula: random term .*must be a column, factor"):
        parse_lme4(f"y ~ x + (1 | {group})")


@pytest.mark.parametrize(
    ("formula", "independent"),
    [("y ~ (1 + x|g)", False), ("y ~ (1 + x||g)", True), ("y ~ (x || g)", True)],
)
def test_double_bar_is_recorded(formula, independent):
    (bar,) = parse_lme4(formula).bars
    assert bar.independent is independent and bar.groups == (("g",),)
