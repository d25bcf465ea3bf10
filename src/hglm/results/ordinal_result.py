"""Fitted ordinal and nominal mixed models: the verbs they share
(:class:`OrdinalResult`), ordinal's clmm (:class:`CLMMResult`); mixcat's npmlt is in
:mod:`.npmlt_result`.

Both keep the design they were fitted on, so ``fitted`` gives the category probabilities
of every row (P(y = r), columns the categories).
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.polynomial import hermite_e

from ..fit import CLMMFit, category_probabilities
from ..spec import (
    OrdinalDesign,
    latent_distribution,
    new_cluster_labels,
    new_ordinal_arrays,
)
from .base import MixedModelResult
from .export import json_number, series_dict

Array = np.ndarray

#: Gauss-Hermite nodes per dimension of clmm's marginal probabilities (product rule)
MARGINAL_NODES = {1: 30, 2: 15, 3: 8}


class OrdinalResult(MixedModelResult):
    """The shared verbs of ordinal fits: ``coefficients`` and ``se_coefficients`` (in the
    R package's names and order), ``loglik``, ``aic``, ``bic``, ``fitted`` (category
    probabilities), ``n_iter``, ``converged``."""

    design: OrdinalDesign
    coefficients: pd.Series
    se_coefficients: pd.Series
    _loglik: float
    _n_params: int

    @property
    def loglik(self) -> float:
        return self._loglik

    @property
    def deviance(self) -> float:
        """-2 log-likelihood (npmlt's m2LogL)."""
        return -2.0 * self._loglik

    @property
    def n_params(self) -> int:
        return self._n_params

    @property
    def categories(self) -> tuple[str, ...]:
        return self.design.response.labels

    def _probabilities(self, eta: Array) -> Array:
        dist = latent_distribution(self.design.link) if self.design.cumulative else None
        return category_probabilities(eta, dist)

    def predict(self, newdata: object | None = None, type: str = "response",
                conditional: bool = False) -> Array:
        """Category probabilities P(y = r), shape (n, q+1), columns the categories.

        Parameters
        ----------
        newdata : DataFrame, optional
            New rows (None: the fitted rows); conditional predictions also need the
            cluster column, with clusters of the fit.
        type : {"response"}
            Probabilities (the only kind).
        conditional : bool
            False: marginal over the random-effect distribution (npmlt: the masses; clmm:
            N(0, s^2) by quadrature).  True: given each row's cluster (npmlt: the
            posterior masses of the cluster, clmm: its conditional mode).
        """
        if type != "response":
            raise ValueError(f"type must be 'response' (category probabilities), not {type!r}")
        design = self.design if newdata is None else self._new_design(newdata)
        clusters = None
        if conditional:
            clusters = design.cluster if newdata is None else self._cluster_codes(newdata)
        eta = design.fixed_jacobian() @ self._fixed
        return sum(np.asarray(w).reshape(-1, 1) * self._probabilities(eta + shift[:, None])
                   for w, shift in self._mixture(design.Z, clusters))

    def _mixture(self, Z: Array, clusters: Array | None) -> list[tuple[Array | float, Array]]:
        """(weight, shift of every linear predictor) pairs whose weighted mean of
        probabilities is the prediction."""
        raise NotImplementedError

    def _new_design(self, newdata: object) -> OrdinalDesign:
        if self.design.encoding is None:
            raise ValueError("newdata: this fit was not made from formulas")
        X, X_npo, Z = new_ordinal_arrays(self.design.encoding, newdata)
        return replace(self.design, X=X, X_npo=X_npo, Z=Z)

    def _cluster_codes(self, newdata: object) -> Array:
        labels = new_cluster_labels(self.design.encoding, newdata)
        codes = {label: c for c, label in enumerate(self.design.cluster_labels)}
        unknown = sorted({str(v) for v in labels if v not in codes})
        if unknown:
            raise ValueError(f"newdata: clusters not in the fit: {', '.join(unknown[:5])}; "
                             "use conditional=False for new clusters")
        return np.array([codes[v] for v in labels], dtype=np.int64)

    def _table(self) -> pd.DataFrame:
        est, se = self.coefficients, self.se_coefficients
        return pd.DataFrame({"Estimate": est, "Std. Error": se})

    def plot(self, path: str | os.PathLike[str] | None = None) -> list:
        """The observed and mean fitted category proportions (one figure)."""
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        labels = list(self.categories)
        observed = np.bincount(self.design.response.codes, minlength=len(labels))
        pos = np.arange(len(labels))
        ax.bar(pos - 0.2, observed / observed.sum(), 0.4, label="observed")
        ax.bar(pos + 0.2, self.fitted.mean(axis=0), 0.4, label="fitted (mean)")
        ax.set_xticks(pos, labels)
        ax.set_xlabel("category")
        ax.set_ylabel("proportion")
        ax.legend()
        figures = [fig] + self._extra_figures()
        if path is not None:
            os.makedirs(path, exist_ok=True)
            for i, f in enumerate(figures):
                f.savefig(os.path.join(path, f"ordinal_{i + 1}.png"))
        return figures

    def _extra_figures(self) -> list:
        return []

    def _common_dict(self) -> dict[str, Any]:
        return {"method": self.method, "coefficients": series_dict(self.coefficients),
                "se_coefficients": series_dict(self.se_coefficients),
                "logLik": json_number(self.loglik), "AIC": json_number(self.aic),
                "BIC": json_number(self.bic), "n_iter": self.n_iter,
                "converged": self.converged}


class CLMMResult(OrdinalResult):
    """ordinal's clmm: thresholds ``1|2``, ... then the coefficients (clmm's sign:
    logit P(y <= r) = theta_r - x'beta - z'b), ``ranef_cov`` (the covariance of b, a
    DataFrame named by the random terms), ``var_ranef`` (its diagonal), ``ranef``
    (conditional modes, clmm's sign, one row per cluster) with ``condvar`` (conditional
    variances), ``singular`` (a variance at the boundary, with a BoundaryWarning),
    ``nAGQ``."""

    def __init__(self, design: OrdinalDesign, fit: CLMMFit, nAGQ: int, formula: str) -> None:
        self.design, self.nAGQ, self.formula = design, nAGQ, formula
        self.method = "Laplace" if nAGQ == 1 else f"AGQ{nAGQ}"
        q, labels = design.q, design.response.labels
        names = [f"{labels[r]}|{labels[r + 1]}" for r in range(q)] + list(design.x_names)
        sign = np.r_[np.ones(q), -np.ones(len(design.x_names))]
        p = len(names)
        cov = np.linalg.inv(fit.hessian / 2.0)
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        self.coefficients = pd.Series(sign * fit.x[:p], index=names)
        self.se_coefficients = pd.Series(se[:p], index=names)
        self.vcov = pd.DataFrame(cov[:p, :p] * np.outer(sign, sign), index=names,
                                 columns=names)
        terms, clusters = list(design.z_names), list(design.cluster_labels)
        self.ranef_cov = pd.DataFrame(fit.cov_ranef, index=terms, columns=terms)
        self.var_ranef = pd.Series(np.diag(fit.cov_ranef), index=terms)
        self.ranef = pd.DataFrame(-fit.modes, index=clusters, columns=terms)
        self.condvar = pd.DataFrame(fit.condvar, index=clusters, columns=terms)
        self.fixef = self.coefficients.iloc[q:]
        self.se_fixef = self.se_coefficients.iloc[q:]
        self._fixed, self._modes = fit.x[:p], fit.modes
        self.fitted = self.predict(conditional=True)
        self.resid = np.full(design.X.shape[0], np.nan)
        self.n_obs, self.n_iter, self.converged = design.X.shape[0], fit.n_iter, fit.converged
        self.singular = fit.singular
        self.names, self.family = None, None  # type: ignore[assignment]
        self._loglik, self._n_params = -0.5 * fit.deviance, fit.x.size

    def _mixture(self, Z: Array, clusters: Array | None) -> list[tuple[Array | float, Array]]:
        if clusters is not None:
            return [(1.0, np.einsum("nd,nd->n", Z, self._modes[clusters]))]
        d = Z.shape[1]
        nodes, weights = hermite_e.hermegauss(MARGINAL_NODES[min(d, 3)])
        weights = weights / np.sqrt(2.0 * np.pi)
        grid = np.stack(np.meshgrid(*[nodes] * d, indexing="ij"), -1).reshape(-1, d)
        mass = np.prod(np.stack(np.meshgrid(*[weights] * d, indexing="ij"), -1)
                       .reshape(-1, d), axis=1)
        points = grid @ np.linalg.cholesky(self.ranef_cov.to_numpy()).T
        return [(m, Z @ b) for m, b in zip(mass, points, strict=True)]

    def summary(self) -> str:
        """ordinal's summary layout (as text)."""
        how = ("the Laplace approximation" if self.nAGQ == 1
               else f"the adaptive Gauss-Hermite quadrature approximation with {self.nAGQ} "
                    "quadrature points")
        t = self._table()
        t["z value"] = t["Estimate"] / t["Std. Error"]
        five, three = (lambda v: f"{v:.5f}"), (lambda v: f"{v:.3f}")
        formats = {"Estimate": five, "Std. Error": five, "z value": three}
        q = self.design.q
        id_name = self.design.encoding.id if self.design.encoding else "group"
        lines = [
            f"Cumulative Link Mixed Model fitted with {how}", "",
            f"formula: {self.formula}", "",
            " link  threshold nobs logLik   AIC     niter",
            f" {self.design.link:<5} flexible  {self.n_obs:<4} {self.loglik:.2f} "
            f"{self.aic:.2f} {self.n_iter}", "",
            "Random effects:", self._random_table(id_name),
            f"Number of groups:  {id_name} {self.design.n_clusters}", "",
            "Coefficients:", t.iloc[q:].to_string(formatters=formats), "",
            "Threshold coefficients:", t.iloc[:q].to_string(formatters=formats),
        ]
        return "\n".join(lines)

    def _random_table(self, group: str) -> str:
        """ordinal's table: Groups, Name, Variance, Std.Dev. and correlations."""
        cov = self.ranef_cov.to_numpy()
        sd = np.sqrt(np.diag(cov))
        corr = cov / np.outer(sd, sd)
        rows = []
        for j, name in enumerate(self.ranef_cov.index):
            row = {"Groups": group if j == 0 else "", "Name": name,
                   "Variance": f"{cov[j, j]:.4g}", "Std.Dev.": f"{sd[j]:.4g}"}
            if j > 0:
                row["Corr"] = " ".join(f"{c:.3f}" for c in corr[j, :j])
            rows.append(row)
        return pd.DataFrame(rows).fillna("").to_string(index=False)

    def to_dict(self) -> dict[str, Any]:
        return {**self._common_dict(), "var_ranef": series_dict(self.var_ranef),
                "ranef_cov": self.ranef_cov.to_numpy().tolist(),
                "ranef": {str(c): self.ranef[c].tolist() for c in self.ranef.columns}}

    def __repr__(self) -> str:
        variances = ", ".join(f"{v:.4g}" for v in self.var_ranef)
        return (f"<CLMMResult {self.method}: logLik {self.loglik:.4f}, "
                f"{self.design.n_clusters} clusters, var_ranef {variances}>")
