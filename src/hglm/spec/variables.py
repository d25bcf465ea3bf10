"""The data a formula reads: the ``data`` argument as a frame, the names a formula refers
to, and their check against the frame.

A name in a formula is a column when the data has it (a column may be called ``sum`` or
``log``); otherwise it must be a known name: a builtin, a formulaic transform, or one of
R's functions (``factor``, ``sqrt``, ...: :data:`~.r_syntax.FUNCTIONS`).  A right-hand
side that is a plain sum of bare names (``x1 + x2``, ``0 + x``) is read here without
formulaic.
"""

from __future__ import annotations

import builtins
import functools
import keyword
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
from formulaic import Formula, ModelSpec
from formulaic.errors import FormulaicError
from formulaic.parser.types import Factor, Term
from formulaic.transforms import TRANSFORMS
from formulaic.utils.variables import get_required_variables

from .bars import Bar, ParsedModel, group_columns, parse_formula, split_terms
from .r_syntax import FUNCTIONS
from .validation import plain_text

INTERCEPT = "Intercept"
"""formulaic's name of the intercept column."""

R_INTERCEPT = "(Intercept)"
"""R's name of the intercept column, which the designs use."""


def formula_columns(formula: str) -> list[str]:
    """List the data columns a formula refers to (fixed part, random terms and offsets).

    Parameters
    ----------
    formula : str
        A one- or two-sided formula in either dialect, e.g. ``"~ x2 + x3"``.

    Returns
    -------
    list of str
        The column names, sorted.
    """
    names = model_columns(parse_formula(formula))
    return sorted(name for name in names if not _is_known_name(name))


def as_frame(data: Any, what: str) -> pd.DataFrame:
    """A DataFrame with a default RangeIndex from a DataFrame, dict or polars frame."""
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True)
    if isinstance(data, Mapping):
        try:
            return pd.DataFrame(dict(data))
        except ValueError as err:
            raise ValueError(f"{what}: cannot make a data frame of the dict: {err}") from err
    if hasattr(data, "to_pandas"):
        return as_frame(data.to_pandas(), what)
    raise ValueError(
        f"{what} must be a pandas DataFrame or a dict of columns, not {type(data).__name__}"
    )


def _is_plain_name(term: str) -> bool:
    """Whether ``term`` is a bare (ASCII) name that formulaic reads as one variable."""
    return (
        term.isascii()
        and term.isidentifier()
        and not keyword.iskeyword(term)
        and term not in TRANSFORMS
        and term not in FUNCTIONS
        and term != INTERCEPT
    )


@functools.lru_cache(maxsize=512)
def plain_sum(rhs: str) -> tuple[bool, tuple[str, ...]] | None:
    """``(intercept, names)`` of a right-hand side that is a sum of distinct bare names
    and intercept terms (``1``, ``0``, ``- 1``, the last one deciding, as in formulaic);
    None for anything else."""
    terms = split_terms(rhs)
    if not terms:
        return None
    intercept, names = True, []
    for sign, term in terms:
        if term in ("0", "1"):
            intercept = (term == "1") == (sign == "+")
        elif sign == "+" and _is_plain_name(term) and term not in names:
            names.append(term)
        else:
            return None
    return intercept, tuple(names)


def expression_columns(expr: str) -> set[str]:
    """Names an expression or formula refers to: columns, and maybe builtins or transforms.

    A name is a column when the data has it (a column may be called ``sum`` or ``log``),
    see :func:`data_columns`; otherwise it must be a known name, see
    :func:`check_known_columns`.
    """
    return set(required_variables(expr))


@functools.lru_cache(maxsize=512)
def required_variables(expr: str) -> frozenset[str]:
    """The names ``expr`` reads (read off a plain sum of names), as formulaic's
    ``required_variables`` finds them, but with the columns of stateful transforms
    (``scale(x)``, ``poly(x, 2)``, which formulaic's misses) and backquoted names read
    whole (```Sepal.Length```, which formulaic cuts at the dot)."""
    plain = plain_sum(expr)
    if plain is not None:
        return frozenset(plain[1])
    try:
        formula = Formula(expr)
    except FormulaicError as err:
        raise ValueError(f"cannot parse {expr!r}: {plain_text(err)}") from err
    return frozenset(formula_variables(formula))


def formula_variables(formula: Iterable[Term]) -> set[str]:
    """The names the factors of a formulaic formula read: a looked-up factor is a
    column, the names of a Python factor are :func:`_python_variables`."""
    names: set[str] = set()
    for term in formula:
        for factor in term.factors:
            if factor.eval_method is Factor.EvalMethod.LOOKUP:
                names.add(factor.expr)
            elif factor.eval_method is Factor.EvalMethod.PYTHON:
                names |= _python_variables(factor.expr)
    return names


def _python_variables(expr: str) -> set[str]:
    """The variables of a Python expression: each name's root (``x`` of ``x.mean()``),
    a backquoted name whole, formulaic's transforms and modules (``np``) left out."""
    try:
        found = get_required_variables(expr)
    except SyntaxError:
        return set()  # formulaic reports it when it evaluates the factor
    names = {str(v) if f"`{v}`" in expr else v.root for v in found}
    return {name for name in names if name not in TRANSFORMS}


def _is_known_name(name: str) -> bool:
    """Whether ``name`` is a builtin, a formulaic transform or one of our aliases."""
    return hasattr(builtins, name) or name in TRANSFORMS or name in FUNCTIONS


def spec_columns(spec: ModelSpec) -> set[str]:
    """The names a formulaic ModelSpec refers to (see :func:`required_variables`)."""
    return formula_variables(spec.formula)


def expressions_columns(expressions: Sequence[str]) -> set[str]:
    """Union of :func:`expression_columns` over ``expressions``."""
    return set().union(
        *(expression_columns(e if _is_plain_name(e) else f"I({e})") for e in expressions)
    )


def bar_columns(bar: Bar) -> set[str]:
    """Columns of a random term: its covariates and all its grouping columns."""
    groups = {name for group in bar.groups for name in group_columns(group)}
    return expression_columns(bar.covariates) | groups


def model_columns(model: ParsedModel) -> set[str]:
    """All columns a parsed model uses."""
    columns = expression_columns(model.fixed) | expressions_columns(model.offsets)
    if model.counts:
        columns |= expressions_columns(model.counts)
    elif model.response:
        columns |= expressions_columns([model.response])
    return columns.union(*(bar_columns(bar) for bar in model.bars))


def check_known_columns(frame: pd.DataFrame, columns: set[str], where: str) -> None:
    """Raise ValueError naming the columns that ``frame`` lacks (known names excepted)."""
    present = set(map(str, frame.columns))
    unknown = sorted(c for c in columns if c not in present and not _is_known_name(c))
    if unknown:
        raise ValueError(f"unknown column(s) {', '.join(map(repr, unknown))} in the {where}")


def data_columns(frame: pd.DataFrame, names: set[str]) -> list[str]:
    """The names that are columns of ``frame``, sorted."""
    return sorted(names & set(map(str, frame.columns)))
