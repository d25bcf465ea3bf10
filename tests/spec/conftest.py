"""Fixtures of the tests of ``hglm.spec``."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture
def df() -> pd.DataFrame:
    """Eight rows with numeric, string and integer grouping columns."""
    return pd.DataFrame(
        {
            "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            "x": [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0],
            "f": ["u", "v", "w", "u", "v", "w", "u", "v"],
            "g": [10, 2, 1, 10, 2, 1, 10, 2],
            "h": ["b", "a", "b", "a", "b", "a", "b", "a"],
            "w": [1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0],
            "t": [1.0, 2.0, 4.0, 8.0, 1.0, 2.0, 4.0, 8.0],
        }
    )
