"""Whether an object is a Dask DataFrame, without importing Dask."""

from __future__ import annotations

import sys


def is_dask_frame(data: object) -> bool:
    """True for a ``dask.dataframe.DataFrame`` (Dask is never imported here: a frame of
    Dask exists only when Dask has been imported)."""
    if "dask.dataframe" not in sys.modules:
        return False
    import dask.dataframe as dd

    return isinstance(data, dd.DataFrame)
