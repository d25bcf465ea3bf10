"""Predictions of a formula fit: the random part Z v of the linear predictor, and lme4's
``re.form``: with the random effects, or at the population level, where new data need no
grouping columns.

The formula layer rebuilds the fixed design and the random blocks of new data together
(``spec.new_design``), and a level it has not seen (or a missing one) gets an empty row,
the random effect's mean.  A population-level prediction therefore hands it the new data
with every grouping column set to a missing level (and the slope covariates it lacks as
zeros): every random row is empty, and the random effects are at their mean.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..engine import Indicator, block_width
from ..spec import ModelDesign

Array = np.ndarray

_POPULATION = {"NA", "~0", "~ 0", "~-1", "~ -1"}


def random_part(blocks: list[object], v: Array) -> Array:
    """Z v for the engine's blocks of Z (one per term, in order) and v in term order."""
    out, start = None, 0
    for block in blocks:
        vk = v[start : start + block_width(block)]
        start += vk.shape[0]
        part = block.matvec(vk) if isinstance(block, Indicator) else block @ vk
        out = part if out is None else out + part
    return out


def re_form_population(re_form: object) -> bool:
    """Whether ``re_form`` asks for population-level predictions.

    Parameters
    ----------
    re_form : None, str or float
        None (lme4's ``re.form = NULL``): with the random effects; ``"NA"``, ``"~0"``
        or NaN (lme4's ``re.form = NA`` or ``~0``): without them.

    Returns
    -------
    bool

    Raises
    ------
    ValueError
        For any other value (lme4's partial formulas are not supported).
    """
    if re_form is None:
        return False
    if isinstance(re_form, float) and math.isnan(re_form):
        return True
    if isinstance(re_form, str) and re_form.strip() in _POPULATION:
        return True
    raise ValueError(
        f"re_form: must be None (with the random effects) or 'NA' / '~0' (population "
        f"level), got {re_form!r}"
    )


def population_frame(newdata: object, design: ModelDesign) -> pd.DataFrame:
    """``newdata`` with every grouping column of the random terms set to a missing level
    (added where it lacks one), and the slope covariates it lacks added as zeros.

    Parameters
    ----------
    newdata : DataFrame or dict of columns
    design : ModelDesign
        The fitted model's design.

    Returns
    -------
    DataFrame
        A copy.
    """
    frame = newdata if isinstance(newdata, pd.DataFrame) else pd.DataFrame(dict(newdata))
    added: dict[str, object] = {}
    for term in design.random:
        for column in term.columns:
            added[column] = [None] * len(frame)
        spec = term.covariate_spec
        for column in () if spec is None else spec.required_variables:
            if column not in frame.columns and column not in added:
                added[column] = 0.0
    return frame.assign(**added)
