"""The formula layer: turn R-style model formulas and a data frame into design matrices.

Two formula dialects are understood, as in R's hglm package:

* ``hglm(fixed="y ~ week", random="~ 1|ID")`` -- :func:`design_from_formulas`;
* ``hglm2("y ~ week + (1|ID)")`` (lme4 style) -- :func:`design_from_lme4`.

The fixed part is handed to formulaic (treatment-coded factors, ``a*b``, ``a:b``,
``0 +``/``- 1``, ``I(...)``, ``C(...)``, ``np.log(x)``, ``log(x)``, ``factor(x)`` as an
alias of ``C(x)``).  Random-effect terms ``(covariates|group)`` are parsed here, never by
formulaic, and become one sparse indicator block per term and covariate.  ``offset(expr)``
terms in a formula are extracted here and added to the ``offset`` argument, as R does.

Speed: a fixed part or random-term covariate that is a plain sum of numeric columns
(``x1 + x2``, ``0 + x``) is assembled here, exactly as formulaic would, and formulaic's
ModelSpec for it is only built when needed (:func:`new_design`).  The rows of a grouping
factor are counted or hashed, not sorted: only the distinct levels are sorted.  The
indicator blocks are kept as level codes (``RandomTerm.codes``/``values``), ``Z`` is
built on first use.

The response is the left-hand side evaluated as a Python expression over the columns, so
a proportion is written ``r/n ~ ...`` (or ``I(r/n) ~ ...``) with ``weights="n"``: ``/``
is a division there, not formula nesting.
"""

from __future__ import annotations

import builtins
import functools
import keyword
import numbers
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from formulaic import Formula, ModelSpec, model_matrix
from formulaic.errors import DataMismatchWarning, FormulaicError
from formulaic.transforms import TRANSFORMS

from .._warn import warn

__all__ = [
    "ModelDesign",
    "RandomTerm",
    "design_from_formulas",
    "design_from_lme4",
    "disp_design",
    "formula_columns",
    "new_design",
    "new_offset",
]

_CONTEXT: dict[str, Any] = {"factor": TRANSFORMS["C"]}
"""Names available in formulas besides formulaic's transforms (R's ``factor``)."""

_QUOTES = "'\"`"
_OPENING = "([{"
_CLOSING = ")]}"
_INTERCEPT = "Intercept"
_R_INTERCEPT = "(Intercept)"


@dataclass
class RandomTerm:
    """One random-effect term: a grouping factor times one covariate (or the intercept).

    Attributes
    ----------
    label : str
        The term in canonical form, e.g. ``"(1|ID)"``, ``"(0 + x|g)"``, ``"(1|a:b)"``.
    group : str
        The grouping expression, ``"ID"`` or ``"a:b"`` for a combination of columns.
    levels : list of str
        The level labels in sorted order (the column order of ``Z``).
    names : list of str
        One name per random effect, ``"(Intercept)|ID:X01"``, ``"x|g:3"``.
    codes : numpy.ndarray
        Each row's level: the column of ``Z`` holding the row's entry (int64).
    values : numpy.ndarray or None
        Each row's entry in ``Z``: the slope covariate (floats); None for a random
        intercept (all ones).
    covariate : str or None
        The formulaic column name of the slope covariate; None for a random intercept.
    Z : scipy.sparse.csc_matrix
        The n x len(levels) block: the indicator of each row's level, times the covariate
        for a random slope (built from ``codes`` and ``values`` on first use).
    covariate_spec : formulaic.ModelSpec or None
        Rebuilds the covariate on new data; None for a random intercept.
    """

    label: str
    group: str
    levels: list[str]
    names: list[str]
    codes: np.ndarray = field(repr=False)
    values: np.ndarray | None = field(default=None, repr=False)
    covariate: str | None = None
    _covariate_spec: ModelSpec | _PlainSpec | None = field(default=None, repr=False)
    _Z: sp.csc_matrix | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def Z(self) -> sp.csc_matrix:
        if self._Z is None:
            self._Z = _codes_block(self.codes, self.values, len(self.levels))
        return self._Z

    @property
    def covariate_spec(self) -> ModelSpec | None:
        if isinstance(self._covariate_spec, _PlainSpec):
            self._covariate_spec = self._covariate_spec.build()
        return self._covariate_spec


@dataclass
class ModelDesign:
    """Everything a fit needs from the formula and the data.

    Attributes
    ----------
    y : numpy.ndarray
        The response as floats, length n (rows with missing values removed).
    X : pandas.DataFrame
        The n x p fixed-effect design, formulaic's column names with ``"(Intercept)"``.
    random : list of RandomTerm
        The random-effect terms in formula order.
    weights, offset : numpy.ndarray or None
        Prior weights and the total offset (formula ``offset()`` terms plus the argument).
    rows : numpy.ndarray
        Integer positions, into the original data, of the rows used.
    n_dropped : int
        The number of rows dropped because of missing values.
    fixed_spec : formulaic.ModelSpec
        Rebuilds ``X`` for new data (see :func:`new_design`); built on first use when
        the fixed part is a plain sum of numeric columns.
    response_name : str
        The left-hand side as written.
    fixed_formula : str
        The right-hand side of the fixed part, as given to formulaic.
    offset_terms : list of str
        The offset expressions that :func:`new_offset` evaluates on new data (the formula's
        ``offset()`` terms and an ``offset`` given as a column name or expression).
    """

    y: np.ndarray
    X: pd.DataFrame
    random: list[RandomTerm]
    weights: np.ndarray | None
    offset: np.ndarray | None
    rows: np.ndarray
    n_dropped: int
    _fixed_spec: ModelSpec | _PlainSpec = field(repr=False)
    response_name: str
    fixed_formula: str = "1"
    offset_terms: list[str] = field(default_factory=list)

    @property
    def fixed_spec(self) -> ModelSpec:
        if isinstance(self._fixed_spec, _PlainSpec):
            self._fixed_spec = self._fixed_spec.build()
        return self._fixed_spec


