"""The formula text parser: ``~``, terms, random-effect bars and ``offset()`` terms.

Two formula dialects are understood, as in R's hglm package: hglm's
``fixed="y ~ week"`` with ``random="~ 1|ID"`` (:func:`parse_hglm`), and lme4's
``"y ~ week + (1|ID)"`` (:func:`parse_lme4`); dispersion formulas are one-sided
(:func:`parse_disp`).  A random-effect term ``(covariates|group)`` is parsed here, never
by formulaic: ``||`` is read as ``|``, nesting ``a/b`` is expanded to ``a`` and ``a:b``.
``offset(expr)`` terms are set apart.  The fixed part is left as text for formulaic.

Only the text is read here: which columns it names, and what they evaluate to, are the
business of :mod:`.variables` and :mod:`.model_matrix`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

_QUOTES = "'\"`"
_OPENING = "([{"
_CLOSING = ")]}"


@dataclass(frozen=True)
class Bar:
    """A parsed ``(covariates|group)`` term with nesting ``a/b`` expanded."""

    covariates: str
    groups: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class ParsedModel:
    """A parsed model: response expression, fixed right-hand side, bars and offsets."""

    response: str
    fixed: str
    bars: tuple[Bar, ...]
    offsets: tuple[str, ...]


def parse_hglm(fixed: str, random: str | None) -> ParsedModel:
    """Parse hglm's ``fixed=`` (two-sided) and ``random=`` (one-sided, or None) formulas.

    Raises
    ------
    ValueError
        For an empty or malformed formula, naming the argument (``fixed``, ``random``).
    """
    response, rhs = _split_two_sided(fixed, "fixed")
    fixed_rhs, bars, offsets = _separate_rhs(rhs, "fixed")
    if random is not None:
        bars = bars + _random_formula_bars(random)
    return ParsedModel(response, fixed_rhs, bars, offsets)


def parse_lme4(formula: str) -> ParsedModel:
    """Parse an lme4-style formula, random terms in parentheses (R's ``hglm2``); raise
    ValueError for an empty or malformed formula, or one without a response."""
    return _parsed(*_split_two_sided(formula, "formula"), "formula")


def parse_disp(formula: str) -> ParsedModel:
    """Parse a one-sided dispersion formula, ``"~ x2 + x3"`` or ``"~ 1 + (1|ID)"``.

    Raises
    ------
    ValueError
        For an empty formula, a left-hand side or ``offset()`` terms.
    """
    rhs = _one_sided_rhs(formula, "disp")
    fixed_rhs, bars, offsets = _separate_rhs(rhs, "disp")
    if offsets:
        raise ValueError("disp: offset() terms are not supported in the dispersion formula")
    return ParsedModel("", fixed_rhs, bars, ())


def parse_formula(formula: str) -> ParsedModel:
    """Parse a one- or two-sided formula in either dialect (the response may be empty);
    raise ValueError for an empty or malformed formula."""
    return _parsed(*_split_tilde(formula, "formula"), "formula")


def _parsed(response: str, rhs: str, what: str) -> ParsedModel:
    """The model of a response and a right-hand side."""
    fixed_rhs, bars, offsets = _separate_rhs(rhs, what)
    return ParsedModel(response, fixed_rhs, bars, offsets)


def split_terms(rhs: str) -> list[tuple[str, str]]:
    """Split a right-hand side at top-level ``+``/``-`` into (sign, term) pairs."""
    terms, sign, start = [], "+", 0
    for i, ch, depth in _unquoted(rhs):
        if ch in "+-" and depth == 0:
            terms.append((sign, rhs[start:i].strip()))
            sign, start = ch, i + 1
    terms.append((sign, rhs[start:].strip()))
    return [(s, t) for s, t in terms if t]


def _unquoted(text: str) -> Iterator[tuple[int, str, int]]:
    """Yield ``(position, character, depth)`` for the characters outside string literals.

    ``depth`` is the bracket depth outside the character, so that an opening bracket and
    its closing bracket have the same depth.
    """
    depth, quote, escaped = 0, "", False
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and not escaped:
                quote = ""
            escaped = ch == "\\" and not escaped
            continue
        if ch in _QUOTES:
            quote = ch
        depth -= ch in _CLOSING
        yield i, ch, depth
        depth += ch in _OPENING


def _positions(text: str, char: str) -> list[int]:
    """Positions of ``char`` outside brackets and string literals."""
    return [i for i, ch, depth in _unquoted(text) if ch == char and depth == 0]


def _is_wrapped(term: str, prefix: str) -> bool:
    """Whether ``term`` is ``prefix(...)``, the parenthesis after ``prefix`` closing at its end."""
    if not term.startswith(prefix + "("):
        return False
    closing = [i for i, ch, depth in _unquoted(term) if ch == ")" and depth == 0]
    return closing[:1] == [len(term) - 1]


def _split_tilde(formula: str, what: str) -> tuple[str, str]:
    """Split at ``~`` into (left, right), both stripped; no ``~`` means right side only."""
    if not isinstance(formula, str) or not formula.strip():
        raise ValueError(f"{what}: the formula is empty")
    tildes = _positions(formula, "~")
    if len(tildes) > 1:
        raise ValueError(f"{what}: more than one '~' in {formula!r}")
    if not tildes:
        return "", formula.strip()
    lhs, rhs = formula[: tildes[0]].strip(), formula[tildes[0] + 1 :].strip()
    if not rhs:
        raise ValueError(f"{what}: the right-hand side of {formula!r} is empty; use '~ 1'")
    return lhs, rhs


def _split_two_sided(formula: str, what: str) -> tuple[str, str]:
    """Split a formula that must have a response."""
    lhs, rhs = _split_tilde(formula, what)
    if not lhs:
        raise ValueError(f"{what}: {formula!r} has no response (left-hand side of '~')")
    return lhs, rhs


def _one_sided_rhs(formula: str, what: str) -> str:
    """The right-hand side of a formula that must not have a response."""
    lhs, rhs = _split_tilde(formula, what)
    if lhs:
        raise ValueError(f"{what}: {formula!r} must be one-sided, like '~ x'")
    return rhs


def _is_bar_term(term: str) -> bool:
    """Whether ``term`` is a parenthesized random term ``( ... | ... )``."""
    return _is_wrapped(term, "") and bool(_positions(term[1:-1], "|"))


def _separate_rhs(rhs: str, what: str) -> tuple[str, tuple[Bar, ...], tuple[str, ...]]:
    """Split a right-hand side into the fixed part, random terms and offset expressions."""
    fixed: list[tuple[str, str]] = []
    bars: list[Bar] = []
    offsets: list[str] = []
    for sign, term in split_terms(rhs):
        special = _is_bar_term(term) or _is_wrapped(term, "offset")
        if special and sign == "-":
            raise ValueError(f"{what}: cannot subtract the term {term!r}")
        if _is_bar_term(term):
            bars.append(_parse_bar(term[1:-1], what))
        elif _is_wrapped(term, "offset"):
            offsets.append(_nonempty(term[len("offset(") : -1], what, term))
        else:
            fixed.append((sign, term))
    return _join_terms(fixed), tuple(bars), tuple(offsets)


def _nonempty(expr: str, what: str, term: str) -> str:
    """``expr`` stripped, or ValueError when it is empty."""
    if not expr.strip():
        raise ValueError(f"{what}: the term {term!r} is empty")
    return expr.strip()


def _join_terms(terms: list[tuple[str, str]]) -> str:
    """Rejoin (sign, term) pairs; no terms is the intercept ``"1"``, as in R."""
    if not terms:
        return "1"
    text = " ".join(f"{sign} {term}" for sign, term in terms)
    return text[2:] if text.startswith("+ ") else "1 " + text


def _one_bar(positions: list[int]) -> bool:
    """Whether top-level ``|`` positions form one bar, ``|`` or ``||``."""
    return len(positions) == 1 or (len(positions) == 2 and positions[1] == positions[0] + 1)


def _parse_bar(inner: str, what: str) -> Bar:
    """Parse the inside of ``(covariates|group)``; ``||`` is accepted as ``|``."""
    bars = _positions(inner, "|")
    if not _one_bar(bars):
        raise ValueError(f"{what}: random term ({inner}) must have exactly one '|'")
    covariates, group = inner[: bars[0]].strip(), inner[bars[-1] + 1 :].strip()
    if not covariates:
        raise ValueError(f"{what}: random term ({inner}) has nothing before '|'; use (1|g)")
    if not group:
        raise ValueError(f"{what}: random term ({inner}) has no grouping factor after '|'")
    return Bar(covariates, _expand_nesting(group, what, inner))


def _expand_nesting(group: str, what: str, inner: str) -> tuple[tuple[str, ...], ...]:
    """``a/b`` -> ``((a,), (a, b))``; ``a:b`` -> ``((a, b),)``."""
    expanded: list[tuple[str, ...]] = []
    columns: tuple[str, ...] = ()
    for part in group.split("/"):
        names = tuple(name.strip() for name in part.split(":"))
        if not all(names):
            raise ValueError(f"{what}: random term ({inner}) has an empty grouping factor")
        columns = columns + names
        expanded.append(columns)
    return tuple(expanded)


def _random_formula_bars(random: str) -> tuple[Bar, ...]:
    """Random terms of hglm's ``random=`` formula: ``~ 1|ID`` or ``~ (1|a) + (1|b)``."""
    rhs = _one_sided_rhs(random, "random")
    bars = _positions(rhs, "|")
    if _one_bar(bars):
        return (_parse_bar(rhs, "random"),)
    if bars:
        raise ValueError(
            f"random: several terms must each be in parentheses, like '~ (1|a) + (1|b)'; "
            f"got {random!r}"
        )
    fixed, parsed, offsets = _separate_rhs(rhs, "random")
    if not parsed or offsets or fixed != "1":
        raise ValueError(f"random: {random!r} is not a random term like '~ 1|ID'")
    return parsed
