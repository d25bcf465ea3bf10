"""The encoding of an ordinal design, kept to rebuild its arrays on new data: formulaic's
specs of the proportional, category-specific and random covariates and the cluster
column (:func:`new_ordinal_arrays`)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from formulaic import ModelSpec
from formulaic.errors import DataMismatchWarning, FormulaicError

from .levels import row_labels
from .model_matrix import PlainSpec
from .r_syntax import FUNCTIONS
from .variables import INTERCEPT, R_INTERCEPT, check_known_columns, spec_columns


@dataclass
class OrdinalEncoding:
    """formulaic's specs of the three right-hand sides (None where absent), the column
    names each contributes, and the cluster column."""

    fixed: ModelSpec | PlainSpec
    x_names: tuple[str, ...]
    npo: ModelSpec | PlainSpec | None
    npo_names: tuple[str, ...]
    random: ModelSpec | PlainSpec | None
    z_names: tuple[str, ...]
    id: str


def _new_matrix(spec: ModelSpec | PlainSpec | None, names: tuple[str, ...],
                frame: pd.DataFrame, where: str) -> np.ndarray:
    if spec is None or not names:
        return np.zeros((len(frame), 0))
    if isinstance(spec, PlainSpec):
        spec = spec.build()
    columns = spec_columns(spec)
    check_known_columns(frame, columns, f"{where} (newdata)")
    used = [c for c in columns if c in frame.columns]
    if frame[used].isna().any().any():
        raise ValueError(f"newdata: missing values in {', '.join(used)}; drop those rows")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataMismatchWarning)
        try:
            matrix = spec.get_model_matrix(frame, context=FUNCTIONS)
        except DataMismatchWarning as err:
            raise ValueError(f"newdata: a factor level not seen in training: {err}") from err
        except FormulaicError as err:
            raise ValueError(f"newdata: cannot evaluate the {where}: {err}") from err
    labels = [R_INTERCEPT if c == INTERCEPT else str(c) for c in matrix.columns]
    table = pd.DataFrame(np.asarray(matrix, dtype=float), columns=labels)
    return table[list(names)].to_numpy()


def new_ordinal_arrays(encoding: OrdinalEncoding, frame: pd.DataFrame) -> (
        tuple[np.ndarray, np.ndarray, np.ndarray]):
    """X, X_npo and Z of ``frame`` in the fitted design's columns."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError("newdata must be a pandas DataFrame")
    frame = frame.reset_index(drop=True)
    return (_new_matrix(encoding.fixed, encoding.x_names, frame, "formula"),
            _new_matrix(encoding.npo, encoding.npo_names, frame, "formula_npo"),
            _new_matrix(encoding.random, encoding.z_names, frame, "random"))


def new_cluster_labels(encoding: OrdinalEncoding, frame: pd.DataFrame) -> np.ndarray:
    """Each row's cluster label, as the fitted design labels them."""
    if encoding.id not in frame.columns:
        raise ValueError(f"newdata: conditional predictions need the cluster column "
                         f"{encoding.id!r}")
    return row_labels(frame.reset_index(drop=True), (encoding.id,))