@dataclass(frozen=True)
class _Bar:
    """A parsed ``(covariates|group)`` term with nesting ``a/b`` expanded."""

    covariates: str
    groups: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class _Model:
    """A parsed model: response expression, fixed right-hand side, bars and offsets."""

    response: str
    fixed: str
    bars: tuple[_Bar, ...]
    offsets: tuple[str, ...]


@dataclass(frozen=True)
class _PlainSpec:
    """The formulaic ModelSpec of a plain sum of numeric columns, built on first use.

    Such a spec depends on the formula and the columns' dtypes only, not on the values,
    so it is built on a one-row frame of zeros (and cached).
    """

    formula: str
    dtypes: tuple[tuple[str, str], ...]

    def build(self) -> ModelSpec:
        return _plain_spec(self.formula, self.dtypes)


@dataclass
class _Parts:
    """The model evaluated on a set of complete rows."""

    y: np.ndarray
    X: pd.DataFrame
    fixed_spec: ModelSpec | _PlainSpec
    random: list[RandomTerm]
    weights: np.ndarray | None
    offset: np.ndarray | None


# --------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------


def design_from_formulas(
    fixed: str,
    random: str | None,
    data: Any,
    *,
    weights: str | Sequence[float] | np.ndarray | None = None,
    offset: str | Sequence[float] | np.ndarray | None = None,
    binomial: bool = False,
    extra_columns: Sequence[str] = (),
) -> ModelDesign:
    """Build the design of R's ``hglm(fixed=, random=, data=)`` formula interface.

    Parameters
    ----------
    fixed : str
        Two-sided formula of the mean model, e.g. ``"y ~ week"`` or
        ``'r/n ~ extract*I(seed == "O73")'``; may contain ``offset(expr)`` terms.
    random : str or None
        One-sided formula of the random part: ``"~ 1|ID"``, ``"~ 0 + x|g"`` or several
        parenthesized terms ``"~ (1|ID) + (1|g)"``. None for no random effects.
    data : pandas.DataFrame or dict of columns
        The data; a dict (or a frame with ``to_pandas()``, e.g. polars) is converted.
    weights, offset : str, array-like or None
        Arrays of length ``len(data)``, or a column name / expression over the columns
        (``offset="np.log(t)"``).
    binomial : bool
        Whether the family is binomial, which allows a two-level factor response (the last
        level in sorted order, or in category order for a pandas Categorical, is 1).
    extra_columns : sequence of str
        Further columns that must be free of missing values for a row to be used (e.g. the
        columns of the ``disp`` formula, see :func:`formula_columns`).

    Returns
    -------
    ModelDesign

    Raises
    ------
    ValueError
        For an empty or malformed formula, an unknown column, a random term without a
        grouping factor, a response of the wrong type or unusable ``data``.

    Warns
    -----
    UserWarning
        When rows with missing values are dropped (how many, and in which columns).
    """
    frame = _as_frame(data, "data")
    response, rhs = _split_two_sided(fixed, "fixed")
    fixed_rhs, bars, offsets = _separate_rhs(rhs, "fixed")
    if random is not None:
        bars = bars + _random_formula_bars(random)
    model = _Model(response, fixed_rhs, bars, offsets)
    return _build_design(frame, model, weights, offset, binomial, extra_columns)


def design_from_lme4(
    formula: str,
    data: Any,
    *,
    weights: str | Sequence[float] | np.ndarray | None = None,
    offset: str | Sequence[float] | np.ndarray | None = None,
    binomial: bool = False,
    extra_columns: Sequence[str] = (),
) -> ModelDesign:
    """Build the design of an lme4-style formula (R's ``hglm2``).

    ``"y ~ x1 + x2 + (1|z1) + (1|z2)"``; ``(0 + x|g)`` is a random slope without
    intercept; ``(1|a/b)`` is ``(1|a) + (1|a:b)``; ``(x|g)`` and ``(x||g)`` are
    ``(1|g) + (0 + x|g)``.  hglm has no correlated random effects within a group, so the
    intercept and slope of ``(x|g)`` are independent terms, each with its own variance
    (unlike lme4, which would estimate their correlation).

    Parameters
    ----------
    formula : str
        The two-sided formula with random terms in parentheses; may contain
        ``offset(expr)`` terms.
    data, weights, offset, binomial, extra_columns
        As for :func:`design_from_formulas`.

    Returns
    -------
    ModelDesign

    Raises
    ------
    ValueError
        As for :func:`design_from_formulas`.
    """
    frame = _as_frame(data, "data")
    response, rhs = _split_two_sided(formula, "formula")
    fixed_rhs, bars, offsets = _separate_rhs(rhs, "formula")
    model = _Model(response, fixed_rhs, bars, offsets)
    return _build_design(frame, model, weights, offset, binomial, extra_columns)


