"""The likelihood-ratio table of nested marginal-likelihood fits (lme4's ``anova``).

The fits are ordered by their number of parameters; each row after the first tests the
model against the one above it: Chisq = 2 max(0, logLik - logLik_above) on Df = the
difference in parameters, Pr(>Chisq) its chi-square tail.  A variance component tested
at its boundary (zero) has a null distribution that is a 50:50 mixture of chi-square(0)
and chi-square(1) (Self & Liang 1987): with ``boundary=True`` the rows that add exactly
one variance parameter to the same fixed effects get that p-value as well (half the
chi-square(1) tail).

Likelihoods are comparable only on the same data, and REML likelihoods only between
models with the same fixed effects: such fits are refused here (``hglm.anova`` refits
REML fits by ML first, as lme4 does).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._distributions import chi2_sf
from .marginal_view import MarginalView
from .r_format import SIGNIF_LEGEND, format_pvalues, format_r, signif_stars, text_table

BOUNDARY_COLUMN = "Pr(>Chisq) boundary"


class AnovaTable(pd.DataFrame):
    """R's anova table: a DataFrame (npar, AIC, BIC, logLik, deviance, Chisq, Df,
    Pr(>Chisq)) whose print is R's, with the models' formulas above it."""

    _metadata = ["heading"]

    @property
    def _constructor(self) -> type[pd.DataFrame]:
        return pd.DataFrame

    def __str__(self) -> str:
        columns: list[list[str]] = [[str(int(x)) for x in self["npar"]]]
        for name in ("AIC", "BIC", "logLik", "deviance"):
            columns.append(format_r(self[name].to_numpy(), 5))
        chisq = self["Chisq"].to_numpy()
        columns.append(_blank_na(format_r(np.round(chisq, 4), 5), chisq))
        df = self["Df"].to_numpy()
        columns.append(["" if np.isnan(x) else str(int(x)) for x in df])
        header = ["", *self.columns]
        for name in self.columns[7:]:
            p = self[name].to_numpy()
            columns.append(_blank_na(format_pvalues(p, 4), p))
        p = self["Pr(>Chisq)"].to_numpy()
        columns.append(["" if np.isnan(x) else signif_stars(x) for x in p])
        header.append("")
        rows = [[str(i), *cells] for i, cells in zip(self.index, zip(*columns, strict=True),
                                                     strict=True)]
        left = [True] + [False] * (len(header) - 2) + [True]
        lines = [*getattr(self, "heading", []), *text_table(header, rows, left)]
        return "\n".join([*lines, "---", SIGNIF_LEGEND])

    __repr__ = __str__


def _blank_na(texts: list[str], values: np.ndarray) -> list[str]:
    return ["" if np.isnan(v) else t for t, v in zip(texts, values, strict=True)]


def _check_comparable(fits: Sequence[MarginalView]) -> None:
    """Refuse fits on different data, and REML fits that likelihoods cannot compare."""
    nobs = [f.nobs for f in fits]
    if len(set(nobs)) > 1:
        raise ValueError(f"fits: were not all fitted to the same number of observations "
                         f"{nobs}; compare models of the same data")
    y0 = fits[0].problem.y
    if any(not np.array_equal(f.problem.y, y0) for f in fits[1:]):
        raise ValueError("fits: have different responses; compare models of the same data")
    reml = [f.reml for f in fits]
    if any(reml) and not all(reml):
        raise ValueError("fits: some were fitted by REML, some by ML; refit them by ML "
                         "(refit=True)")
    if all(reml) and any(list(f.fixef.index) != list(fits[0].fixef.index) for f in fits):
        raise ValueError("fits: REML fits with different fixed effects have incomparable "
                         "likelihoods; refit them by ML (refit=True)")


def _same_fixed(a: MarginalView, b: MarginalView) -> bool:
    return list(a.fixef.index) == list(b.fixef.index) and np.array_equal(a.problem.X,
                                                                           b.problem.X)


def anova_table(fits: Sequence[MarginalView], names: Sequence[str],
                formulas: Sequence[str | None], boundary: bool = False) -> AnovaTable:
    """The likelihood-ratio table of nested fits.

    Parameters
    ----------
    fits : sequence of MarginalView
        Two or more fits of the same data.
    names : sequence of str
        Row labels, one per fit.
    formulas : sequence of str or None
        The fits' formulas, shown above the table.
    boundary : bool
        Add the column "Pr(>Chisq) boundary": the p-value of the 50:50 chi-square(0) :
        chi-square(1) mixture for rows that add exactly one variance parameter to the
        same fixed effects (NaN elsewhere).  Off by default, as in lme4; ``Pr(>Chisq)``
        is never halved.

    Returns
    -------
    AnovaTable
    """
    if len(fits) < 2:
        raise ValueError("fits: anova compares two or more fitted models")
    _check_comparable(fits)
    order = np.argsort([f.n_params for f in fits], kind="stable")
    fits = [fits[i] for i in order]
    labels = [names[i] for i in order]
    loglik = np.array([f.loglik for f in fits])
    npar = np.array([f.n_params for f in fits])
    chisq = np.concatenate([[np.nan], 2.0 * np.maximum(0.0, np.diff(loglik))])
    df = np.concatenate([[np.nan], np.diff(npar).astype(float)])
    with np.errstate(invalid="ignore"):
        p = np.where(df > 0, chi2_sf(chisq, np.where(df > 0, df, 1.0)), np.nan)
    table = AnovaTable({
        "npar": npar, "AIC": [f.aic for f in fits], "BIC": [f.bic for f in fits],
        "logLik": loglik, "deviance": -2.0 * loglik, "Chisq": chisq, "Df": df,
        "Pr(>Chisq)": p,
    }, index=pd.Index(labels))
    if boundary:
        table[BOUNDARY_COLUMN] = _boundary_pvalues(fits, chisq)
    table.heading = ["Models:", *(f"{n}: {fm}" for n, fm in
                                  zip(labels, [formulas[i] for i in order], strict=True)
                                  if fm is not None)]
    return table


def _boundary_pvalues(fits: Sequence[MarginalView], chisq: np.ndarray) -> np.ndarray:
    """0.5 P(chi2_0 >= x) + 0.5 P(chi2_1 >= x) where a row adds one variance parameter."""
    out = np.full(len(fits), np.nan)
    for i in range(1, len(fits)):
        one_more = len(fits[i].theta) == len(fits[i - 1].theta) + 1
        if one_more and fits[i].n_params == fits[i - 1].n_params + 1 and _same_fixed(
                fits[i], fits[i - 1]):
            x = chisq[i]
            out[i] = 0.5 * float(x <= 0.0) + 0.5 * float(chi2_sf(x, 1))
    return out
