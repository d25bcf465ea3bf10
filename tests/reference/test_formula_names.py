"""R's model formulas give R's coefficient names: the fixed-effect design of each call in
``$HGLM_SHARED/ref/glmm`` (lme4, glmmTMB, ordinal, mixcat), its formula copied from the
reference file's ``r_code``, has the columns R's fit names, in R's order.

The data are read as the data README describes them (factors as factors); the response
of an ordinal fit is only a column name here.  R's ordinal fits have thresholds where the
others have an intercept: clmm's ``1|2`` are left out, mixcat's ``(Intercept) 1`` (and its
category-specific ``trt 1``, ``trt 2``) stand for their column, ``(Intercept)`` (``trt``).
"""

from __future__ import annotations

import pandas as pd
import pytest
from shared import load_data, load_ref, shared_dir

from hglm.spec.formula import design_from_lme4
from hglm.spec.text import split_top

#: Each data set as the data README describes it (factors as categories).
FACTORS = {
    "cbpp.csv": ["herd", "period"],
    "hr_sim.csv": ["Patient"],
    "pump.csv": ["System", "Gr"],
    "Dyestuff.csv": ["Batch"],
}


def cases() -> list[str]:
    try:
        folder = shared_dir() / "ref" / "glmm"
    except pytest.skip.Exception:
        return []
    return sorted(path.stem for path in folder.glob("*.json"))


def r_formula(r_code: str) -> str:
    """The first argument of the R call: its model formula."""
    return split_top(r_code[r_code.index("(") + 1 : -1], ",")[0]


def data(name: str) -> pd.DataFrame:
    frame = load_data(name)
    for column in FACTORS.get(name, []):
        frame[column] = frame[column].astype("category")
    return frame.assign(obs=range(1, len(frame) + 1), yy=1.0, yf=1.0)


def r_columns(fit: dict) -> list[str]:
    """The columns of R's coefficients: mixcat's category suffix `` j`` dropped, clmm's
    thresholds ``j|k`` left out."""
    names = [_column(name) for name in fit.get("fixef") or fit["coefficients"]]
    return list(dict.fromkeys(name for name in names if "|" not in name))


def _column(name: str) -> str:
    """``name`` without mixcat's category suffix: ``trt 2`` -> ``trt``."""
    head, _, tail = name.rpartition(" ")
    return head if head and tail.isdigit() else name


@pytest.mark.parametrize("case", cases())
def test_design_columns_are_r_names(case: str) -> None:
    ref = load_ref(f"glmm/{case}")
    expected = r_columns(ref["default"])
    formula = r_formula(ref["r_code"])
    design = design_from_lme4(formula, data(ref["data"]), binomial="cbind" in formula)
    columns = list(design.X.columns)
    if "(Intercept)" not in expected:  # thresholds in its place
        columns.remove("(Intercept)")
    assert columns == expected, formula


def test_every_reference_call_is_checked():
    """The parametrized cases come from ref/glmm: an empty or missing folder must not pass."""
    folder = shared_dir() / "ref" / "glmm"
    assert cases() and len(cases()) == len(list(folder.glob("*.json")))
