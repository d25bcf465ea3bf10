"""The summary of a fitted HGLM in the layout of R's ``summary.hglm`` (MEAN MODEL and
DISPERSION MODEL), with its tables as DataFrames."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .lme4_summary import SINGULAR_NOTE
from .r_format import signif_stars
from .varcorr import random_effects_block
from .view import HGLMView


class Summary:
    """The summary of a fit: ``str()`` is the R-style report; ``tables`` its DataFrames."""

    def __init__(self, fit: HGLMView, n_ranef: int = 3) -> None:
        self.fit = fit
        self.n_ranef = n_ranef
        self.tables: dict[str, pd.DataFrame | list[pd.DataFrame] | None] = {
            "fixed": fit.fixef_table(),
            "random": fit.ranef_frame(),
            "dispersion": fit.disp_coef,
            "random_dispersion": fit.rand_disp_coef,
        }

    def __str__(self) -> str:
        return "\n".join(
            ["----------", "MEAN MODEL", "----------", ""]
            + self._fixed_effects()
            + self._random_effects()
            + ["----------------", "DISPERSION MODEL", "----------------", ""]
            + self._dispersion_model()
            + self._notes()
        )

    def _fixed_effects(self) -> list[str]:
        f = self.fit
        out = ["Summary of the fixed effects estimates:", ""]
        tab = f.fixef_table()
        shown = pd.DataFrame(
            {
                "Estimate": tab["estimate"].map(lambda x: f"{x:.5f}"),
                "Std. Error": tab["std_error"].map(lambda x: f"{x:.5f}"),
                "t-value": tab["t_value"].map(lambda x: f"{x:.3f}"),
                "Pr(>|t|)": tab["p_value"].map(lambda x: f"{x:.3g}"),
                "": tab["p_value"].map(lambda p: signif_stars(p).strip()),
            }
        )
        out += [shown.to_string(), "---",
                "Signif. codes: 0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1",
                f"Note: P-values are based on {f.df_resid} degrees of freedom", ""]
        return out

    def _random_effects(self) -> list[str]:
        f = self.fit
        out: list[str] = []
        frame = f.ranef_frame()
        for term in f.names.terms:
            rows = frame[frame["term"] == term]
            out += [f"Summary of the random effects estimates {_parenthesized(term)}:", ""]
            show = rows if self.n_ranef < 0 else rows.head(self.n_ranef)
            out.append(
                show.set_index("name")
                .rename_axis(None)[["estimate", "std_error"]]
                .rename(columns={"estimate": "Estimate", "std_error": "Std. Error"})
                .to_string(float_format=lambda x: f"{x:.4f}")
            )
            if len(show) < len(rows):
                out.append(f"... ({len(rows)} in all; summary(n_ranef=-1) shows all)")
            out.append("")
        return out

    def _dispersion_model(self) -> list[str]:
        f = self.fit
        out = ["NOTE: h-likelihood estimates through EQL can be biased.", ""]
        if f.var_fix is not None:
            out += ["Dispersion parameter for the mean model:", f"{f.var_fix:.7g}", ""]
        if f.disp_coef is not None:
            out += ["Model estimates for the dispersion term:",
                    f"Link = {f._engine.problem.link_disp.name}", "", "Effects:",
                    _coef_text(f.disp_coef), "",
                    "Dispersion = 1 is used in Gamma model on deviances to calculate the",
                    "standard error(s).", ""]
        else:
            out += ["The residual dispersion was fixed (fix_disp).", ""]
        out += ["Dispersion parameter for the random effects:",
                " ".join(f"{x:.4g}" for x in f.var_ranef), ""]
        out += self._covariances()
        models = [(term, tab_k, t) for term, tab_k, t in zip(
            f.names.terms, f.rand_disp_coef, f._engine.problem.terms, strict=True)
            if tab_k is not None]  # a vector term's covariance is shown above
        if not models:
            return out
        out += ["Dispersion model for the random effects:", ""]
        for term, tab_k, t in models:
            out += [f"{term} (link = {t.link_disp.name}):", _coef_text(tab_k), ""]
        out += ["Dispersion = 1 is used in Gamma model on deviances to calculate the",
                "standard error(s).", ""]
        return out

    def _covariances(self) -> list[str]:
        """The covariance of each vector-valued term's effects, in lme4's layout."""
        f = self.fit
        vector = [k for k, t in enumerate(f._engine.problem.terms) if t.n_theta > 1]
        if not vector:
            return []
        vc = f.varcorr
        groups = [vc["grp"].iloc[i] for i in np.flatnonzero(vc["var2"].isna())]
        wanted = {list(dict.fromkeys(groups))[k] for k in vector}
        return ["Covariance of the correlated random effects (as lme4's VarCorr):",
                *random_effects_block(vc[vc["grp"].isin(wanted)]), ""]

    def _notes(self) -> list[str]:
        """Likelihoods, the dispersion HGLM, spatial parameters, the solver, convergence."""
        f = self.fit
        out: list[str] = []
        if f.likelihood is not None:
            out += ["Likelihoods:"] + [f"  {k}: {v:.4f}" for k, v in f.likelihood.items()] + [""]
        if f.disp_fit is not None:
            out += ["Double HGLM: the residual dispersion has its own HGLM (gamma, log link)",
                    "fitted to d/(1 - h), prior weights (1 - h)/2; its fixed effects:", "",
                    _coef_text(f.disp_fit.fixef_table()[["estimate", "std_error"]]), "",
                    "and the dispersion of its random effects: "
                    + " ".join(f"{x:.4g}" for x in f.disp_fit.var_ranef), ""]
        for kind, rho, tau in (("CAR", f.car_rho, f.car_tau), ("SAR", f.sar_rho, f.sar_tau)):
            if tau is not None:
                out += [f"{kind}.tau (estimated spatial variance component): {tau:.7g}",
                        f"{kind}.rho (estimated spatial correlation): {rho:.7g}", ""]
        if f._engine.fitter.marginal is not None:
            out += ["Solved in the space of the n observations (bigRR): the same estimates",
                    "as the augmented system, at the cost of n x n factorizations.", ""]
        state = "converged" if f.converged else "did NOT converge"
        out.append(f"{f.method} estimation {state} in {f.n_iter} iterations.")
        if f.singular:
            out.append(SINGULAR_NOTE)
        return out

    __repr__ = __str__


def _parenthesized(term: str) -> str:
    """A term's label in parentheses once: "(1|ID)" as it is, "Z" as "(Z)"."""
    return term if term.startswith("(") and term.endswith(")") else f"({term})"


def _coef_text(frame: pd.DataFrame) -> str:
    return frame.rename(columns={"estimate": "Estimate", "std_error": "Std. Error"}).to_string(
        float_format=lambda x: f"{x:.4f}"
    )