def disp_design(formula: str, data: Any, rows: np.ndarray) -> tuple[pd.DataFrame, list[RandomTerm]]:
    """Evaluate a dispersion formula on the rows used by the mean model.

    Parameters
    ----------
    formula : str
        One-sided formula, ``"~ x2 + x3"``, or with random terms (double HGLM),
        ``"~ 1 + (1|ID)"``.
    data : pandas.DataFrame or dict of columns
        The same data as given to the mean model.
    rows : numpy.ndarray
        ``ModelDesign.rows`` of the mean model.

    Returns
    -------
    X_disp : pandas.DataFrame
        The fixed-effect design of the dispersion model (``"(Intercept)"`` as in R).
    random : list of RandomTerm
        Its random-effect terms (empty for an ordinary dispersion model).

    Raises
    ------
    ValueError
        For an empty formula, a left-hand side, ``offset()``, an unknown column, or missing
        values in the given rows (pass the formula's columns, :func:`formula_columns`, as
        ``extra_columns`` of the mean model so that such rows are dropped there).
    """
    frame = _as_frame(data, "data")
    rhs = _one_sided_rhs(formula, "disp")
    fixed_rhs, bars, offsets = _separate_rhs(rhs, "disp")
    if offsets:
        raise ValueError("disp: offset() terms are not supported in the dispersion formula")
    model = _Model("", fixed_rhs, bars, ())
    _check_known_columns(frame, _model_columns(model), "disp formula")
    sub = frame.iloc[np.asarray(rows, dtype=int)].reset_index(drop=True)
    used = _data_columns(sub, _model_columns(model))
    incomplete = [c for c in used if sub[c].isna().any()]
    if incomplete:
        raise ValueError(
            f"disp formula: column(s) {', '.join(incomplete)} have missing values in the "
            "rows used by the mean model; give them as extra_columns to the mean model"
        )
    X, _ = _fixed_matrix(sub, fixed_rhs, "disp formula")
    return X, _random_terms(sub, model.bars)


def new_design(
    design: ModelDesign, newdata: Any, *, unseen: str = "mean"
) -> tuple[np.ndarray, list[sp.csc_matrix]]:
    """Rebuild the fixed design and the random-effect blocks for new data (``predict``).

    Parameters
    ----------
    design : ModelDesign
        The design of the fitted model.
    newdata : pandas.DataFrame or dict of columns
        The new data; it needs the columns of the right-hand side only.
    unseen : {"mean", "raise"}
        What to do with a row whose level of a grouping factor was not seen in training
        (or is missing): ``"mean"`` gives it an all-zero row of that block, so the random
        effect is at its mean; ``"raise"`` raises ValueError naming the term and level.

    Returns
    -------
    X : numpy.ndarray
        m x p, columns as in ``design.X``; rows with missing covariates are NaN.
    Z_blocks : list of scipy.sparse.csc_matrix
        One m x len(term.levels) block per random term, columns in training level order.

    Raises
    ------
    ValueError
        For an unknown column, a fixed-effect factor level not seen in training, an
        unseen grouping level when ``unseen="raise"``, or a bad ``unseen``.
    """
    if unseen not in ("mean", "raise"):
        raise ValueError(f"unseen must be 'mean' or 'raise', got {unseen!r}")
    frame = _as_frame(newdata, "newdata")
    X = _new_fixed_matrix(frame, design)
    blocks = [_new_random_block(frame, term, unseen) for term in design.random]
    return X, blocks


def new_offset(design: ModelDesign, newdata: Any) -> np.ndarray | None:
    """Evaluate the model's offset expressions on new data.

    Parameters
    ----------
    design : ModelDesign
        The design of the fitted model.
    newdata : pandas.DataFrame or dict of columns
        The new data.

    Returns
    -------
    numpy.ndarray or None
        The summed offset per row, or None when the model has no offset expression (an
        offset given as an array cannot be rebuilt and has to be supplied anew).
    """
    if not design.offset_terms:
        return None
    frame = _as_frame(newdata, "newdata")
    _check_known_columns(frame, _expressions_columns(design.offset_terms), "offset")
    return _sum_offsets(frame, design.offset_terms)


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
    lhs, rhs = _split_tilde(formula, "formula")
    fixed_rhs, bars, offsets = _separate_rhs(rhs, "formula")
    names = _model_columns(_Model(lhs, fixed_rhs, bars, offsets))
    return sorted(name for name in names if not _is_known_name(name))


# --------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------


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


def _split_terms(rhs: str) -> list[tuple[str, str]]:
    """Split a right-hand side at top-level ``+``/``-`` into (sign, term) pairs."""
    terms, sign, start = [], "+", 0
    for i, ch, depth in _unquoted(rhs):
        if ch in "+-" and depth == 0:
            terms.append((sign, rhs[start:i].strip()))
            sign, start = ch, i + 1
    terms.append((sign, rhs[start:].strip()))
    return [(s, t) for s, t in terms if t]


def _is_bar_term(term: str) -> bool:
    """Whether ``term`` is a parenthesized random term ``( ... | ... )``."""
    return _is_wrapped(term, "") and bool(_positions(term[1:-1], "|"))


def _separate_rhs(rhs: str, what: str) -> tuple[str, tuple[_Bar, ...], tuple[str, ...]]:
    """Split a right-hand side into the fixed part, random terms and offset expressions."""
    fixed: list[tuple[str, str]] = []
    bars: list[_Bar] = []
    offsets: list[str] = []
    for sign, term in _split_terms(rhs):
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


def _parse_bar(inner: str, what: str) -> _Bar:
    """Parse the inside of ``(covariates|group)``; ``||`` is accepted as ``|``."""
    bars = _positions(inner, "|")
    if not _one_bar(bars):
        raise ValueError(f"{what}: random term ({inner}) must have exactly one '|'")
    covariates, group = inner[: bars[0]].strip(), inner[bars[-1] + 1 :].strip()
    if not covariates:
        raise ValueError(f"{what}: random term ({inner}) has nothing before '|'; use (1|g)")
    if not group:
        raise ValueError(f"{what}: random term ({inner}) has no grouping factor after '|'")
    return _Bar(covariates, _expand_nesting(group, what, inner))


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


