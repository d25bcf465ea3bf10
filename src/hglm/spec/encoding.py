"""The encoding of a formula model, and its re-application to new data.

What the formula layer keeps of a fit's data (:class:`ModelDesign`): the response, the
fixed design with formulaic's ModelSpec, and the random terms (:class:`RandomTerm`: the
grouping factor's levels in training order, each row's level code, the slope covariate
with its ModelSpec).  :func:`new_design` and :func:`new_offset` apply that encoding to
new data (``predict``), as formulaic's ModelSpec does for the fixed part: the same
columns, the training levels of each grouping factor.

The indicator blocks are kept as level codes (``RandomTerm.codes``/``values``); ``Z`` is
built on first use.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from formulaic import ModelSpec
from formulaic.errors import DataMismatchWarning, FormulaicError

from .levels import row_labels
from .model_matrix import PlainSpec, sum_offsets
from .r_syntax import FUNCTIONS
from .variables import (
    R_INTERCEPT,
    as_frame,
    check_known_columns,
    data_columns,
    expressions_columns,
    spec_columns,
)


@dataclass
class RandomTerm:
    """One random-effect term: a grouping factor times one covariate (or the intercept).

    Attributes
    ----------
    label : str
        The term in canonical form, e.g. ``"(1|ID)"``, ``"(0 + x|g)"``, ``"(1|a:b)"``.
    group : str
        The grouping factor as written, ``"ID"``, ``"a:b"`` for a combination of columns,
        ``"factor(batch)"``.
    columns : tuple of str
        The data columns of the grouping factor, ``("ID",)``, ``("a", "b")``,
        ``("batch",)``.
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
        The column name of the slope covariate (R's, as in the fixed design); None for a
        random intercept.
    Z : scipy.sparse.csc_matrix
        The n x len(levels) block: the indicator of each row's level, times the covariate
        for a random slope (built from ``codes`` and ``values`` on first use).
    covariate_spec : formulaic.ModelSpec or None
        Rebuilds the covariate on new data; None for a random intercept.
    """

    label: str
    group: str
    columns: tuple[str, ...]
    levels: list[str]
    names: list[str]
    codes: np.ndarray = field(repr=False)
    values: np.ndarray | None = field(default=None, repr=False)
    covariate: str | None = None
    _covariate_spec: ModelSpec | PlainSpec | None = field(default=None, repr=False)
    _Z: sp.csc_matrix | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def Z(self) -> sp.csc_matrix:
        if self._Z is None:
            self._Z = codes_block(self.codes, self.values, len(self.levels))
        return self._Z

    @property
    def covariate_spec(self) -> ModelSpec | None:
        if isinstance(self._covariate_spec, PlainSpec):
            self._covariate_spec = self._covariate_spec.build()
        return self._covariate_spec


@dataclass
class VectorTerm:
    """A vector-valued random term, lme4's ``(1 + x|g)``: per level of the grouping
    factor, one effect per column of the covariate formula (intercept first, then the
    covariates' columns in model-matrix order), with one unstructured covariance.

    Attributes
    ----------
    label : str
        The term in canonical form, e.g. ``"(1 + x|g)"``, ``"(0 + x + z|a:b)"``.
    group, columns, levels, codes
        As for :class:`RandomTerm`.
    effects : tuple of str
        The term's columns as R names them, ``("(Intercept)", "x")``.
    names : list of str
        One name per random effect, level-major as lme4 orders them:
        ``"(Intercept)|g:1", "x|g:1", "(Intercept)|g:2", ...``.
    values : numpy.ndarray
        The n x q entries of each row (1 for the intercept column).
    Z : scipy.sparse.csc_matrix
        The n x (q len(levels)) block, columns level-major.
    covariate_spec : formulaic.ModelSpec or None
        Rebuilds the covariate columns on new data.
    """

    label: str
    group: str
    columns: tuple[str, ...]
    levels: list[str]
    effects: tuple[str, ...]
    names: list[str]
    codes: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)
    _covariate_spec: ModelSpec | PlainSpec | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        """q, the number of effects per level."""
        return len(self.effects)

    @property
    def Z(self) -> sp.csc_matrix:
        return grouped_block(self.codes, self.values, len(self.levels))

    @property
    def covariate_spec(self) -> ModelSpec | None:
        if isinstance(self._covariate_spec, PlainSpec):
            self._covariate_spec = self._covariate_spec.build()
        return self._covariate_spec


FormulaTerm = RandomTerm | VectorTerm
"""A random term of the formula interfaces."""


@dataclass
class ModelDesign:
    """Everything a fit needs from the formula and the data.

    Attributes
    ----------
    y : numpy.ndarray
        The response as floats, length n (rows with missing values removed).
    X : pandas.DataFrame
        The n x p fixed-effect design, with R's column names (``"(Intercept)"``,
        ``"period2"``, ``"x:Drugb"``).
    random : list of RandomTerm or VectorTerm
        The random-effect terms in formula order.
    weights, offset : numpy.ndarray or None
        Prior weights (for a ``cbind(s, f)`` response the numbers of trials ``s + f``,
        times the ``weights`` argument) and the total offset (formula ``offset()`` terms
        plus the argument).
    rows : numpy.ndarray
        Integer positions, into the original data, of the rows used (formed on access
        from ``kept``, the data's rows as booleans: an n-vector of int64 less per fit).
    n_dropped : int
        The number of rows dropped because of missing values.
    fixed_spec : formulaic.ModelSpec
        Rebuilds ``X`` for new data (see :func:`new_design`); built on first use when
        the fixed part is a plain sum of numeric columns.
    response_name : str
        The left-hand side as R writes it.
    fixed_formula : str
        The right-hand side of the fixed part, as given to formulaic.
    offset_terms : list of str
        The offset expressions that :func:`new_offset` evaluates on new data (the formula's
        ``offset()`` terms and an ``offset`` given as a column name or expression).
    """

    y: np.ndarray
    X: pd.DataFrame
    random: list[FormulaTerm]
    weights: np.ndarray | None
    offset: np.ndarray | None
    kept: np.ndarray
    n_dropped: int
    _fixed_spec: ModelSpec | PlainSpec = field(repr=False)
    response_name: str
    fixed_formula: str = "1"
    offset_terms: list[str] = field(default_factory=list)

    @property
    def rows(self) -> np.ndarray:
        """Integer positions, into the original data, of the rows used."""
        return np.flatnonzero(self.kept)

    @property
    def fixed_spec(self) -> ModelSpec:
        if isinstance(self._fixed_spec, PlainSpec):
            self._fixed_spec = self._fixed_spec.build()
        return self._fixed_spec


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
        One block per random term, columns in training level order (level-major for a
        vector-valued term).

    Raises
    ------
    ValueError
        For an unknown column, a fixed-effect factor level not seen in training, an
        unseen grouping level when ``unseen="raise"``, or a bad ``unseen``.
    """
    if unseen not in ("mean", "raise"):
        raise ValueError(f"unseen must be 'mean' or 'raise', got {unseen!r}")
    frame = as_frame(newdata, "newdata")
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
    frame = as_frame(newdata, "newdata")
    check_known_columns(frame, expressions_columns(design.offset_terms), "offset")
    return sum_offsets(frame, design.offset_terms)


def indicator_block(codes: np.ndarray, values: np.ndarray | None, n_levels: int) -> sp.csc_matrix:
    """Sparse n x n_levels block with ``values`` (or 1) at (row, code); code -1 = no entry."""
    rows = np.flatnonzero(codes >= 0)
    data = np.ones(rows.size) if values is None else values[rows]
    block = sp.csc_matrix((data, (rows, codes[rows])), shape=(codes.size, n_levels))
    block.eliminate_zeros()
    return block


def codes_block(codes: np.ndarray, values: np.ndarray | None, n_levels: int) -> sp.csc_matrix:
    """:func:`indicator_block` for codes without -1: as CSR, one entry per row, whose
    conversion to CSC is a linear pass."""
    n = codes.size
    if n and codes.min() < 0:
        return indicator_block(codes, values, n_levels)
    data = np.ones(n) if values is None else np.asarray(values, dtype=float)
    block = sp.csr_matrix((data, codes, np.arange(n + 1)), shape=(n, n_levels)).tocsc()
    if values is not None:
        block.eliminate_zeros()
    return block


def grouped_block(codes: np.ndarray, values: np.ndarray, n_levels: int) -> sp.csc_matrix:
    """Sparse n x (q n_levels) block of a vector-valued term: row i has ``values[i]`` in
    the q columns of its level (level-major); code -1 = no entry."""
    n, q = values.shape
    rows = np.flatnonzero(codes >= 0)
    columns = codes[rows, None] * q + np.arange(q)
    block = sp.csr_matrix(
        (values[rows].ravel(), (np.repeat(rows, q), columns.ravel())), shape=(n, n_levels * q)
    ).tocsc()
    block.eliminate_zeros()
    return block


def _new_fixed_matrix(frame: pd.DataFrame, design: ModelDesign) -> np.ndarray:
    """The fixed design on new data; rows with missing covariates are NaN."""
    columns = spec_columns(design.fixed_spec)
    check_known_columns(frame, columns, "fixed part (newdata)")
    complete = ~frame[data_columns(frame, columns)].isna().any(axis=1).to_numpy()
    X = np.full((len(frame), design.X.shape[1]), np.nan)
    sub = frame.loc[complete].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataMismatchWarning)
        try:
            matrix = design.fixed_spec.get_model_matrix(sub, context=FUNCTIONS)
        except DataMismatchWarning as err:
            raise ValueError(f"newdata: a factor level not seen in training: {err}") from err
        except FormulaicError as err:
            raise ValueError(f"newdata: cannot evaluate the fixed part: {err}") from err
    X[complete] = np.asarray(matrix, dtype=float)
    return X


def _new_random_block(frame: pd.DataFrame, term: FormulaTerm, unseen: str) -> sp.csc_matrix:
    """A training-aligned random block on new data; unseen or missing levels get no entry."""
    group = term.columns
    check_known_columns(frame, set(group), f"random term {term.label} (newdata)")
    missing = frame[list(group)].isna().any(axis=1).to_numpy()
    labels = row_labels(frame, group)
    index = {level: i for i, level in enumerate(term.levels)}
    codes = np.array([index.get(label, -1) for label in labels], dtype=int)
    codes[missing] = -1
    if unseen == "raise" and (codes < 0).any():
        row = int(np.flatnonzero(codes < 0)[0])
        level = "a missing value" if missing[row] else f"level {labels[row]!r}"
        raise ValueError(
            f"newdata: {level} of {term.group} in random term {term.label} was not seen in training"
        )
    if isinstance(term, VectorTerm):
        return grouped_block(codes, _new_vector_values(frame, term), len(term.levels))
    return indicator_block(codes, _new_covariate(frame, term), len(term.levels))


def _new_covariate(frame: pd.DataFrame, term: RandomTerm) -> np.ndarray | None:
    """The slope covariate of ``term`` on new data (None for an intercept)."""
    if term.covariate_spec is None:
        return None
    return _new_covariates(frame, term)[term.covariate].to_numpy(dtype=float, na_value=np.nan)


def _new_vector_values(frame: pd.DataFrame, term: VectorTerm) -> np.ndarray:
    """The n x q columns of a vector-valued term on new data (1 for the intercept)."""
    covariates = None if term.covariate_spec is None else _new_covariates(frame, term)
    return np.column_stack([
        np.ones(len(frame)) if effect == R_INTERCEPT
        else covariates[effect].to_numpy(dtype=float, na_value=np.nan)
        for effect in term.effects
    ])


def _new_covariates(frame: pd.DataFrame, term: FormulaTerm) -> pd.DataFrame:
    """The model matrix of a term's covariate formula on new data (R's column names)."""
    columns = spec_columns(term.covariate_spec)
    check_known_columns(frame, columns, f"random term {term.label} (newdata)")
    try:
        return term.covariate_spec.get_model_matrix(frame, context=FUNCTIONS)
    except FormulaicError as err:
        raise ValueError(f"newdata: cannot evaluate {term.label}: {err}") from err
