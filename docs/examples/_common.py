"""Set-up shared by the example scripts of docs/from_r.md.

``data`` is the folder of the example data sets (``../shared/data`` beside the repository
checkout, or ``$HGLM_SHARED/data``); ``show(key, value)`` prints one ``key: value`` line
with numbers rounded to 4 significant digits, the lines quoted in the docs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]


def _shared_data() -> Path:
    for folder in (os.environ.get("HGLM_SHARED"), REPO.parent / "shared"):
        if folder and (Path(folder) / "data").is_dir():
            return Path(folder) / "data"
    sys.exit("the example data (../shared/data beside the checkout) were not found; "
             "set HGLM_SHARED to the shared folder")


data = _shared_data()


def fmt(value: object, digits: int = 4) -> str:
    """A number (``digits`` significant digits), a sequence of numbers, or a named Series."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        text = f"{float(value):.{digits}g}"
        return "0" if text == "-0" else text
    if value is None:
        return "None"
    if isinstance(value, pd.Series) and not isinstance(value.index, pd.RangeIndex):
        pairs = zip(value.index, value.tolist(), strict=True)
        return ", ".join(f"{name}={fmt(x, digits)}" for name, x in pairs)
    return ", ".join(fmt(x, digits) for x in np.asarray(value).ravel().tolist())


def show(key: str, value: object, digits: int = 4) -> None:
    """Print ``key: value`` with ``digits`` significant digits (see :func:`fmt`)."""
    print(f"{key}: {fmt(value, digits)}")
