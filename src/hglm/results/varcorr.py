"""The variance components of a marginal-likelihood fit, in the layout of lme4's
``as.data.frame(VarCorr(fit))`` and of the "Random effects:" block of its summary.

Per random term (grp, var1, var2, vcov, sdcor): a row per effect with its variance and
standard deviation (var2 missing), then for a vector-valued term ``(1 + x|g)`` a row per
pair of effects with their covariance and correlation (lme4's order: the lower triangle
column by column); then the residual row (grp "Residual") for families with a scale
parameter.  A grouping factor with several terms is named as lme4 names it: ``g``,
``g.1``, ...  The printed table has lme4's Corr columns (``formatVC``).
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
    groups: Sequence[str], effects: Sequence[Sequence[str]], covariances: Sequence[Array],
    residual: float | None,
) -> pd.DataFrame:
    """R's ``as.data.frame(VarCorr(fit))``.

    Parameters
    ----------
    groups : sequence of str
        The grouping factor of each random term.
    effects : sequence of sequence of str
        The effects of each term: ``["(Intercept)"]``, ``["x"]`` (a scalar term) or
        ``["(Intercept)", "x"]`` (a vector-valued term).
    covariances : sequence of ndarray
        The covariance matrix of each term's effects (1 x 1 for a scalar term).
    residual : float or None
        The residual variance (sigma^2), None for families without a scale parameter.

    Returns
    -------
    DataFrame
        Columns grp, var1, var2, vcov, sdcor; missing labels are ``pd.NA``.
    """
    rows: list[tuple[str, object, object, float, float]] = []
    for grp, names, cov in zip(group_labels(groups), effects, covariances, strict=True):
        cov = np.atleast_2d(np.asarray(cov, dtype=float))
        sd = np.sqrt(np.diag(cov))
        rows += [(grp, name, pd.NA, cov[i, i], sd[i]) for i, name in enumerate(names)]
        rows += [(grp, names[j], names[i], cov[i, j], _correlation(cov[i, j], sd[i], sd[j]))
                 for j in range(len(names)) for i in range(j + 1, len(names))]
    if residual is not None:
        rows.append(("Residual", pd.NA, pd.NA, float(residual), float(np.sqrt(residual))))
    grp, var1, var2, vcov, sdcor = zip(*rows, strict=True) if rows else ([],) * 5
    return pd.DataFrame({
        "grp": list(grp),
        "var1": pd.array(list(var1), dtype="string"),
        "var2": pd.array(list(var2), dtype="string"),
        "vcov": np.array(vcov, dtype=float),
        "sdcor": np.array(sdcor, dtype=float),
    })


def _correlation(cov: float, sd_i: float, sd_j: float) -> float:
    """cov / (sd_i sd_j); NaN when an effect has no variance (as R gives it)."""
    denominator = sd_i * sd_j
    return float(cov / denominator) if denominator > 0 else float("nan")


def random_effects_block(frame: pd.DataFrame, digits: int = 4,
                         variance: bool = True) -> list[str]:
    """The "Random effects:" table of lme4's print and summary: Groups, Name, (Variance,)
    Std.Dev., each numeric column formatted as R's ``format(x, digits = 4)``, and for
    vector-valued terms the Corr columns (lme4's ``formatVC``: each effect's correlations
    with the effects before it, rounded to 2 decimals).

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
    is_var = frame["var2"].isna().to_numpy()
    rows = frame[is_var]
    grp = list(rows["grp"])
    first = [i == 0 or grp[i] != grp[i - 1] for i in range(len(grp))]
    names = ["" if pd.isna(v) else str(v) for v in rows["var1"]]
    columns = [[g if f else "" for g, f in zip(grp, first, strict=True)], names]
    header = ["Groups", "Name"]
    if variance:
        columns.append(_padded(format_r(rows["vcov"].to_numpy(), digits)))
        header.append("Variance")
    columns.append(_padded(format_r(rows["sdcor"].to_numpy(), digits)))
    header.append("Std.Dev.")
    correlations = _correlation_columns(frame, grp, names, max(2, digits - 2))
    columns += correlations
    header += ["Corr", *[""] * (len(correlations) - 1)][: len(correlations)]
    table = [list(r) for r in zip(*columns, strict=True)]
    # lme4 prints this table as a character matrix: every column left-aligned
    return text_table(header, table, [True] * len(header), indent=" ")


def _padded(cells: list[str]) -> list[str]:
    """Right-justified to a common width, as R's ``format`` returns numbers."""
    width = max(map(len, cells), default=0)
    return [c.rjust(width) for c in cells]


def _correlation_columns(frame: pd.DataFrame, grp: list[str], names: list[str],
                         decimals: int) -> list[list[str]]:
    """Per variance row, its correlations with the term's earlier effects, as lme4's
    ``format(round(corr, 2), nsmall = 2)`` of each term's matrix; no columns when every
    term is scalar."""
    pairs = frame[frame["var2"].notna()]
    corr = {(g, str(a), str(b)): r for g, a, b, r in
            zip(pairs["grp"], pairs["var1"], pairs["var2"], pairs["sdcor"], strict=True)}
    sizes = [grp.count(g) for g in dict.fromkeys(grp) if g != "Residual"]
    width = max(sizes, default=1) - 1
    if width == 0:
        return []
    cells = []
    for g in dict.fromkeys(grp):
        members = [n for gi, n in zip(grp, names, strict=True) if gi == g]
        text = _format_correlations(
            [[1.0 if i == j else corr.get((g, members[min(i, j)], members[max(i, j)]),
                                          float("nan"))
              for j in range(len(members))] for i in range(len(members))], decimals)
        cells += [[text[i][j] if j < i else "" for j in range(width)]
                  for i in range(len(members))]
    return [list(column) for column in zip(*cells, strict=True)]


def _format_correlations(matrix: list[list[float]], decimals: int) -> list[list[str]]:
    """R's ``format(round(x, d), nsmall = d)`` of a matrix: d decimals, a common width."""
    text = [[_fixed(v, decimals) for v in row] for row in matrix]
    width = max(len(t) for row in text for t in row)
    return [[t.rjust(width) for t in row] for row in text]


def _fixed(value: float, decimals: int) -> str:
    """A value rounded to ``decimals`` (no negative zero), R's NaN as ``NaN``."""
    if np.isnan(value):
        return "NaN"
    return f"{round(value, decimals) + 0.0:.{decimals}f}"
