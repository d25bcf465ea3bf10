"""The example of README.md (run from the repository root, as a new user would)."""
# ruff: noqa: I001

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from _common import data

if not Path("../shared/data/bacteria.csv").is_file():
    # the shared folder is elsewhere (HGLM_SHARED): make ../shared/data resolve to it
    root = Path(tempfile.mkdtemp())
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    (root / "shared").symlink_to(data.parent, target_is_directory=True)
    (root / "work").mkdir()
    os.chdir(root / "work")

# --- from_r.md ---
import pandas as pd
import hglm

df = pd.read_csv("../shared/data/bacteria.csv")   # R: data(bacteria, package = "MASS")
fit = hglm.hglm(fixed="y ~ week", random="~ 1|ID", data=df, family="binomial")
print(fit)