def _random_formula_bars(random: str) -> tuple[_Bar, ...]:
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


def _is_plain_name(term: str) -> bool:
    """Whether ``term`` is a bare (ASCII) name that formulaic reads as one variable."""
    return (
        term.isascii()
        and term.isidentifier()
        and not keyword.iskeyword(term)
        and term not in TRANSFORMS
        and term not in _CONTEXT
        and term != _INTERCEPT
    )


@functools.lru_cache(maxsize=512)
def _plain_sum(rhs: str) -> tuple[bool, tuple[str, ...]] | None:
    """``(intercept, names)`` of a right-hand side that is a sum of distinct bare names
    and intercept terms (``1``, ``0``, ``- 1``, the last one deciding, as in formulaic);
    None for anything else."""
    terms = _split_terms(rhs)
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


# --------------------------------------------------------------------------------------
# Columns and validation
# --------------------------------------------------------------------------------------


def _as_frame(data: Any, what: str) -> pd.DataFrame:
    """A DataFrame with a default RangeIndex from a DataFrame, dict or polars frame."""
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True)
    if isinstance(data, Mapping):
        try:
            return pd.DataFrame(dict(data))
        except ValueError as err:
            raise ValueError(f"{what}: cannot make a data frame of the dict: {err}") from err
    if hasattr(data, "to_pandas"):
        return _as_frame(data.to_pandas(), what)
    raise ValueError(
        f"{what} must be a pandas DataFrame or a dict of columns, not {type(data).__name__}"
    )


def _expression_columns(expr: str) -> set[str]:
    """Names an expression or formula refers to: columns, and maybe builtins or transforms.

    A name is a column when the data has it (a column may be called ``sum`` or ``log``),
    see :func:`_data_columns`; otherwise it must be a known name, see
    :func:`_check_known_columns`.
    """
    return set(_required_variables(expr))


@functools.lru_cache(maxsize=512)
def _required_variables(expr: str) -> frozenset[str]:
    """formulaic's ``required_variables`` of ``expr`` (read off a plain sum of names)."""
    plain = _plain_sum(expr)
    if plain is not None:
        return frozenset(plain[1])
    try:
        return frozenset(Formula(expr).required_variables)
    except FormulaicError as err:
        raise ValueError(f"cannot parse {expr!r}: {err}") from err


def _is_known_name(name: str) -> bool:
    """Whether ``name`` is a builtin, a formulaic transform or one of our aliases."""
    return hasattr(builtins, name) or name in TRANSFORMS or name in _CONTEXT


def _spec_columns(spec: ModelSpec) -> set[str]:
    """The names a formulaic ModelSpec refers to (see :func:`_expression_columns`)."""
    return set(spec.required_variables)


def _expressions_columns(expressions: Sequence[str]) -> set[str]:
    """Union of :func:`_expression_columns` over ``expressions``."""
    return set().union(
        *(_expression_columns(e if _is_plain_name(e) else f"I({e})") for e in expressions)
    )


def _bar_columns(bar: _Bar) -> set[str]:
    """Columns of a random term: its covariates and all its grouping columns."""
    groups = {name for group in bar.groups for name in group}
    return _expression_columns(bar.covariates) | groups


def _model_columns(model: _Model) -> set[str]:
    """All columns a parsed model uses."""
    columns = _expression_columns(model.fixed) | _expressions_columns(model.offsets)
    if model.response:
        columns |= _expressions_columns([model.response])
    return columns.union(*(_bar_columns(bar) for bar in model.bars))


def _check_known_columns(frame: pd.DataFrame, columns: set[str], where: str) -> None:
    """Raise ValueError naming the columns that ``frame`` lacks (known names excepted)."""
    present = set(map(str, frame.columns))
    unknown = sorted(c for c in columns if c not in present and not _is_known_name(c))
    if unknown:
        raise ValueError(f"unknown column(s) {', '.join(map(repr, unknown))} in the {where}")


def _data_columns(frame: pd.DataFrame, names: set[str]) -> list[str]:
    """The names that are columns of ``frame``, sorted."""
    return sorted(names & set(map(str, frame.columns)))


def _argument_columns(value: Any) -> set[str]:
    """Columns of a ``weights``/``offset`` argument given as a column name or expression."""
    return _expressions_columns([value]) if isinstance(value, str) else set()


def _argument(value: Any, name: str, n: int) -> str | np.ndarray | None:
    """A ``weights``/``offset`` argument: None, an expression, or floats of length ``n``."""
    if value is None or isinstance(value, str):
        return value
    try:
        array = np.asarray(value, dtype=float).reshape(-1)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric or a column name: {err}") from err
    if array.size != n:
        raise ValueError(f"{name} has length {array.size} but data has {n} rows")
    return array


# --------------------------------------------------------------------------------------
# Building the design
# --------------------------------------------------------------------------------------


