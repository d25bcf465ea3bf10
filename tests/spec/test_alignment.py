"""Tests of ``hglm.spec.alignment``: pandas arguments are matched to the rows by their
index, and refused when their labels differ (issue 18)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hglm
from hglm.spec import align_rows, align_to_index


def _frame(seed: int = 0, k: int = 8, m: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(k), m)
    n = k * m
    x = rng.normal(size=n)
    return pd.DataFrame({
        "y": 1.0 + x + rng.normal(size=k)[g] + rng.normal(size=n), "x": x, "g": g,
        "w": rng.uniform(0.5, 2.0, n), "o": rng.normal(size=n),
    }, index=pd.RangeIndex(100, 100 + n))


def test_a_shuffled_series_is_reordered_by_label() -> None:
    s = pd.Series([1.0, 2.0, 3.0], index=["a", "b", "c"])
    out = align_to_index(s.iloc[[2, 0, 1]], s.index, "weights", "data")
    pd.testing.assert_series_equal(out, s)


def test_labels_that_differ_are_refused() -> None:
    index = pd.Index(["a", "b", "c"])
    with pytest.raises(ValueError, match=r"weights: its index does not have the row labels "
                                         r"of data's.*\.to_numpy\(\)"):
        align_to_index(pd.Series([1.0, 2.0, 3.0], index=["a", "b", "d"]), index, "weights",
                       "data")


def test_arrays_and_other_lengths_are_left_to_the_other_checks() -> None:
    index = pd.Index(["a", "b"])
    array = np.array([1.0, 2.0])
    assert align_to_index(array, index, "weights", "data") is array
    short = pd.Series([1.0], index=["z"])
    assert align_to_index(short, index, "weights", "data") is short


def test_weights_and_offset_series_follow_the_data_frame_rows() -> None:
    df = _frame()
    shuffled = df.sample(frac=1, random_state=1)
    expected = hglm.hglm2("y ~ x + (1|g)", data=df, weights=df["w"].to_numpy(),
                          offset=df["o"].to_numpy())
    fit = hglm.hglm2("y ~ x + (1|g)", data=df, weights=shuffled["w"], offset=shuffled["o"])
    np.testing.assert_array_equal(fit.fixef.to_numpy(), expected.fixef.to_numpy())
    np.testing.assert_array_equal(fit.var_ranef, expected.var_ranef)


def test_a_weights_series_of_other_rows_is_refused() -> None:
    df = _frame()
    with pytest.raises(ValueError, match="weights: its index does not have the row labels"):
        hglm.hglm2("y ~ x + (1|g)", data=df, weights=df["w"].reset_index(drop=True))
    with pytest.raises(ValueError, match="offset: its index does not have the row labels"):
        hglm.hglm(fixed="y ~ x", random="~ 1|g", data=df,
                  offset=df["o"].reset_index(drop=True))


def test_matrix_interface_follows_the_index_of_y() -> None:
    df = _frame()
    X = df[["x"]].assign(one=1.0)
    Z = pd.get_dummies(df["g"], dtype=float)
    expected = hglm.hglm(y=df["y"].to_numpy(), X=X.to_numpy(), Z=Z.to_numpy(),
                         weights=df["w"].to_numpy())
    order = np.random.default_rng(4).permutation(len(df))
    fit = hglm.hglm(y=df["y"], X=X.iloc[order], Z=Z.iloc[order[::-1]],
                    weights=df["w"].iloc[order])
    np.testing.assert_allclose(fit.fixef.to_numpy(), expected.fixef.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(fit.var_ranef, expected.var_ranef, rtol=1e-12)


def test_align_rows_names_the_reference() -> None:
    y = pd.Series([1.0, 2.0], index=[5, 6])
    with pytest.raises(ValueError, match="X: its index does not have the row labels of y's"):
        align_rows({"y": y, "X": pd.DataFrame({"a": [1.0, 2.0]}, index=[0, 1])})
    arrays = {"y": np.ones(2), "X": None}
    assert align_rows(arrays) is arrays
