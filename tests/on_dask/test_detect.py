"""distributed.detect: a Dask frame is recognised without importing Dask, and importing
hglm does not import Dask."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from hglm.distributed import is_dask_frame


def test_importing_hglm_does_not_import_dask() -> None:
    code = "import sys, hglm; assert 'dask' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_pandas_frame_is_not_a_dask_frame() -> None:
    assert not is_dask_frame(pd.DataFrame({"a": [1]}))
    assert not is_dask_frame(None)