def _build_design(
    frame: pd.DataFrame,
    model: _Model,
    weights: Any,
    offset: Any,
    binomial: bool,
    extra_columns: Sequence[str],
) -> ModelDesign:
    """Validate, drop incomplete rows (with a warning) and evaluate the model."""
    _check_parts_known(frame, model, weights, offset, extra_columns)
    weights = _argument(weights, "weights", len(frame))
    offset = _argument(offset, "offset", len(frame))
    columns = (
        _model_columns(model)
        | _argument_columns(weights)
        | _argument_columns(offset)
        | set(extra_columns)
    )
    arrays = {"weights": weights, "offset": offset}
    keep, sources = _complete_rows(frame, columns, arrays)
    rows = np.flatnonzero(keep)
    used = _used_columns(frame, columns, [model.response, *model.offsets, weights, offset])
    parts = _evaluate_parts(frame, rows, model, weights, offset, binomial, used)
    nan_rows = _nan_rows(parts, model.response)
    if nan_rows:
        bad = np.logical_or.reduce(list(nan_rows.values()))
        keep[rows[bad]] = False
        sources += sorted(nan_rows)
        rows = np.flatnonzero(keep)
        parts = _evaluate_parts(frame, rows, model, weights, offset, binomial, used)
    n_dropped = len(frame) - rows.size
    if n_dropped:
        warn(
            f"{n_dropped} of {len(frame)} rows dropped because of missing values in: "
            f"{', '.join(sources)}",
            UserWarning,
        )
    offset_terms = list(model.offsets) + ([offset] if isinstance(offset, str) else [])
    return ModelDesign(
        y=parts.y,
        X=parts.X,
        random=parts.random,
        weights=parts.weights,
        offset=parts.offset,
        rows=rows,
        n_dropped=n_dropped,
        _fixed_spec=parts.fixed_spec,
        response_name=model.response,
        fixed_formula=model.fixed,
        offset_terms=offset_terms,
    )


def _check_parts_known(
    frame: pd.DataFrame, model: _Model, weights: Any, offset: Any, extra: Sequence[str]
) -> None:
    """Raise ValueError for a column that is not in ``frame``, naming where it is used."""
    _check_known_columns(frame, _expressions_columns([model.response]), "response")
    _check_known_columns(frame, _expression_columns(model.fixed), "fixed part")
    _check_known_columns(frame, _expressions_columns(model.offsets), "offset() terms")
    for bar in model.bars:
        _check_known_columns(frame, _bar_columns(bar), "random term")
    _check_known_columns(frame, _argument_columns(weights), "weights")
    _check_known_columns(frame, _argument_columns(offset), "offset")
    _check_known_columns(frame, set(extra), "extra columns")


def _complete_rows(
    frame: pd.DataFrame, columns: set[str], arrays: dict[str, Any]
) -> tuple[np.ndarray, list[str]]:
    """Rows free of missing values in ``columns`` and ``arrays``; names of those with any."""
    keep = np.ones(len(frame), dtype=bool)
    sources = []
    for column in _data_columns(frame, columns):
        values = frame[column]
        if isinstance(values, pd.Series) and values.dtype.kind in "biu" and isinstance(
            values.dtype, np.dtype
        ):
            continue  # NumPy integers and booleans cannot be missing
        missing = values.isna().to_numpy()
        if missing.any():
            keep &= ~missing
            sources.append(column)
    for name, array in arrays.items():
        if isinstance(array, np.ndarray) and np.isnan(array).any():
            keep &= ~np.isnan(array)
            sources.append(name)
    if not keep.any():
        raise ValueError("no rows left after removing rows with missing values")
    return keep, sources


def _used_columns(
    frame: pd.DataFrame, names: set[str], expressions: Sequence[Any]
) -> np.ndarray | None:
    """Positions of the columns that the model reads: those in ``names`` and any named
    like a whole expression (see :func:`_values`); None (all) unless the column labels
    are unique strings."""
    labels = frame.columns
    if not labels.is_unique or not all(isinstance(label, str) for label in labels):
        return None
    names = names | {e for e in expressions if isinstance(e, str)}
    return np.flatnonzero(labels.isin(list(names)))


def _evaluate_parts(
    frame: pd.DataFrame,
    rows: np.ndarray,
    model: _Model,
    weights: Any,
    offset: Any,
    binomial: bool,
    used: np.ndarray | None = None,
) -> _Parts:
    """Evaluate response, fixed design, random terms, weights and offset on ``rows``
    (and the columns at positions ``used``, None for all)."""
    if rows.size == len(frame):
        sub = frame  # it has a default RangeIndex (see _as_frame): no copy
    elif used is None:
        sub = frame.iloc[rows].reset_index(drop=True)
    else:
        sub = frame.iloc[rows, used].reset_index(drop=True)
    X, spec = _fixed_matrix(sub, model.fixed, "fixed part")
    offsets = list(model.offsets)
    total_offset = _sum_offsets(sub, offsets) if offsets else None
    argument_offset = _argument_values(sub, rows, offset, "offset")
    if argument_offset is not None:
        total_offset = argument_offset if total_offset is None else total_offset + argument_offset
    return _Parts(
        y=_response(sub, model.response, binomial),
        X=X,
        fixed_spec=spec,
        random=_random_terms(sub, model.bars),
        weights=_argument_values(sub, rows, weights, "weights"),
        offset=total_offset,
    )


def _nan_rows(parts: _Parts, response: str) -> dict[str, np.ndarray]:
    """Rows where an evaluated expression is NaN, by the expression's description."""
    candidates = {
        response: np.isnan(parts.y),
        "fixed part": np.isnan(parts.X.to_numpy()).any(axis=1),
        "weights": None if parts.weights is None else np.isnan(parts.weights),
        "offset": None if parts.offset is None else np.isnan(parts.offset),
    }
    candidates.update(
        {term.label: None if term.values is None else np.isnan(term.values)
         for term in parts.random}
    )
    return {name: rows for name, rows in candidates.items() if rows is not None and rows.any()}


# --------------------------------------------------------------------------------------
# Evaluation with formulaic
# --------------------------------------------------------------------------------------


