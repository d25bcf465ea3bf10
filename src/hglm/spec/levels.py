"""Factors: the level labels of a grouping factor (or of a factor response) and each
row's level code, the column of the term's block of Z.

The labels are R's: numbers labelled naturally (``"1"`` for 1 and 1.0, ``"2.5"``),
booleans ``"TRUE"``/``"FALSE"``, a combination of columns ``a:b`` as
``"a_label:b_label"``.  The rows are counted or hashed, never sorted: only the distinct
values are.
"""

from __future__ import annotations

import numbers
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd


def levels_and_codes(frame: pd.DataFrame, group: tuple[str, ...]) -> tuple[list[str], np.ndarray]:
    """Sorted level labels of a grouping factor and each row's level index (int64).

    A single numeric (or boolean) column sorts numerically; anything else (strings,
    categoricals, combinations ``a:b``) sorts as strings, as hglm2's
    ``factor(as.vector(g))`` does.  The rows are only hashed or counted (O(n)); sorting
    is of the distinct values.
    """
    if len(group) == 1 and is_numeric(frame[group[0]]):
        unique, codes = sorted_codes(frame[group[0]].to_numpy())
        return number_labels(unique), codes
    labels, codes = _column_codes(frame[group[0]])
    for name in group[1:]:
        more_labels, more_codes = _column_codes(frame[name])
        width = len(more_labels)
        pairs, codes = _dense_codes(codes * width + more_codes)
        labels = labels[pairs // width] + ":" + more_labels[pairs % width]
    return _sorted_labels(labels, codes)


def sorted_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
        return sorted_codes(values)
    codes, unique = pd.factorize(values)
    return np.asarray(unique), codes.astype(np.int64, copy=False)


def number_labels(unique: np.ndarray) -> list[str]:
    """:func:`number_label` of each distinct value, vectorized for NumPy number arrays;
    distinct values that R's 15 significant digits would label alike (0.1 + 0.2 and 0.3)
    are labelled with the digits that tell them apart (Python's shortest round trip)."""
    kind = unique.dtype.kind
    if kind in "iu":
        return list(map(str, unique.tolist()))
    labels = [number_label(value) for value in unique.tolist()]
    if kind == "f" and len(set(labels)) < len(labels):
        shared = {label for label, count in Counter(labels).items() if count > 1}
        labels = [repr(float(v)) if label in shared else label
                  for v, label in zip(unique.tolist(), labels, strict=True)]
    return labels


def _column_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Labels (an object array of str, maybe unused or repeated) and each row's index
    into them, for one column of a grouping factor.

    The labels are those of :func:`_column_labels`: numbers as :func:`number_label`,
    anything else as ``astype(str)`` does, which is applied to distinct values only.
    """
    if is_numeric(values):
        unique, codes = sorted_codes(values.to_numpy())
        return np.array(number_labels(unique), dtype=object), codes
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


def is_numeric(values: pd.Series) -> bool:
    """Numeric or boolean dtype (categoricals are not)."""
    return pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)


def number_label(value: Any) -> str:
    """A number's natural label, as R's ``as.character``: ``"1"`` for 1 and 1.0,
    ``"2.5"``; ``"TRUE"``/``"FALSE"`` for booleans."""
    if isinstance(value, bool | np.bool_):
        return "TRUE" if value else "FALSE"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    return f"{float(value):.15g}"


def level_label(value: Any) -> str:
    """R's label of a factor level: :func:`number_label` of numbers and booleans, the
    text of anything else."""
    if isinstance(value, numbers.Number | bool | np.bool_):
        return number_label(value)
    return str(value)


def row_labels(frame: pd.DataFrame, group: tuple[str, ...]) -> np.ndarray:
    """Each row's level label of a (combined) grouping factor, ``"a_label:b_label"``."""
    labels = [_column_labels(frame[name]) for name in group]
    combined = labels[0]
    for more in labels[1:]:
        combined = combined + ":" + more
    return combined


def _column_labels(values: pd.Series) -> np.ndarray:
    """Labels of one column as an object array of str."""
    if not is_numeric(values):
        return values.astype(str).to_numpy(dtype=object)
    unique, codes = np.unique(values.to_numpy(), return_inverse=True)
    return np.array(number_labels(unique), dtype=object)[codes.reshape(-1)]


def factor_levels(values: pd.Series) -> list[str]:
    """Levels of a factor-like series: category order, or sorted distinct labels."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return [str(c) for c in values.cat.categories]
    return sorted(values.dropna().astype(str).unique())
