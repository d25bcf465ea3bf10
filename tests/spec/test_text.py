"""Tests of ``hglm.spec.text``: formula text scanned outside string literals and brackets."""

from __future__ import annotations

from hglm.spec.text import call_argument, is_wrapped, positions, split_top, unquoted


def test_unquoted_skips_string_literals_and_tracks_depth() -> None:
    text = 'f("a|b", c)|d'
    seen = [(ch, depth) for _, ch, depth in unquoted(text)]
    assert "".join(ch for ch, _ in seen) == 'f(", c)|d'
    assert seen[1] == ("(", 0) and seen[3] == (",", 1) and seen[6] == (")", 0)


def test_positions_outside_brackets_and_strings() -> None:
    assert positions('a|g(b|c)|"x|y"', "|") == [1, 8]
    assert positions("a + (b + c)", "+") == [2]


def test_split_top() -> None:
    assert split_top("a, f(b, c), 'd,e'", ",") == ["a", "f(b, c)", "'d,e'"]
    assert split_top("a/factor(b)/c", "/") == ["a", "factor(b)", "c"]
    assert split_top("a", ":") == ["a"]
    assert split_top("a:", ":") == ["a", ""]


def test_is_wrapped_and_call_argument() -> None:
    assert is_wrapped("offset(log(t))", "offset")
    assert not is_wrapped("offset(a) + offset(b)", "offset")
    assert is_wrapped("(1|g)", "")
    assert call_argument("cbind(s, n - s)", "cbind") == "s, n - s"
    assert call_argument("cbind(s, f) + 1", "cbind") is None
    assert call_argument("as.factor( g )", "as.factor") == "g"
    assert call_argument("factor(g)", "as.factor") is None
