"""Tests of ``hglm.spec.levels``: level labels and codes of factors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hglm.spec import levels


@pytest.mark.parametrize(
    "values",
    [
        np.array([5, -3, 5, 0, 2**40]),
        np.array([3, 5, 3, 1000]),
        np.array([10**6 + 5, 10**6, 10**6 + 5]),
        np.array([-7, -2, -7]),
        np.array([3, 1, 2, 1], dtype=np.int8),
        np.array([-128, 127, 0], dtype=np.int8),
        np.array([2**64 - 1, 0, 2**63], dtype=np.uint64),
        np.array([True, False, True]),
        np.array([2.5, -1.0, 2.5, 1e300]),
        np.array([2.5, -1.0, 2.5], dtype=np.float32),
        np.array([2.5, -1.0, 2.5], dtype=np.float16),
        np.random.default_rng(0).integers(0, 50_000, 10_000),
        np.random.default_rng(1).integers(-(2**62), 2**62, 1000),
    ],
)
def test_sorted_codes_as_np_unique(values):
    unique, codes = levels.sorted_codes(values)
    expected, inverse = np.unique(values, return_inverse=True)
    assert unique.dtype == expected.dtype
    np.testing.assert_array_equal(unique, expected)
    np.testing.assert_array_equal(codes, inverse.reshape(-1))
    assert levels.number_labels(unique) == [levels.number_label(v) for v in expected]


@pytest.mark.parametrize(
    ("value", "label"),
    [(2, "2"), (2.0, "2"), (np.float64(2.5), "2.5"), (np.int64(10), "10"), (True, "TRUE"),
     (np.bool_(False), "FALSE"), ("Cucumber", "Cucumber"), (0.1, "0.1")],
)
def test_level_label_is_r_as_character(value, label):
    assert levels.level_label(value) == label


def test_boolean_labels_are_r_logicals():
    assert levels.number_labels(np.array([False, True])) == ["FALSE", "TRUE"]
def test_distinct_float_levels_get_distinct_labels() -> None:
    """0.1 + 0.2 and 0.3 print alike with 15 digits; as levels they stay two (issue 18)."""
    frame = pd.DataFrame({"g": [0.1 + 0.2, 0.3, 0.3, 0.1 + 0.2, 1.0]})
    labels, codes = levels.levels_and_codes(frame, ("g",))
    assert labels == ["0.3", "0.30000000000000004", "1"]
    np.testing.assert_array_equal(codes, [1, 0, 0, 1, 2])
    assert len(set(levels.row_labels(frame, ("g",)))) == 3
    assert levels.number_labels(np.array([0.25, 2.0])) == ["0.25", "2"]
