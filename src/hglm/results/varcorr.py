"""The variance components of a marginal-likelihood fit, in the layout of lme4's
``as.data.frame(VarCorr(fit))`` and of the "Random effects:" block of its summary.

One row per random term (grp, var1, var2, vcov, sdcor: var2 is missing for a variance,
and names the second effect of a covariance once correlated terms exist), then the
residual row (grp "Residual") for families with a scale parameter.  A grouping factor
with several terms is named as lme4 names it: ``g``, ``g.1``, ...
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .r_format import format_r, text_table

Array = np.ndarray

INTERCEPT = "(Intercept)"


def group_labels(groups: Sequence[str]) -> list[str]:
    """lme4's names of the terms' grouping factors: a repeated factor gets ``.1``, ``.2``."""
    seen: dict[str, int] = {}
    out = []
    for g in groups:
        k = seen.get(g, 0)
        out.append(g if k == 0 else f"{g}.{k}")
        seen[g] = k + 1
    return out


def varcorr_frame(
    groups: Sequence[str], effects: Sequence[str], variances: Array, residual: float | None
) -> pd.DataFrame:
    """R's ``as.data.frame(VarCorr(fit))``.

    Parameters
    ----------
    groups : sequence of str
        The grouping factor of each random term.
    effects : sequence of str
        The effect of each term: ``"(Intercept)"`` or the slope's covariate.
    variances : ndarray
        The variance of each term's effects.
    residual : float or None
        The residual variance (sigma^2), None for families without a scale parameter.

    Returns
    -------
    DataFrame
        Columns grp, var1, var2, vcov, sdcor; missing labels are ``pd.NA``.
    """
    variances = np.asarray(variances, dtype=float)
    grp = group_labels(groups)
    var1: list[object] = list(effects)
    vcov = list(variances)
    if residual is not None:
        grp.append("Residual")
        var1.append(pd.NA)
        vcov.append(float(residual))
    vcov_arr = np.array(vcov, dtype=float)
    return pd.DataFrame({
        "grp": grp,
        "var1": pd.array(var1, dtype="string"),
        "var2": pd.array([pd.NA] * len(grp), dtype="string"),
        "vcov": vcov_arr,
        "sdcor": np.sqrt(vcov_arr),
    })


def random_effects_block(frame: pd.DataFrame, digits: int = 4,
                         variance: bool = True) -> list[str]:
    """The "Random effects:" table of lme4's print and summary: Groups, Name, (Variance,)
    Std.Dev., each numeric column formatted as R's ``format(x, digits = 4)``.

    Parameters
    ----------
    frame : DataFrame
        :func:`varcorr_frame`'s table.
    digits : int
    variance : bool
        Show the Variance column (summary) or only Std.Dev. (print).

    Returns
    -------
    list of str
    """
    names = ["" if pd.isna(v) else str(v) for v in frame["var1"]]
    columns = [list(frame["grp"]), names]
    header = ["Groups", "Name"]
    if variance:
        columns.append(format_r(frame["vcov"].to_numpy(), digits))
        header.append("Variance")
    columns.append(format_r(frame["sdcor"].to_numpy(), digits))
    header.append("Std.Dev.")
    rows = [list(r) for r in zip(*columns, strict=True)]
    # lme4 prints this table as a character matrix: every column left-aligned
    return text_table(header, rows, [True] * len(header), indent=" ")
