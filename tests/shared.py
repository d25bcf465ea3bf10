"""Locate ``../shared`` (reference results and data sets) for the tests.

The folder is found from the environment variable ``HGLM_SHARED`` or beside the
repository checkout.  Tests that need it are skipped with a clear reason when it is
absent, and fail instead when the ``CI`` environment variable is set.
"""

from __future__ import annotations

import importlib
import json
import os
from functools import cache
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

_REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """Return the shared folder, or skip (fail under CI) when it is absent."""
    candidates = [os.environ.get("HGLM_SHARED"), _REPO.parent / "shared"]
    for c in candidates:
        if c and (Path(c) / "ref").is_dir() and (Path(c) / "data").is_dir():
            return Path(c)
    reason = (
        "../shared (reference results and data) not found beside the checkout; "
        "set HGLM_SHARED to its path"
    )
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def require(module: str) -> ModuleType:
    """Import ``module``, a dependency of the test extra (``pip install ".[test]"``): a
    test that needs it is skipped with the install hint when it is missing, and fails
    instead when the ``CI`` environment variable is set (a skip is not a pass)."""
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"{module} not installed: pip install '.[test]'")


@cache
def load_ref(case: str) -> dict:
    """The reference JSON of R's hglm for ``case``."""
    with open(shared_dir() / "ref" / f"{case}.json") as fh:
        return json.load(fh)


@cache
def _read_csv(name: str, header: bool) -> pd.DataFrame:
    return pd.read_csv(shared_dir() / "data" / name, header=0 if header else None)


def load_data(name: str, header: bool = True) -> pd.DataFrame:
    """A data set of ``../shared/data`` as a DataFrame (a fresh copy)."""
    return _read_csv(name, header).copy()
