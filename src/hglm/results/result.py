"""The fitted model (:class:`HGLMResult`) and its R-style summary.

Presentation only: this module turns the engine's arrays into named pandas objects and
text, and never computes estimates itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import sparse, stats
from scipy.sparse import linalg as splinalg

from ..engine import Indicator
from ..fit import EngineFit, fit_likelihoods, glm_loglik
from ..spec import ModelDesign, new_design, new_offset

Array = np.ndarray


@dataclass
class Names:
    """Labels of the model's pieces, supplied by the interface that built the model.

    Attributes
    ----------
    fixed : list of str
        One per column of X.
    random : list of str
        One per random effect (column of Z), terms in order.
    terms : list of str
        One label per random term (e.g. "(1|ID)" or "Random1").
    disp : list of str or None
        Columns of the residual-dispersion design (None: intercept only).
    rand_disp : list of list of str or None
        Columns of each random term's dispersion design.
    response : str
    """

    fixed: list[str]
    random: list[str]
    terms: list[str]
    disp: list[str] | None = None
    rand_disp: list[list[str] | None] = field(default_factory=list)
    response: str = "y"


def _coef_frame(coef: Array, se: Array, index: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"estimate": coef, "std_error": se}, index=pd.Index(index))


class HGLMResult:
    """A fitted hierarchical GLM (API.md, "The fitted model").

    Attributes are those of API.md: ``fixef``, ``se_fixef``, ``ranef``, ``se_ranef``,
    ``var_fix``, ``var_ranef``, ``disp_coef``, ``rand_disp_coef``, ``n_iter``,
    ``converged``, ``df_resid``, ``hat_values``, ``deviances``, ``fitted``, ``resid``,
    ``disp_fitted``, ``likelihood``, ``car_rho``, ``car_tau``, ``sar_rho``, ``sar_tau``,
    ``vcov`` and ``disp_fit``.
    """

    def __init__(
        self,
        engine: EngineFit,
        names: Names,
        method: str = "EQL",
        calc_like: bool = False,
        vcovmat: bool = False,
    ) -> None:
        self._engine = engine
        self.names = names
        self.method = method
        pb, last = engine.problem, engine.last
        n, p = pb.X.shape
        self.family = pb.family
        self.rand_families = [t.family for t in pb.terms]
        self.n_obs = n
        # diag(C^-1); with the n-space solver (bigRR) its random-effect part, O(n^2 q), is
        # computed on first use of se_ranef, and so are the random rows of hat_values
        self._diag_inv = last.factor.diag_inverse()
        self.fixef = pd.Series(engine.beta, index=pd.Index(names.fixed), name="fixef")
        self.se_fixef = pd.Series(
            np.sqrt(self._diag_inv[:p]), index=self.fixef.index, name="se_fixef"
        )
        u = _random_u(engine)
        self.ranef = pd.Series(u, index=pd.Index(names.random), name="ranef")
        self.n_iter = engine.n_iter
        self.converged = engine.converged
        self.deviances = last.dev
        self.fitted = last.mu
        self.linear_predictor = last.eta + pb.offset
        self.df_resid = int(round(n - last.observation_leverage_sum))
        self.disp_fitted = engine.phi

        if pb.fix_disp is not None:
            self.var_fix: float | None = float(pb.fix_disp)
            self.disp_coef: pd.DataFrame | None = None
        else:
            fit = last.disp_fit
            rows = ["(Intercept)"] if names.disp is None else names.disp
            self.disp_coef = _coef_frame(fit.coef, fit.std_error, rows)
            self.var_fix = (
                float(pb.link_disp.inverse(np.array(fit.coef[0])))
                if pb.x_disp is None
                else None
            )
        self.rand_disp_coef = []
        for k, fit in enumerate(last.rand_disp_fits):
            labels = names.rand_disp[k] if k < len(names.rand_disp) else None
            self.rand_disp_coef.append(
                _coef_frame(fit.coef, fit.std_error, ["(Intercept)"] if labels is None else labels)
            )
        with np.errstate(over="ignore"):  # R's exp(intercept), inf for a CAR/SAR term
            self.var_ranef = np.array([np.exp(f.coef[0]) for f in last.rand_disp_fits])
        self.likelihood: dict[str, float] | None = (
            fit_likelihoods(engine).as_dict() if calc_like else None
        )
        self.car_rho = self.car_tau = self.sar_rho = self.sar_tau = None
        for t, fit in zip(pb.terms, last.rand_disp_fits, strict=True):
            spatial = t.family.spatial
            if spatial is not None:
                rho, tau = spatial.parameters(fit.coef)
                if spatial.kind == "CAR":
                    self.car_rho, self.car_tau = rho, tau
                else:
                    self.sar_rho, self.sar_tau = rho, tau
        self.vcov = _marginal_vcov(engine) if vcovmat else None
        self.disp_fit: HGLMResult | None = None
        self.design: ModelDesign | None = None

    @cached_property
    def se_ranef(self) -> pd.Series:
        """Standard errors of the random effects (computed on first use)."""
        return pd.Series(
            np.sqrt(_ranef_variances(self._engine, self._diag_inv)), index=self.ranef.index,
            name="se_ranef",
        )

    @cached_property
    def hat_values(self) -> Array:
        """Leverages of the n observations and the q random-effect rows (the random rows
        of a bigRR fit are computed on first use)."""
        return np.asarray(self._engine.last.hat)

    def predict(
        self,
        newdata: object | None = None,
        type: str = "response",
        *,
        X: object | None = None,
        Z: object | None = None,
        offset: object | None = None,
        unseen: str = "mean",
    ) -> Array:
        """Predictions of the mean model.

        Parameters
        ----------
        newdata : DataFrame, optional
            New data for a formula fit; the design is rebuilt from the stored formulas.
            Levels of a grouping factor not seen in fitting get the random-effect mean
            (``unseen="mean"``) or raise ValueError (``unseen="raise"``).
        type : {"response", "link"}
            Means, or the linear predictor (including the offset).
        X, Z : array-like, optional
            New designs for a matrix-interface fit (Z with the fitted model's columns).
        offset : array-like, optional
            Offset for the new rows (default: the formula's offset terms, else 0).

        Returns
        -------
        ndarray
        """
        if type not in ("response", "link"):
            raise ValueError(f"type: must be 'response' or 'link', got {type!r}")
        if newdata is None and X is None and Z is None:
            eta = self.linear_predictor
        else:
            eta = self._new_linear_predictor(newdata, X, Z, offset, unseen)
        return eta if type == "link" else self.family.link.inverse(eta)

    def _new_linear_predictor(
        self, newdata: object, X: object, Z: object, offset: object, unseen: str
    ) -> Array:
        pb = self._engine.problem
        beta, v = self._engine.beta, self._engine.v
        if newdata is not None:
            if self.design is None:
                raise ValueError("newdata: needs a formula fit; pass X= and Z= instead")
            X_new, blocks = new_design(self.design, newdata, unseen=unseen)
            default_offset = new_offset(self.design, newdata)
        else:
            if X is None or Z is None:
                raise ValueError("X, Z: give both for a matrix-interface prediction")
            X_new = np.asarray(X, dtype=float)
            Zm = sparse.csr_matrix(Z)
            if Zm.shape[1] != v.shape[0] or X_new.shape[1] != beta.shape[0]:
                raise ValueError(
                    f"X, Z: need {beta.shape[0]} and {v.shape[0]} columns as in the fit"
                )
            blocks = [Zm[:, sl] for sl in self._engine.fitter.term_slices]
            default_offset = None
        eta = X_new @ beta
        for block, sl, t in zip(blocks, self._engine.fitter.term_slices, pb.terms, strict=True):
            block = sparse.csr_matrix(block)
            eta = eta + block @ v[sl]
            psi_v = float(t.family.link.link(np.array(t.family.psi)))
            if psi_v != 0.0:
                eta = eta + psi_v * (np.diff(block.indptr) == 0)
        if offset is not None:
            eta = eta + np.asarray(offset, dtype=float)
        elif default_offset is not None:
            eta = eta + default_offset
        return eta

    def null_loglik(self) -> float:
        """Log-likelihood of the GLM without random effects (R's null model of ``lrt``)."""
        pb = self._engine.problem
        return glm_loglik(pb.y, pb.X, pb.family, pb.weights, pb.offset)

    @cached_property
    def resid(self) -> Array:
        """(y - mu) / sqrt(sum(d) / (n - p)) / sqrt(1 - h), R's studentized residuals
        (computed on first use, with the leverages)."""
        pb = self._engine.problem
        n, p = pb.X.shape
        scale = np.sqrt(np.sum(self.deviances) / (n - p))
        return (pb.y - self.fitted) / scale / np.sqrt(1.0 - self._engine.last.hat[:n])

    # --- tables ------------------------------------------------------------------------

    def fixef_table(self) -> pd.DataFrame:
        """Estimates, standard errors, t-values and p-values on ``df_resid`` df."""
        t = self.fixef / self.se_fixef
        p = 2.0 * stats.t.sf(np.abs(t), self.df_resid)
        return pd.DataFrame(
            {"estimate": self.fixef, "std_error": self.se_fixef, "t_value": t, "p_value": p}
        )

    def ranef_frame(self) -> pd.DataFrame:
        """One row per random effect: term, group, level, name, estimate (u scale) and
        std_error (of v, as R's SeRe; for a known covariance, of u).

        For formula fits group and level come from the grouping factor; for the matrix
        interface the group is the term's label and the level the column name of Z.
        """
        sizes = [len(s) for s in self._term_index()]
        term = np.repeat(self.names.terms, sizes)
        if self.design is not None:
            group = np.concatenate([[t.group] * len(t.levels) for t in self.design.random])
            level = np.concatenate([t.levels for t in self.design.random])
        else:
            group, level = term, self.ranef.index.to_numpy()
        return pd.DataFrame(
            {
                "term": term,
                "group": group,
                "level": level,
                "name": self.ranef.index,
                "estimate": self.ranef.to_numpy(),
                "std_error": self.se_ranef.to_numpy(),
            }
        )

    def _term_index(self) -> list[range]:
        return [range(sl.start, sl.stop) for sl in self._engine.fitter.term_slices]

    def summary(self, n_ranef: int = 3) -> Summary:
        """The R-style report; ``n_ranef`` random effects per term are shown (all: -1)."""
        return Summary(self, n_ranef)

    def __repr__(self) -> str:
        return self._short_report()

    def _short_report(self) -> str:
        lines = ["HGLM fit by " + self.method, "", "Fixed effects:"]
        lines.append(self.fixef.to_string())
        if self.var_fix is not None:
            lines += ["", f"Residual dispersion: {self.var_fix:.7g}"]
        lines += ["Random-effect dispersions: " + ", ".join(f"{x:.7g}" for x in self.var_ranef)]
        state = "converged" if self.converged else "did NOT converge"
        lines += ["", f"EQL estimation {state} in {self.n_iter} iterations."]
        return "\n".join(lines)

    # --- plots and export (hglm.plots, hglm.export) ------------------------------------

    def plot(self, path: str | None = None) -> list:
        """Diagnostic figures (matplotlib); see :func:`hglm.plots.plot_fit`."""
        from .plots import plot_fit

        return plot_fit(self, path)

    def to_dict(self) -> dict:
        """Every estimate as a JSON-safe dict; see :func:`hglm.export.to_dict`."""
        from .export import to_dict

        return to_dict(self)

    def to_json(self, path: str | None = None, indent: int | None = 2) -> str:
        """The fit as JSON text, optionally written to ``path``; see :mod:`hglm.export`."""
        from .export import to_json

        return to_json(self, path, indent)


def _random_u(engine: EngineFit) -> Array:
    """The random effects on the u scale, term by term."""
    v = engine.v
    out = np.empty_like(v)
    for sl, t in zip(engine.fitter.term_slices, engine.problem.terms, strict=True):
        out[sl] = t.transform @ v[sl] if t.transform is not None else t.family.link.inverse(v[sl])
    return out


def _ranef_variances(engine: EngineFit, diag_inv: Array) -> Array:
    """Prediction-error variances of the random effects: diag(C^{-1}) on the v scale, and on
    the original scale, diag(L C^{-1}_kk L'), for a term with a known covariance
    (CAR/SAR keep R's convention: the eigen-basis effects)."""
    p = engine.problem.X.shape[1]
    out = diag_inv[p:].copy()
    for sl, t in zip(engine.fitter.term_slices, engine.problem.terms, strict=True):
        if t.transform is not None and t.family.spatial is None:
            block = engine.last.factor.inverse_block(p + np.arange(sl.start, sl.stop))
            out[sl] = np.einsum("ij,ij->i", t.transform @ block, t.transform)
    return out


def _marginal_vcov(engine: EngineFit) -> Array | sparse.csr_matrix:
    """Z diag(lambda) Z' + W1^{-1}: the marginal covariance of the working response.

    For a Gaussian response with Gaussian random effects this is var(y) =
    Z diag(lambda) Z' + diag(phi / weights).  It is sparse (CSR) when every random term
    is an indicator block and n > 2000, else a dense array.
    """
    pb = engine.problem
    n = pb.y.shape[0]
    w1, _ = engine.final_weights()
    blocks = [
        sparse.csr_matrix(b.toarray()) if isinstance(b, Indicator) else sparse.csr_matrix(b)
        for b in pb.blocks
    ]
    Z = sparse.hstack(blocks, format="csr")
    lam = engine.lam.copy()
    for sl, t in zip(engine.fitter.term_slices, pb.terms, strict=True):
        if t.precision is not None:
            lam[sl] = 0.0  # lambda Z A Z' below, with A Z' from solves with Q
    V = Z @ sparse.diags(lam) @ Z.T + sparse.diags(1.0 / w1)
    all_indicator = all(isinstance(b, Indicator) for b in pb.blocks)
    dense = not (all_indicator and n > 2000)
    for sl, t in zip(engine.fitter.term_slices, pb.terms, strict=True):
        if t.precision is not None:
            Zk = Z[:, sl]
            AZ = splinalg.splu(sparse.csc_matrix(t.precision)).solve(Zk.T.toarray())
            V = V + float(np.mean(engine.lam[sl])) * (Zk @ AZ)
            dense = True
    return np.asarray(V.toarray() if sparse.issparse(V) else V) if dense else V.tocsr()


def _signif_stars(p: float) -> str:
    for cut, star in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return star
    return ""


class Summary:
    """The summary of a fit: ``str()`` is the R-style report; ``tables`` its DataFrames."""

    def __init__(self, fit: HGLMResult, n_ranef: int = 3) -> None:
        self.fit = fit
        self.n_ranef = n_ranef
        self.tables: dict[str, pd.DataFrame | list[pd.DataFrame] | None] = {
            "fixed": fit.fixef_table(),
            "random": fit.ranef_frame(),
            "dispersion": fit.disp_coef,
            "random_dispersion": fit.rand_disp_coef,
        }

    def __str__(self) -> str:
        f = self.fit
        out = ["----------", "MEAN MODEL", "----------", "",
               "Summary of the fixed effects estimates:", ""]
        tab = f.fixef_table()
        shown = pd.DataFrame(
            {
                "Estimate": tab["estimate"].map(lambda x: f"{x:.5f}"),
                "Std. Error": tab["std_error"].map(lambda x: f"{x:.5f}"),
                "t-value": tab["t_value"].map(lambda x: f"{x:.3f}"),
                "Pr(>|t|)": tab["p_value"].map(lambda x: f"{x:.3g}"),
                "": tab["p_value"].map(_signif_stars),
            }
        )
        out += [shown.to_string(), "---",
                "Signif. codes: 0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1",
                f"Note: P-values are based on {f.df_resid} degrees of freedom", ""]
        frame = f.ranef_frame()
        for term in f.names.terms:
            rows = frame[frame["term"] == term]
            out += [f"Summary of the random effects estimates ({term}):", ""]
            show = rows if self.n_ranef < 0 else rows.head(self.n_ranef)
            out.append(
                show.set_index("name")[["estimate", "std_error"]]
                .rename(columns={"estimate": "Estimate", "std_error": "Std. Error"})
                .to_string(float_format=lambda x: f"{x:.4f}")
            )
            if len(show) < len(rows):
                out.append(f"... ({len(rows)} in all; summary(n_ranef=-1) shows all)")
            out.append("")
        out += ["----------------", "DISPERSION MODEL", "----------------", "",
                "NOTE: h-likelihood estimates through EQL can be biased.", ""]
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
                " ".join(f"{x:.4g}" for x in f.var_ranef), "",
                "Dispersion model for the random effects:", ""]
        for term, tab_k, t in zip(f.names.terms, f.rand_disp_coef, f._engine.problem.terms,
                                  strict=True):
            out += [f"{term} (link = {t.link_disp.name}):", _coef_text(tab_k), ""]
        out += ["Dispersion = 1 is used in Gamma model on deviances to calculate the",
                "standard error(s).", ""]
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
        return "\n".join(out)

    __repr__ = __str__


def _coef_text(frame: pd.DataFrame) -> str:
    return frame.rename(columns={"estimate": "Estimate", "std_error": "Std. Error"}).to_string(
        float_format=lambda x: f"{x:.4f}"
    )
