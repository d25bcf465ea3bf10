"""An ordinal design's covariates rebuilt on new data (hglm.spec.ordinal_encoding)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hglm.spec.ordinal_encoding import new_cluster_labels, new_ordinal_arrays
from hglm.spec.ordinal_formula import ordinal_design


@pytest.fixture
def data() -> pd.DataFrame:
    return pd.DataFrame({"y": [1, 2, 3, 2, 1, 3], "x": [0.1, 0.5, 1.0, 1.5, 2.0, 2.5],
                         "f": ["a", "b", "c", "a", "b", "c"], "id": [7, 7, 8, 8, 9, 9]})


def test_new_arrays_are_the_design_on_the_same_rows(data) -> None:
    d = ordinal_design("y ~ x * f", data, id="id", random="~ 1 + x", formula_npo="~ x")
    X, X_npo, Z = new_ordinal_arrays(d.encoding, data.iloc[::-1])
    np.testing.assert_array_equal(X, d.X[::-1])
    np.testing.assert_array_equal(X_npo, d.X_npo[::-1])
    np.testing.assert_array_equal(Z, d.Z[::-1])
    assert list(new_cluster_labels(d.encoding, data.iloc[:3])) == ["7", "7", "8"]


def test_bad_new_data(data) -> None:
    d = ordinal_design("y ~ x + f", data, id="id", random="~ 1")
    with pytest.raises(ValueError, match="factor level not seen"):
        new_ordinal_arrays(d.encoding, data.assign(f="z"))
    with pytest.raises(ValueError, match="missing values in"):
        new_ordinal_arrays(d.encoding, data.assign(x=np.nan))
    with pytest.raises(ValueError, match="newdata must be a pandas DataFrame"):
        new_ordinal_arrays(d.encoding, data.to_numpy())
    with pytest.raises(ValueError, match="need the cluster column 'id'"):
        new_cluster_labels(d.encoding, data.drop(columns="id"))