def _model_matrix(formula: str, frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """formulaic's model matrix (missing values kept), errors as ValueError."""
    try:
        return model_matrix(formula, frame, context=_CONTEXT, na_action="ignore")
    except FormulaicError as err:
        raise ValueError(f"{where}: cannot evaluate {formula!r}: {err}") from err


def _fixed_matrix(
    frame: pd.DataFrame, rhs: str, where: str
) -> tuple[pd.DataFrame, ModelSpec | _PlainSpec]:
    """The fixed design with R's ``(Intercept)`` name, float values, and its ModelSpec.

    A plain sum of numeric columns (``x1 + x2``, ``0 + x``) is assembled here, exactly
    as formulaic would (same columns, order and values), without formulaic; its ModelSpec
    is built on first use.  Everything else is formulaic's.
    """
    plain = _plain_columns(frame, rhs)
    if plain is None:
        matrix = _model_matrix(rhs, frame, where)
        return _float_frame(matrix), matrix.model_spec
    intercept, names = plain
    columns = [_R_INTERCEPT] * intercept + list(names)
    values = np.empty((len(columns), len(frame)))
    if intercept:
        values[0] = 1.0
    for row, name in enumerate(names, start=int(intercept)):
        values[row] = frame[name].to_numpy()
    X = pd.DataFrame(values.T, columns=columns, copy=False)
    return X, _PlainSpec(rhs, tuple((name, frame[name].dtype.str) for name in names))


def _plain_columns(frame: pd.DataFrame, rhs: str) -> tuple[bool, tuple[str, ...]] | None:
    """:func:`_plain_sum` of ``rhs`` when its names are numeric (or boolean) columns of
    ``frame`` with NumPy dtypes, which formulaic encodes as they are; else None."""
    plain = _plain_sum(rhs)
    if plain is None or not frame.columns.is_unique:
        return None
    for name in plain[1]:
        if name not in frame.columns:
            return None
        dtype = frame[name].dtype
        if not isinstance(dtype, np.dtype) or dtype.kind not in "biuf":
            return None
    return plain


@functools.lru_cache(maxsize=128)
def _plain_spec(formula: str, dtypes: tuple[tuple[str, str], ...]) -> ModelSpec:
    """formulaic's ModelSpec of a plain sum of numeric columns with these dtypes."""
    frame = pd.DataFrame({name: np.zeros(1, dtype=np.dtype(code)) for name, code in dtypes})
    return _model_matrix(formula, frame, "formula").model_spec


def _float_frame(matrix: pd.DataFrame) -> pd.DataFrame:
    """A plain float DataFrame of a model matrix, ``Intercept`` renamed ``(Intercept)``."""
    columns = [_R_INTERCEPT if c == _INTERCEPT else str(c) for c in matrix.columns]
    return pd.DataFrame(np.asarray(matrix, dtype=float), columns=columns)


def _values(frame: pd.DataFrame, expr: str, what: str) -> pd.Series:
    """A column of ``frame``, or the Python expression ``expr`` evaluated over its columns."""
    if expr in frame.columns:
        return frame[expr]
    matrix = _model_matrix(f"0 + I({expr})", frame, what)
    if matrix.shape[1] != 1:
        raise ValueError(f"{what} {expr!r} must evaluate to one numeric column")
    return matrix.iloc[:, 0]


def _numeric_values(frame: pd.DataFrame, expr: str, what: str) -> np.ndarray:
    """``expr`` evaluated as floats; booleans become 0/1."""
    values = _values(frame, expr, what)
    if not pd.api.types.is_numeric_dtype(values):
        raise ValueError(f"{what} {expr!r} must be numeric, not {values.dtype}")
    return values.to_numpy(dtype=float, na_value=np.nan)


def _argument_values(
    frame: pd.DataFrame, rows: np.ndarray, value: str | np.ndarray | None, name: str
) -> np.ndarray | None:
    """A ``weights``/``offset`` argument on ``rows`` (``frame`` holds just those rows)."""
    if isinstance(value, str):
        return _numeric_values(frame, value, name)
    return None if value is None else value[rows]


def _sum_offsets(frame: pd.DataFrame, expressions: Sequence[str]) -> np.ndarray:
    """The sum of the offset expressions evaluated on ``frame``."""
    return np.sum([_numeric_values(frame, e, "offset") for e in expressions], axis=0)


def _response(frame: pd.DataFrame, expr: str, binomial: bool) -> np.ndarray:
    """The response as floats (see :func:`_response_from_series` for the rules)."""
    return _response_from_series(_values(frame, expr, "response"), expr, binomial)


def _response_from_series(values: pd.Series, name: str, binomial: bool) -> np.ndarray:
    """Numbers as floats, booleans as 0/1, a two-level factor as 0/1 when binomial.

    For a two-level factor, the last level is 1 (a success): the last category of a
    pandas Categorical, otherwise the last of the sorted distinct values, as in R.
    """
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype=float, na_value=np.nan)
    if not binomial:
        raise ValueError(
            f"response {name!r} is {values.dtype}, not numeric; a factor response needs the "
            "binomial family"
        )
    levels = _factor_levels(values)
    if len(levels) != 2:
        raise ValueError(
            f"response {name!r}: a binomial factor response needs exactly two levels, "
            f"found {len(levels)}: {levels[:5]}"
        )
    return (values.astype(str).to_numpy() == levels[1]).astype(float)


