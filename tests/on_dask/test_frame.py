"""distributed.frame: levels merged and sorted as the formula layer sorts them, the
partitioning check, the size cap and the known categories."""

from __future__ import annotations

import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe", reason="dask is not installed")

from hglm.distributed.frame import _disjoint, _known_categories, _merged  # noqa: E402


def test_numeric_levels_sort_as_numbers_and_text_as_text() -> None:
    assert _merged((["2", "10"], ["1", "2"]), numeric=True) == ["1", "2", "10"]
    assert _merged((["b", "a10"], ["a2"]), numeric=False) == ["a10", "a2", "b"]


def test_a_level_in_two_partitions_is_not_partitioned() -> None:
    assert _disjoint([["a", "b"], ["c"]])
    assert not _disjoint([["a", "b"], ["b"]])


def test_text_columns_in_the_formula_become_sorted_known_categories() -> None:
    frame = pd.DataFrame({"t": ["c", "a", "b", "a"], "u": ["x", "y", "x", "y"],
                          "y": [1.0, 2.0, 3.0, 4.0]})
    ddf = _known_categories(dd.from_pandas(frame, npartitions=2), "y ~ t", ())
    assert list(ddf["t"].dtype.categories) == ["a", "b", "c"]
    assert not isinstance(ddf["u"].dtype, pd.CategoricalDtype)  # not in the formula
