"""Formula text scanned as R and Python read it: characters outside string literals, with
their bracket depth, and the positions and splits that depend only on them.

The parser (:mod:`.bars`) and the rewriting of R syntax (:mod:`.r_syntax`) read formula
text through these functions, so that a ``|``, ``+``, ``:`` or ``^`` inside a string
literal or a call's brackets is never taken for an operator.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

_QUOTES = "'\"`"
_OPENING = "([{"
_CLOSING = ")]}"


def unquoted(text: str) -> Iterator[tuple[int, str, int]]:
    """Yield ``(position, character, depth)`` for the characters outside string literals.

    ``depth`` is the bracket depth outside the character, so that an opening bracket and
    its closing bracket have the same depth.  A literal's opening quote is yielded, its
    other characters and its closing quote are not.
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


def positions(text: str, char: str) -> list[int]:
    """Positions of ``char`` outside brackets and string literals."""
    return [i for i, ch, depth in unquoted(text) if ch == char and depth == 0]


def split_top(text: str, char: str) -> list[str]:
    """``text`` split at ``char`` outside brackets and string literals, parts stripped."""
    bounds = [-1, *positions(text, char), len(text)]
    return [text[start + 1 : end].strip() for start, end in pairwise(bounds)]


def is_wrapped(term: str, prefix: str) -> bool:
    """Whether ``term`` is ``prefix(...)``, the parenthesis after ``prefix`` closing at its end."""
    if not term.startswith(prefix + "("):
        return False
    closing = [i for i, ch, depth in unquoted(term) if ch == ")" and depth == 0]
    return closing[:1] == [len(term) - 1]


def call_argument(term: str, function: str) -> str | None:
    """The text inside ``function(...)`` when ``term`` is that call, else None."""
    return term[len(function) + 1 : -1].strip() if is_wrapped(term, function) else None
