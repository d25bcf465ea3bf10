"""npmlt's and clmm's formulas to the ordinal design (hglm.spec.ordinal_formula)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hglm.spec.ordinal_formula import clmm_design, ordinal_design


@pytest.fixture
def data() -> pd.DataFrame:
    return pd.DataFrame({"y": [1, 2, 3, 2, 1, 3], "x": [0.1, 0.5, 1.0, 1.5, 2.0, 2.5],
                         "t": [0, 1, 0, 1, 0, 1], "id": [7, 7, 8, 8, 9, 9]})


def test_npmlt_formulas(data) -> None:
    d = ordinal_design("y ~ x * t", data, id="id", random="~ 1 + t", formula_npo="~ t")
    assert d.x_names == ("x", "x:t") and d.npo_names == ("t",)
    assert d.z_names == ("(Intercept)", "t")
    assert d.cluster_labels == ("7", "8", "9") and d.q == 2
    np.testing.assert_array_equal(d.cluster, [0, 0, 1, 1, 2, 2])
    assert d.parameter_names()[:4] == ["(Intercept) 1", "(Intercept) 2", "t 1", "t 2"]


def test_incomplete_rows_are_dropped(data) -> None:
    data.loc[2, "x"] = np.nan
    d = ordinal_design("y ~ x", data, id="id")
    assert d.X.shape == (5, 1) and d.response.codes.size == 5


def test_missing_id_is_an_error(data) -> None:
    data["id"] = data["id"].astype(float)
    data.loc[0, "id"] = np.nan
    with pytest.raises(ValueError, match="id: column 'id' has missing values"):
        ordinal_design("y ~ x", data, id="id")


def test_unknown_id_column(data) -> None:
    with pytest.raises(ValueError, match="no column 'cluster'"):
        ordinal_design("y ~ x", data, id="cluster")


def test_random_must_be_one_sided(data) -> None:
    with pytest.raises(ValueError, match="random must be a one-sided formula"):
        ordinal_design("y ~ x", data, id="id", random="1 + t")


def test_clmm_formula(data) -> None:
    d = clmm_design("y ~ x + (1 | factor(id))", data, "probit")
    assert d.z_names == ("(Intercept)",) and d.link == "probit" and d.n_clusters == 3


def test_clmm_vector_term(data) -> None:
    assert clmm_design("y ~ t + (x | id)", data, "logit").z_names == ("(Intercept)", "x")
    assert clmm_design("y ~ t + (0 + x | id)", data, "logit").z_names == ("x",)


@pytest.mark.parametrize("formula", ["y ~ x", "y ~ x + (1 | id) + (1 | t)",
                                     "y ~ x + (x || id)", "y ~ x + (1 | id:t)"])
def test_clmm_takes_one_term_of_one_group(data, formula) -> None:
    with pytest.raises(ValueError, match="formula:"):
        clmm_design(formula, data, "logit")
