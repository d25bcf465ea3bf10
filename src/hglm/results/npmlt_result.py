"""mixcat's npmlt fit: thresholds and coefficients as npmlt names them, the mass points,
masses, random-effect covariance with their standard errors, empirical Bayes estimates,
and npmlt's summary layout."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..fit import NPMLEstimates, NPMLFit
from ..spec import OrdinalDesign
from .export import json_number, series_dict
from .ordinal_result import OrdinalResult

Array = np.ndarray


class NPMLTResult(OrdinalResult):
    """An NPML ordinal/nominal fit (``hglm.npmlt``).

    Attributes
    ----------
    coefficients, se_coefficients : Series
        ``(Intercept) 1``.. (thresholds), ``x r`` (category-specific), then the rest.
    mass_points, se_mass_points : DataFrame
        k x d, columns the random covariates, points in increasing order.
    masses, se_masses : Series
    ranef_cov : DataFrame
        sum_l pi_l a_l a_l' (the mean is 0); ``se_ranef_var`` the SEs of its diagonal.
    eb : DataFrame
        E[b_i | y_i], one row per cluster (also ``ranef``, stacked); ``posterior``
        P(b_i = a_l | y_i).  Attached when the fit asked for them (``eb=True``, mixcat's
        ``EB = TRUE``); otherwise these three raise AttributeError saying so.
    m2LogL : float
        -2 log-likelihood.
    degenerate : bool
        A mass near 0 or two coinciding points (a BoundaryWarning said so): fewer points
        describe the distribution.
    se : str
        The kind of standard errors ("opg", npmlt's, or "observed").
    """

    def __init__(self, design: OrdinalDesign, fit: NPMLFit, est: NPMLEstimates, k: int,
                 se: str, call: str, *, eb: bool) -> None:
        self.design, self.k, self.se, self.call = design, k, se, call
        self.method = "NPML"
        names = design.parameter_names()
        self.coefficients = pd.Series(est.fixed, index=names)
        self.se_coefficients = pd.Series(est.se_fixed, index=names)
        self.vcov = pd.DataFrame(est.covariance, index=names, columns=names)
        points = [f"mass point {i + 1}" for i in range(k)]
        cols = list(design.z_names)
        self.mass_points = pd.DataFrame(est.points, index=points, columns=cols)
        self.se_mass_points = pd.DataFrame(est.se_points, index=points, columns=cols)
        masses = [f"mass {i + 1}" for i in range(k)]
        self.masses = pd.Series(est.masses, index=masses)
        self.se_masses = pd.Series(est.se_masses, index=masses)
        self.ranef_cov = pd.DataFrame(est.ranef_cov, index=cols, columns=cols)
        self.se_ranef_var = pd.Series(est.se_ranef_var, index=cols)
        self._eb_frames: tuple[pd.DataFrame, pd.DataFrame] | None = None
        if eb:
            clusters = list(design.cluster_labels)
            self._eb_frames = (pd.DataFrame(est.eb, index=clusters, columns=cols),
                               pd.DataFrame(est.posterior, index=clusters, columns=masses))
        q = design.q
        self.fixef = self.coefficients.iloc[q:]
        self.se_fixef = self.se_coefficients.iloc[q:]
        self._fixed, self._points = est.fixed, est.points
        self._masses, self._posterior = est.masses, est.posterior
        self.fitted = self.predict(conditional=True)
        self.resid = np.full(design.X.shape[0], np.nan)
        self.n_obs, self.n_iter, self.converged = design.X.shape[0], fit.n_iter, fit.converged
        self.degenerate = fit.degenerate
        self.names, self.family = None, None  # type: ignore[assignment]
        self._loglik, self._n_params = fit.value.loglik, fit.phi.size

    def _mixture(self, Z: Array, clusters: Array | None) -> list[tuple[Array | float, Array]]:
        return [(self._masses[c] if clusters is None else self._posterior[clusters, c],
                 Z @ self._points[c]) for c in range(self.k)]

    def _requested(self, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        if self._eb_frames is None:
            raise AttributeError(f"{name}: the empirical Bayes estimates were not asked for; "
                                 "fit with npmlt(..., eb=True)")
        return self._eb_frames

    @property
    def eb(self) -> pd.DataFrame:
        """E[b_i | y_i], one row per cluster (npmlt's ``eBayes``; needs ``eb=True``)."""
        return self._requested("eb")[0]

    @property
    def posterior(self) -> pd.DataFrame:
        """P(b_i = a_l | y_i), one row per cluster (needs ``eb=True``)."""
        return self._requested("posterior")[1]

    @property
    def ranef(self) -> pd.Series:  # type: ignore[override]
        """The EB estimates stacked: (cluster, term) -> E[b_i | y_i] (needs ``eb=True``)."""
        eb = self._requested("ranef")[0]
        return eb.stack() if eb.shape[1] else pd.Series(dtype=float)

    @property
    def m2LogL(self) -> float:
        return self.deviance

    def summary(self) -> str:
        """npmlt's summary layout (as text)."""
        fmt = lambda v: f"{v:.5f}"  # noqa: E731
        lines = [f"Call: {self.call}", "", "Coefficients:",
                 self._table().to_string(float_format=fmt), ""]
        if self.design.z_names:
            pts = pd.concat([self.mass_points,
                             self.se_mass_points.add_prefix("Std. Error ")], axis=1)
            masses = pd.DataFrame({"Estimate": self.masses, "Std. Error": self.se_masses})
            d = len(self.design.z_names)
            upper = self.ranef_cov.to_numpy().copy()
            sd = np.sqrt(np.diag(upper))
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = upper / np.outer(sd, sd)
            shown = np.where(np.tri(d, dtype=bool), upper, corr)
            cov = pd.DataFrame(shown, index=self.ranef_cov.index, columns=self.ranef_cov.columns)
            lines += ["Estimated Multivariate NP Dist.:", "", "Mass Points:",
                      pts.to_string(float_format=lambda v: f"{v:.4f}"), "", "Masses:",
                      masses.to_string(float_format=fmt), "",
                      "Random effects mean: all dimensions constrained to 0", "",
                      "Random effects covariance (lower) and correlation (upper) matrices:",
                      cov.to_string(float_format=fmt), "",
                      "Std. Errors of random effects variances: "
                      + " ".join(f"{v:.5f}" for v in self.se_ranef_var), ""]
        lines += [f"-2(Log-Likelihood): {self.m2LogL:.3f}",
                  f"Number of iterations: {self.n_iter}"]
        return "\n".join(lines)

    def _extra_figures(self) -> list:
        if not self.design.z_names:
            return []
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        pts = self.mass_points.to_numpy()
        y = pts[:, 1] if pts.shape[1] > 1 else np.zeros(len(pts))
        ax.scatter(pts[:, 0], y, s=2000 * self.masses.to_numpy(), alpha=0.5)
        ax.set_xlabel(self.mass_points.columns[0])
        ax.set_ylabel(self.mass_points.columns[1] if pts.shape[1] > 1 else "")
        ax.set_title("mass points (area: mass)")
        return [fig]

    def to_dict(self) -> dict[str, Any]:
        return {**self._common_dict(), "k": self.k, "se": self.se,
                "mass_points": self.mass_points.to_numpy().tolist(),
                "masses": series_dict(self.masses),
                "ranef_cov": self.ranef_cov.to_numpy().tolist(),
                "m2LogL": json_number(self.m2LogL)}

    def __repr__(self) -> str:
        return (f"<NPMLTResult k={self.k}: -2 logLik {self.m2LogL:.4f}, "
                f"{self.design.n_clusters} clusters>")
