"""The report of a marginal-likelihood fit in lme4's layout: ``print(fit)`` as lme4's
``print.merMod`` and ``summary()`` as its ``print.summary.merMod``.

The blocks, in lme4's order: the title naming the method, family, formula, the REML
criterion or the AIC/BIC/logLik/deviance/df.resid line (deviance there is -2 logLik, as
lme4's summaries show it), the scaled (Pearson) residuals, the random-effects table, the
number of observations and of levels per grouping factor, the fixed effects with t
(LMM, or families with a scale) or z values and, for a GLMM, p-values, the coefficients
of a residual-dispersion model (as glmmTMB shows them), the correlation of the fixed
effects (2 to 12 of them), and the boundary and convergence notes.  Numbers are
formatted as R formats them (:mod:`.r_format`, lme4's ``digits = 4``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._distributions import norm_sf
from .marginal_view import MarginalView
from .r_format import (
    SIGNIF_LEGEND,
    abbreviate,
    format_coefficients,
    format_pvalues,
    format_r,
    format_statistics,
    named_vector,
    signif_stars,
    text_table,
)
from .varcorr import random_effects_block

DIGITS = 4
SINGULAR_NOTE = "boundary (singular) fit: see help('isSingular')"
_MAX_CORRELATION = 12


def title(fit: MarginalView) -> str:
    """lme4's first line, naming the model and the method."""
    if fit.is_lmm:
        how = "REML" if fit.reml else "maximum likelihood "
        return f"Linear mixed model fit by {how} ['lmerMod']"
    how = "REML" if fit.reml else "maximum likelihood"
    if fit.nAGQ == 1:
        approx = "Laplace Approximation"
    else:
        approx = f"Adaptive Gauss-Hermite Quadrature, nAGQ = {fit.nAGQ}"
    if all(t.family.is_gaussian for t in fit.problem.terms):
        return f"Generalized linear mixed model fit by {how} ({approx}) ['glmerMod']"
    return f"Hierarchical generalized linear model fit by {how} ({approx} on the v scale)"


def fixed_effects_table(fit: MarginalView) -> pd.DataFrame:
    """Estimate, Std. Error, t or z value, and for a GLMM Pr(>|z|) (lme4's columns)."""
    est, se = fit.fixef.to_numpy(), fit.se_fixef.to_numpy()
    stat = est / se
    uses_t = fit.is_lmm or not fit.family.fixed_dispersion
    table = pd.DataFrame({"Estimate": est, "Std. Error": se,
                          "t value" if uses_t else "z value": stat}, index=fit.fixef.index)
    if not fit.is_lmm:
        table["Pr(>|z|)"] = 2.0 * norm_sf(np.abs(stat))
    return table