def _factor_levels(values: pd.Series) -> list[str]:
    """Levels of a factor-like series: category order, or sorted distinct labels."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return [str(c) for c in values.cat.categories]
    return sorted(values.dropna().astype(str).unique())


# --------------------------------------------------------------------------------------
# Random-effect terms
# --------------------------------------------------------------------------------------


def _random_terms(frame: pd.DataFrame, bars: Sequence[_Bar]) -> list[RandomTerm]:
    """All random terms of the bars: per grouping factor, one term per covariate column."""
    terms = []
    for bar in bars:
        covariates = _covariates(frame, bar.covariates)
        if not covariates:
            raise ValueError(f"random term ({bar.covariates}|...) has no covariate")
        for group in bar.groups:
            levels, codes = _levels_and_codes(frame, group)
            terms += [
                _random_term(column, values, spec, group, levels, codes)
                for column, values, spec in covariates
            ]
    return terms


def _covariates(
    frame: pd.DataFrame, formula: str
) -> list[tuple[str, np.ndarray | None, ModelSpec | _PlainSpec | None]]:
    """The columns of a random term's covariate formula: (formulaic name, values, spec),
    values and spec None for the intercept."""
    plain = _plain_columns(frame, formula)
    if plain is not None:
        intercept, names = plain
        spec = _PlainSpec(formula, tuple((name, frame[name].dtype.str) for name in names))
        return [(_INTERCEPT, None, None)] * intercept + [
            (name, frame[name].to_numpy(dtype=float), spec) for name in names
        ]
    matrix = _model_matrix(formula, frame, "random term")
    return [
        (_INTERCEPT, None, None)
        if column == _INTERCEPT
        else (column, matrix[column].to_numpy(dtype=float, na_value=np.nan), matrix.model_spec)
        for column in matrix.columns
    ]


def _random_term(
    column: str,
    values: np.ndarray | None,
    spec: ModelSpec | _PlainSpec | None,
    group: tuple[str, ...],
    levels: list[str],
    codes: np.ndarray,
) -> RandomTerm:
    """One term: the level indicators of ``group`` times covariate ``column``."""
    group_name = ":".join(group)
    if values is None:
        label, prefix, covariate = f"(1|{group_name})", _R_INTERCEPT, None
    else:
        label, prefix, covariate = f"(0 + {column}|{group_name})", str(column), str(column)
    start = f"{prefix}|{group_name}:"
    return RandomTerm(
        label=label,
        group=group_name,
        levels=levels,
        names=[start + level for level in levels],
        codes=codes,
        values=values,
        covariate=covariate,
        _covariate_spec=spec,
    )


def _indicator_block(codes: np.ndarray, values: np.ndarray | None, n_levels: int) -> sp.csc_matrix:
    """Sparse n x n_levels block with ``values`` (or 1) at (row, code); code -1 = no entry."""
    rows = np.flatnonzero(codes >= 0)
    data = np.ones(rows.size) if values is None else values[rows]
    block = sp.csc_matrix((data, (rows, codes[rows])), shape=(codes.size, n_levels))
    block.eliminate_zeros()
    return block


def _codes_block(codes: np.ndarray, values: np.ndarray | None, n_levels: int) -> sp.csc_matrix:
    """:func:`_indicator_block` for codes without -1: as CSR, one entry per row, whose
    conversion to CSC is a linear pass."""
    n = codes.size
    if n and codes.min() < 0:
        return _indicator_block(codes, values, n_levels)
    data = np.ones(n) if values is None else np.asarray(values, dtype=float)
    block = sp.csr_matrix((data, codes, np.arange(n + 1)), shape=(n, n_levels)).tocsc()
    if values is not None:
        block.eliminate_zeros()
    return block


def _levels_and_codes(frame: pd.DataFrame, group: tuple[str, ...]) -> tuple[list[str], np.ndarray]:
    """Sorted level labels of a grouping factor and each row's level index (int64).

    A single numeric (or boolean) column sorts numerically; anything else (strings,
    categoricals, combinations ``a:b``) sorts as strings, as hglm2's
    ``factor(as.vector(g))`` does.  The rows are only hashed or counted (O(n)); sorting
    is of the distinct values.
    """
    if len(group) == 1 and _is_numeric(frame[group[0]]):
        unique, codes = _sorted_codes(frame[group[0]].to_numpy())
        return _number_labels(unique), codes
    labels, codes = _column_codes(frame[group[0]])
    for name in group[1:]:
        more_labels, more_codes = _column_codes(frame[name])
        width = len(more_labels)
        pairs, codes = _dense_codes(codes * width + more_codes)
        labels = labels[pairs // width] + ":" + more_labels[pairs % width]
    return _sorted_labels(labels, codes)


def _sorted_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` of a 1-d array, in O(n) for numbers."""
    kind = values.dtype.kind
    if values.size and kind in "biu" and values.dtype != np.uint64:
        ints = values.astype(np.int64, copy=False)
        low, high = int(ints.min()), int(ints.max())
        limit = 2 * ints.size + 1024  # the counting array's length, at most
        if high - low <= limit:
            if 0 < low and high <= limit:
                low = 0  # count the values themselves, without shifting them
            offsets = ints - low if low else ints
            present = np.zeros(high - low + 1, dtype=bool)
            present[offsets] = True
            unique = (np.flatnonzero(present) + low).astype(values.dtype)
            return unique, (np.cumsum(present) - 1)[offsets]
    if kind in "biuf" and values.dtype.itemsize >= 4:
        codes, unique = pd.factorize(values, sort=True)
        return np.asarray(unique), codes.astype(np.int64, copy=False)
    unique, codes = np.unique(values, return_inverse=True)
    return unique, codes.reshape(-1).astype(np.int64, copy=False)


def _dense_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of non-negative integers (in no particular order) and each
    row's index into them."""
    if values.size and int(values.max()) <= 2 * values.size + 1024:
        return _sorted_codes(values)
    codes, unique = pd.factorize(values)
    return np.asarray(unique), codes.astype(np.int64, copy=False)


