"""The formula text parser: ``~``, terms, random-effect bars and ``offset()`` terms.

Two formula dialects are understood, as in R's hglm package: hglm's
``fixed="y ~ week"`` with ``random="~ 1|ID"`` (:func:`parse_hglm`), and lme4's
``"y ~ week + (1|ID)"`` (:func:`parse_lme4`); dispersion formulas are one-sided
(:func:`parse_disp`).  A random-effect term ``(covariates|group)`` is parsed here, never
by formulaic: ``||`` is read as ``|``, nesting ``a/b`` is expanded to ``a`` and ``a:b``,
and a grouping factor is a column, ``factor(column)`` or ``as.factor(column)``.
``offset(expr)`` terms are set apart, and a ``cbind(successes, failures)`` response is
split into its two count expressions.  The fixed part is left as text for formulaic; it
and every expression are rewritten from R to Python by :func:`~.r_syntax.to_python`.

Only the text is read here: which columns it names, and what they evaluate to, are the
business of :mod:`.variables` and :mod:`.model_matrix`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .r_syntax import factor_argument, to_python
from .text import call_argument, is_wrapped, positions, split_top, unquoted


@dataclass(frozen=True)
class Bar:
    """A parsed ``(covariates|group)`` term with nesting ``a/b`` expanded.

    ``groups`` holds, per grouping factor, its parts as written (``("a", "factor(b)")``
    for ``a:factor(b)``); :func:`group_columns` gives the data columns they read.
    """

    covariates: str
    groups: tuple[tuple[str, ...], ...]
    independent: bool = False  # written with ``||``


@dataclass(frozen=True)
class ParsedModel:
    """A parsed model: response expression, fixed right-hand side, bars and offsets.

    ``counts`` holds the successes and failures expressions of a
    ``cbind(successes, failures)`` response (whose text ``response`` keeps), else None.
    """

    response: str
    fixed: str
    bars: tuple[Bar, ...]
    offsets: tuple[str, ...]
    counts: tuple[str, str] | None = None


def parse_hglm(fixed: str, random: str | None) -> ParsedModel:
    """Parse hglm's ``fixed=`` (two-sided) and ``random=`` (one-sided, or None) formulas.

    Raises
    ------
    ValueError
        For an empty or malformed formula, naming the argument (``fixed``, ``random``).
    """
    model = _parsed(*_split_two_sided(fixed, "fixed"), "fixed")
    if random is None:
        return model
    return replace(model, bars=model.bars + _random_formula_bars(random))


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
    return ParsedModel(to_python(response), fixed_rhs, bars, offsets, _counts(response, what))


def _counts(response: str, what: str) -> tuple[str, str] | None:
    """The (successes, failures) expressions of a ``cbind(s, f)`` response, else None."""
    inside = call_argument(response, "cbind")
    if inside is None:
        return None
    counts = split_top(inside, ",")
    if len(counts) != 2 or not all(counts):
        raise ValueError(
            f"{what}: the response {response!r} must have two columns, "
            "cbind(successes, failures)"
        )
    return to_python(counts[0]), to_python(counts[1])


def split_terms(rhs: str) -> list[tuple[str, str]]:
    """Split a right-hand side at top-level ``+``/``-`` into (sign, term) pairs."""
    terms, sign, start = [], "+", 0
    for i, ch, depth in unquoted(rhs):
        if ch in "+-" and depth == 0:
            terms.append((sign, rhs[start:i].strip()))
            sign, start = ch, i + 1
    terms.append((sign, rhs[start:].strip()))
    return [(s, t) for s, t in terms if t]


def _split_tilde(formula: str, what: str) -> tuple[str, str]:
    """Split at ``~`` into (left, right), both stripped; no ``~`` means right side only."""
    if not isinstance(formula, str) or not formula.strip():
        raise ValueError(f"{what}: the formula is empty")
    tildes = positions(formula, "~")
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
    return is_wrapped(term, "") and bool(positions(term[1:-1], "|"))


def _separate_rhs(rhs: str, what: str) -> tuple[str, tuple[Bar, ...], tuple[str, ...]]:
    """Split a right-hand side into the fixed part, random terms and offset expressions."""
    fixed: list[tuple[str, str]] = []
    bars: list[Bar] = []
    offsets: list[str] = []
    for sign, term in split_terms(rhs):
        special = _is_bar_term(term) or is_wrapped(term, "offset")
        if special and sign == "-":
            raise ValueError(f"{what}: cannot subtract the term {term!r}")
        if _is_bar_term(term):
            bars.append(_parse_bar(term[1:-1], what))
        elif is_wrapped(term, "offset"):
            offsets.append(to_python(_nonempty(term[len("offset(") : -1], what, term)))
        else:
            fixed.append((sign, to_python(term)))
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


def _one_bar(bars_at: list[int]) -> bool:
    """Whether top-level ``|`` positions form one bar, ``|`` or ``||``."""
    return len(bars_at) == 1 or (len(bars_at) == 2 and bars_at[1] == bars_at[0] + 1)


def _parse_bar(inner: str, what: str) -> Bar:
    """Parse the inside of ``(covariates|group)``; ``||`` is accepted as ``|``."""
    bars = positions(inner, "|")
    if not _one_bar(bars):
        raise ValueError(f"{what}: random term ({inner}) must have exactly one '|'")
    covariates, group = inner[: bars[0]].strip(), inner[bars[-1] + 1 :].strip()
    if not covariates:
        raise ValueError(f"{what}: random term ({inner}) has nothing before '|'; use (1|g)")
    if not group:
        raise ValueError(f"{what}: random term ({inner}) has no grouping factor after '|'")
    return Bar(to_python(covariates), _expand_nesting(group, what, inner),
               independent=len(bars) == 2)


def _expand_nesting(group: str, what: str, inner: str) -> tuple[tuple[str, ...], ...]:
    """``a/b`` -> ``((a,), (a, b))``; ``a:b`` -> ``((a, b),)``; each part checked."""
    expanded: list[tuple[str, ...]] = []
    parts: tuple[str, ...] = ()
    for nested in split_top(group, "/"):
        names = tuple(split_top(nested, ":"))
        if not all(names):
            raise ValueError(f"{what}: random term ({inner}) has an empty grouping factor")
        for name in names:
            _group_column(name, what, inner)
        parts = parts + names
        expanded.append(parts)
    return tuple(expanded)


def group_columns(group: tuple[str, ...]) -> tuple[str, ...]:
    """The data columns of a grouping factor's parts: ``factor(b)`` reads ``b``."""
    return tuple(_group_column(part, "formula", part) for part in group)


def _group_column(part: str, what: str, inner: str) -> str:
    """The column of one part of a grouping factor: ``g``, ``factor(g)``, ``as.factor(g)``."""
    argument = factor_argument(part)
    column = part if argument is None else argument
    if "(" in column or not column:
        raise ValueError(
            f"{what}: random term ({inner}): the grouping factor {part!r} must be a column, "
            "factor(column) or as.factor(column)"
        )
    return column


def _random_formula_bars(random: str) -> tuple[Bar, ...]:
    """Random terms of hglm's ``random=`` formula: ``~ 1|ID`` or ``~ (1|a) + (1|b)``."""
    rhs = _one_sided_rhs(random, "random")
    bars = positions(rhs, "|")
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
