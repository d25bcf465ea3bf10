"""R's expressions in formulas: the functions R formulas call, the R that Python cannot
read, and R's names of what formulaic evaluates.

A formula is written as in R and its expressions are evaluated as Python by formulaic.
:data:`FUNCTIONS` are R's functions that are not formulaic's transforms (``factor``,
``as.factor``, ``sqrt``, ``abs``; ``log``, ``exp``, ``scale``, ``I`` and ``poly`` are
formulaic's).  :func:`to_python` rewrites the R that Python reads otherwise: the name
``as.factor`` (``as`` is a Python keyword), ``^`` inside a call (R's power, Python's
exclusive or; outside calls ``(a + b)^2`` is the formula's power, which formulaic reads
as R does), and names with dots (``Sepal.Length``, an attribute access in Python), which
are backquoted as formulaic quotes a column name.  :func:`r_name` is the way back, for
column names: the text R's ``deparse`` gives an expression (``I(x^2)``,
``I(seed == "O73")``, ``as.factor(batch)``, ``log(Sepal.Length)``) from the Python text
formulaic normalises it to.
"""

from __future__ import annotations

import io
import re
import tokenize
from typing import Any

import numpy as np
from formulaic.transforms import TRANSFORMS

from .text import call_argument, unquoted

FUNCTIONS: dict[str, Any] = {
    "factor": TRANSFORMS["C"],
    "as_factor": TRANSFORMS["C"],
    "sqrt": np.sqrt,
    "abs": np.abs,
}
"""R functions available in formulas besides formulaic's transforms (Python names)."""

_PYTHON_NAMES = {"as.factor": "as_factor"}
"""R function names that are not Python names, and the names they are evaluated by."""

_R_SPELLING = {python: r for r, python in _PYTHON_NAMES.items()} | {
    "True": "TRUE",
    "False": "FALSE",
}
"""Python names as R spells them."""

_R_NAME = re.compile(r"(?<![\w.])[A-Za-z.][\w.]*")
"""A name as R writes it (letters, digits, ``.`` and ``_``), maybe with dots."""

_CALL = re.compile(r"\s*\(")

_QUOTED_NAME = re.compile(r"`([A-Za-z][\w.]*|\.[A-Za-z_.][\w.]*)`")
"""A backquoted name that R writes without quotes."""

_FACTOR_FUNCTIONS = ("factor", "as.factor")
"""R's calls that make a column a factor, in formulas and grouping factors."""


def to_python(expr: str) -> str:
    """``expr`` with R's ``as.factor``, ``^`` inside calls and dotted names rewritten
    for Python.

    Parameters
    ----------
    expr : str
        A formula or an expression as R writes it, e.g.
        ``"y ~ I(x^2) + as.factor(g) + Sepal.Length"``.

    Returns
    -------
    str
        The text formulaic evaluates: ``"y ~ I(x**2) + as_factor(g) + `Sepal.Length`"``.
        A dotted name that is a call (``np.log(x)``) or starts with a module formulaic
        knows (``np.pi``) is Python's attribute access and stays.
    """
    pieces = list(expr)
    outside = set()
    calls: list[bool] = []  # per open bracket: whether it is a call's
    for i, ch, _ in unquoted(expr):
        outside.add(i)
        if ch in "([{":
            calls.append(ch == "(" and i > 0 and (expr[i - 1].isalnum() or expr[i - 1] in "_."))
        elif ch in ")]}" and calls:
            calls.pop()
        elif ch == "^" and any(calls):
            pieces[i] = "**"
    for match in _R_NAME.finditer(expr):
        name = match[0]
        if match.start() in outside and "." in name:
            pieces[match.start()] = _python_name(name, _CALL.match(expr, match.end()) is not None)
            pieces[match.start() + 1 : match.end()] = [""] * (len(name) - 1)
    return "".join(pieces)


def _python_name(name: str, called: bool) -> str:
    """A dotted R name in Python: a function's Python name, or a backquoted column."""
    if called:
        return _PYTHON_NAMES.get(name, name)
    root = name.split(".", 1)[0]
    if root in TRANSFORMS or root in FUNCTIONS or (name[1:2].isdigit() and not root):
        return name
    return f"`{name}`"


def r_name(expr: str) -> str:
    """R's deparsed text of a Python expression as formulaic normalises it.

    ``x ** 2`` becomes ``x^2``, string literals are double-quoted, ``as_factor`` is
    ``as.factor``, ``True``/``False`` are ``TRUE``/``FALSE`` and a backquoted name is
    unquoted where R needs no quotes (``Sepal.Length``); text that Python cannot
    tokenize (a name that R quotes too, ```a b```) is returned as it is.
    """
    expr = _QUOTED_NAME.sub(r"\1", expr)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(expr).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return expr
    if any(token.type == tokenize.ERRORTOKEN for token in tokens):
        return expr
    out, end = [], 0
    for index, token in enumerate(tokens):
        if token.start[0] != 1:
            break
        start = token.start[1]
        if token.type == tokenize.OP and token.string == "**":
            out.append(expr[end:start].rstrip() + "^")
            end = _next_start(tokens, index, token.end[1])
            continue
        out.append(expr[end:start])
        out.append(_r_token(token))
        end = token.end[1]
    out.append(expr[end:])
    return "".join(out)


def _next_start(tokens: list[tokenize.TokenInfo], index: int, default: int) -> int:
    """Where the token after ``tokens[index]`` starts on the first line."""
    following = tokens[index + 1] if index + 1 < len(tokens) else None
    return following.start[1] if following is not None and following.start[0] == 1 else default


def _r_token(token: tokenize.TokenInfo) -> str:
    """A Python token as R writes it."""
    if token.type == tokenize.STRING and token.string[:1] in "'\"":
        value = token.string[1:-1] if token.string[:3] not in ("'''", '"""') else None
        if value is not None and "\\" not in value:
            return '"' + value.replace('"', '\\"') + '"'
    if token.type == tokenize.NAME:
        return _R_SPELLING.get(token.string, token.string)
    return token.string


def factor_argument(expr: str) -> str | None:
    """The argument of ``factor(x)`` or ``as.factor(x)``; None for any other text."""
    for function in _FACTOR_FUNCTIONS:
        argument = call_argument(expr, function)
        if argument is not None:
            return argument
    return None