def _number_labels(unique: np.ndarray) -> list[str]:
    """:func:`_number_label` of each value, vectorized for NumPy number arrays."""
    kind = unique.dtype.kind
    if kind in "iu":
        return list(map(str, unique.tolist()))
    if kind == "f":
        return [f"{value:.15g}" for value in unique.tolist()]
    return [_number_label(value) for value in unique]


def _column_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Labels (an object array of str, maybe unused or repeated) and each row's index
    into them, for one column of a grouping factor.

    The labels are those of :func:`_column_labels`: numbers as :func:`_number_label`,
    anything else as ``astype(str)`` does, which is applied to distinct values only.
    """
    if _is_numeric(values):
        unique, codes = _sorted_codes(values.to_numpy())
        return np.array(_number_labels(unique), dtype=object), codes
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = pd.Categorical.from_codes(
            np.arange(len(values.dtype.categories)), dtype=values.dtype
        )
        labels = pd.Series(categories).astype(str).to_numpy(dtype=object)
        return labels, values.cat.codes.to_numpy().astype(np.int64)
    if not _all_strings(values):
        values = values.astype(str)
    codes, unique = pd.factorize(values)
    return np.asarray(unique, dtype=object), codes.astype(np.int64, copy=False)


def _all_strings(values: pd.Series) -> bool:
    """Whether every value is a str, so that equal values are equal labels."""
    if isinstance(values.dtype, pd.StringDtype):
        return True
    return values.dtype == object and pd.api.types.infer_dtype(values, skipna=False) == "string"


def _sorted_labels(labels: np.ndarray, codes: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Sorted distinct labels among those used by ``codes``, and the codes into them."""
    used = np.bincount(codes, minlength=len(labels)) > 0
    if not used.all():
        labels = labels[used]
        codes = (np.cumsum(used) - 1)[codes]
    merged, distinct = pd.factorize(labels)  # distinct values with equal labels merge
    distinct = distinct.tolist()
    order = sorted(range(len(distinct)), key=distinct.__getitem__)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return [distinct[i] for i in order], rank[merged][codes]


def _is_numeric(values: pd.Series) -> bool:
    """Numeric or boolean dtype (categoricals are not)."""
    return pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)


def _number_label(value: Any) -> str:
    """A number's natural label: ``"1"`` for 1 and 1.0, ``"2.5"``; ``"True"``."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    return f"{float(value):.15g}"


def _row_labels(frame: pd.DataFrame, group: tuple[str, ...]) -> np.ndarray:
    """Each row's level label of a (combined) grouping factor, ``"a_label:b_label"``."""
    labels = [_column_labels(frame[name]) for name in group]
    combined = labels[0]
    for more in labels[1:]:
        combined = combined + ":" + more
    return combined


def _column_labels(values: pd.Series) -> np.ndarray:
    """Labels of one column as an object array of str."""
    if not _is_numeric(values):
        return values.astype(str).to_numpy(dtype=object)
    unique, codes = np.unique(values.to_numpy(), return_inverse=True)
    return np.array([_number_label(u) for u in unique], dtype=object)[codes.reshape(-1)]


# --------------------------------------------------------------------------------------
# New data
# --------------------------------------------------------------------------------------


def _new_fixed_matrix(frame: pd.DataFrame, design: ModelDesign) -> np.ndarray:
    """The fixed design on new data; rows with missing covariates are NaN."""
    columns = _spec_columns(design.fixed_spec)
    _check_known_columns(frame, columns, "fixed part (newdata)")
    complete = ~frame[_data_columns(frame, columns)].isna().any(axis=1).to_numpy()
    X = np.full((len(frame), design.X.shape[1]), np.nan)
    sub = frame.loc[complete].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataMismatchWarning)
        try:
            matrix = design.fixed_spec.get_model_matrix(sub, context=_CONTEXT)
        except DataMismatchWarning as err:
            raise ValueError(f"newdata: a factor level not seen in training: {err}") from err
        except FormulaicError as err:
            raise ValueError(f"newdata: cannot evaluate the fixed part: {err}") from err
    X[complete] = np.asarray(matrix, dtype=float)
    return X


def _new_random_block(frame: pd.DataFrame, term: RandomTerm, unseen: str) -> sp.csc_matrix:
    """A training-aligned random block on new data; unseen or missing levels get no entry."""
    group = tuple(term.group.split(":"))
    _check_known_columns(frame, set(group), f"random term {term.label} (newdata)")
    missing = frame[list(group)].isna().any(axis=1).to_numpy()
    labels = _row_labels(frame, group)
    index = {level: i for i, level in enumerate(term.levels)}
    codes = np.array([index.get(label, -1) for label in labels], dtype=int)
    codes[missing] = -1
    if unseen == "raise" and (codes < 0).any():
        row = int(np.flatnonzero(codes < 0)[0])
        level = "a missing value" if missing[row] else f"level {labels[row]!r}"
        raise ValueError(
            f"newdata: {level} of {term.group} in random term {term.label} was not seen in training"
        )
    return _indicator_block(codes, _new_covariate(frame, term), len(term.levels))


def _new_covariate(frame: pd.DataFrame, term: RandomTerm) -> np.ndarray | None:
    """The slope covariate of ``term`` on new data (None for an intercept)."""
    if term.covariate_spec is None:
        return None
    columns = _spec_columns(term.covariate_spec)
    _check_known_columns(frame, columns, f"random term {term.label} (newdata)")
    try:
        matrix = term.covariate_spec.get_model_matrix(frame, context=_CONTEXT)
    except FormulaicError as err:
        raise ValueError(f"newdata: cannot evaluate {term.label}: {err}") from err
    return matrix[term.covariate].to_numpy(dtype=float, na_value=np.nan)