class LMMSummary:
    """lme4's summary of a marginal-likelihood fit: ``str()`` gives the report,
    :meth:`short` the shorter ``print(fit)``, ``tables`` the DataFrames (fixed effects,
    variance components, conditional modes)."""

    def __init__(self, fit: MarginalView) -> None:
        self.fit = fit
        self.tables: dict[str, pd.DataFrame] = {
            "fixed": fixed_effects_table(fit),
            "random": fit.varcorr,
            "ranef": fit.ranef,
        }

    def _head(self) -> list[str]:
        fit = self.fit
        lines = [title(fit)]
        if not fit.is_lmm:
            lines.append(f" Family: {fit.family.name}  ( {fit.family.link.name} )")
        if fit.formula is not None:
            lines.append(f"Formula: {fit.formula}")
        return lines

    def _criterion(self, decimals: int) -> list[str]:
        """The REML criterion, or the AIC/BIC/logLik/deviance/df.resid line."""
        fit = self.fit
        if fit.reml and fit.is_lmm:
            value = round(fit.reml_criterion, decimals)
            return [f"REML criterion at convergence: {format_r([value], 7)[0]}"]
        stats_ = [fit.aic, fit.bic, fit.loglik, -2.0 * fit.loglik]
        values = format_r(np.round(stats_, decimals), 7) + [str(fit.df_resid)]
        return named_vector(["AIC", "BIC", "logLik", "deviance", "df.resid"], values)

    def _residuals(self) -> list[str]:
        q = self.fit.residual_quantiles([0.0, 0.25, 0.5, 0.75, 1.0])
        return ["Scaled residuals: ",
                *named_vector(["Min", "1Q", "Median", "3Q", "Max"], format_r(q, DIGITS))]

    def _groups(self) -> str:
        """Number of obs: n, groups:  g, m; ..."""
        counts = self.fit.ranef.drop_duplicates(["grpvar", "grp"]).groupby(
            "grpvar", sort=False).size()
        groups = "; ".join(f"{g}, {m}" for g, m in counts.items())
        return f"Number of obs: {self.fit.n_obs}, groups:  {groups}"

    def _fixed(self) -> list[str]:
        table = self.tables["fixed"]
        coef = format_coefficients(table[["Estimate", "Std. Error"]].to_numpy(), DIGITS)
        columns = [*coef, format_statistics(table.iloc[:, 2].to_numpy(), DIGITS)]
        header = ["", *table.columns]
        if "Pr(>|z|)" in table:
            p = table["Pr(>|z|)"].to_numpy()
            columns += [format_pvalues(p, DIGITS - 1), [signif_stars(x) for x in p]]
            header.append("")
        rows = [[name, *cells] for name, cells in zip(table.index, zip(*columns, strict=True),
                                                      strict=True)]
        left = [True] + [False] * (len(header) - 2) + [header[-1] == ""]
        lines = ["Fixed effects:", *text_table(header, rows, left)]
        if "Pr(>|z|)" in table:
            lines += ["---", SIGNIF_LEGEND]
        return lines

    def _dispersion(self) -> list[str]:
        """The residual-dispersion model's coefficients (glmmTMB's "Dispersion model")."""
        coef = self.fit.disp_coef
        if coef is None:
            return []
        link = self.fit.problem.link_disp.name
        return [f"Dispersion model ({link} link):",
                *named_vector(list(coef.index), format_r(coef.to_numpy(), DIGITS), gap=2)]

    def _correlation(self) -> list[str]:
        vcov = self.fit.vcov.to_numpy()
        p = vcov.shape[0]
        if not 1 < p <= _MAX_CORRELATION:
            return []
        sd = np.sqrt(np.diag(vcov))
        corr = vcov / np.outer(sd, sd)
        names = list(self.fit.fixef.index)
        header = ["", *(abbreviate(n) for n in names[:-1])]
        rows = [[names[i], *(f"{corr[i, j]:.3f}" for j in range(i)), *([""] * (p - 1 - i))]
                for i in range(1, p)]
        return ["Correlation of Fixed Effects:", *text_table(header, rows, [True] + [False] *
                                                            (p - 1))]

    def _notes(self) -> list[str]:
        fit = self.fit
        notes = [SINGULAR_NOTE] if fit.singular else []
        if not fit.converged:
            notes.append(f"Model failed to converge: {fit.message}")
        return notes

    def __str__(self) -> str:
        lines = [*self._head(), "", *self._criterion(1), "", *self._residuals(), "",
                 "Random effects:", *random_effects_block(self.fit.varcorr, DIGITS),
                 self._groups(), "", *self._fixed()]
        for block in (self._dispersion(), self._correlation()):
            if block:
                lines += ["", *block]
        notes = self._notes()
        if notes:
            lines += ["", *notes]
        return "\n".join(lines)

    __repr__ = __str__

    def short(self) -> str:
        """lme4's ``print(fit)``: title, criterion, standard deviations, fixed effects."""
        fit = self.fit
        fixef = format_r(fit.fixef.to_numpy(), DIGITS)
        lines = [*self._head(), *self._criterion(4), "Random effects:",
                 *random_effects_block(fit.varcorr, DIGITS, variance=False), self._groups(),
                 "Fixed Effects:", *named_vector(list(fit.fixef.index), fixef, gap=2),
                 *self._notes()]
        return "\n".join(lines)
