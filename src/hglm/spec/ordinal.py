"""Ordinal and nominal responses: the categories 1..q+1, the latent distributions of the
cumulative links, and the design of the q linear predictors.

A response is given as integers 1..q+1 or as an ordered categorical; every category in
between must be observed (a gap is refused by name, as is a single category).  The q
linear predictors of observation i are

    eta_ir = alpha_r + x_i'beta + x_npo,i'gamma_r + z_i'b,    r = 1..q,

with thresholds alpha_r, proportional-odds coefficients beta, category-specific
(non-proportional) coefficients gamma_r of the ``formula_npo`` covariates and the random
effects b of the covariates z.  The cumulative model reads them as
F^{-1}(P(y <= r)) (npmlt's sign; clmm's theta_r - x'beta - b is the same with the signs of
beta and b turned), the baseline-category model as log P(y = r)/P(y = q+1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from .._distributions import norm_cdf, norm_pdf, norm_ppf, norm_sf
from .ordinal_encoding import OrdinalEncoding

Array = np.ndarray


@dataclass(frozen=True)
class OrdinalResponse:
    """Categories coded 0..q (``codes``) with their labels; ``q`` linear predictors."""

    codes: Array
    labels: tuple[str, ...]

    @property
    def q(self) -> int:
        return len(self.labels) - 1


def ordinal_response(values: object, argument: str = "response") -> OrdinalResponse:
    """The categories of an ordinal or nominal response.

    Parameters
    ----------
    values : array-like or pandas Series
        Integers 1..q+1 (whole floats allowed) or an ordered pandas Categorical, whose
        category order is the order of the response.
    argument : str
        The argument's name, for the error messages.

    Raises
    ------
    ValueError
        Missing values, non-integer codes, fewer than two categories, or a category in
        between that is never observed.
    """
    series = pd.Series(values) if not isinstance(values, pd.Series) else values
    if isinstance(series.dtype, pd.CategoricalDtype):
        return _categorical_response(series, argument)
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise ValueError(f"{argument}: an ordinal response must be integers 1, 2, ... or an "
                         f"ordered pandas Categorical, not {series.dtype}")
    y = series.to_numpy(dtype=float, na_value=np.nan)
    if np.isnan(y).any():
        raise ValueError(f"{argument} has missing values; drop those rows first")
    if np.any(y != np.round(y)) or (y.size and y.min() < 1):
        raise ValueError(f"{argument}: categories must be the integers 1, 2, ..., q+1 "
                         "(non-integer or values below 1 found)")
    codes = y.astype(np.int64) - 1
    top = int(codes.max()) + 1 if codes.size else 0
    _check_categories(np.bincount(codes, minlength=top), [str(c + 1) for c in range(top)],
                      argument)
    return OrdinalResponse(codes, tuple(str(c + 1) for c in range(top)))


def _categorical_response(series: pd.Series, argument: str) -> OrdinalResponse:
    if not series.cat.ordered:
        raise ValueError(f"{argument}: a categorical response must be ordered "
                         "(pd.Categorical(..., ordered=True)) to say the order of the categories")
    codes = series.cat.codes.to_numpy().astype(np.int64)
    if np.any(codes < 0):
        raise ValueError(f"{argument} has missing values; drop those rows first")
    labels = [str(c) for c in series.cat.categories]
    counts = np.bincount(codes, minlength=len(labels))
    _check_categories(counts, labels, argument)
    return OrdinalResponse(codes, tuple(labels))


def _check_categories(counts: Array, labels: list[str], argument: str) -> None:
    if np.count_nonzero(counts) < 2:
        raise ValueError(f"{argument} has fewer than 2 categories: an ordinal model needs "
                         "at least two observed categories")
    missing = [labels[c] for c in range(len(counts)) if counts[c] == 0]
    if missing:
        raise ValueError(f"{argument}: categories {', '.join(missing)} are never observed "
                         f"(of {labels[0]}..{labels[-1]}); recode the response to consecutive "
                         "categories or drop the unused levels")


@dataclass(frozen=True)
class LatentDistribution:
    """The distribution F of a cumulative link: F^{-1}(P(y <= r)) = eta_r.

    ``cdf``/``sf`` are F and 1 - F (each accurate in its own tail), ``pieces`` F, 1 - F,
    the density f and f' together, ``d2pdf`` f'', ``quantile`` F^{-1}.
    """

    name: str

    def cdf(self, x: Array) -> Array:
        if self.name == "logit":
            return special.expit(x)
        if self.name == "probit":
            return norm_cdf(x)
        return -np.expm1(-np.exp(x))

    def sf(self, x: Array) -> Array:
        if self.name == "logit":
            return special.expit(-x)
        if self.name == "probit":
            return norm_sf(x)
        return np.exp(-np.exp(x))

    def quantile(self, p: Array) -> Array:
        """F^{-1}(p)."""
        if self.name == "logit":
            return special.logit(p)
        if self.name == "probit":
            return norm_ppf(p)
        return np.log(-np.log1p(-p))

    def pieces(self, x: Array) -> tuple[Array, Array, Array, Array]:
        """F, 1 - F, f and f' at finite x together, from shared evaluations (one pass
        where the four are needed: the ordinal likelihoods' inner loop)."""
        if self.name == "logit":
            p, s = special.expit(x), special.expit(-x)
            f = p * s
            return p, s, f, f * (s - p)
        if self.name == "probit":
            f = norm_pdf(x)
            return norm_cdf(x), norm_sf(x), f, -x * f
        e = np.exp(x)
        s = np.exp(-e)
        f = np.exp(x - e)
        return -np.expm1(-e), s, f, f * (1.0 - e)

    def d2pdf(self, x: Array) -> Array:
        if self.name == "logit":
            p = special.expit(x)
            f = p * (1.0 - p)
            return f * ((1.0 - 2.0 * p) ** 2 - 2.0 * f)
        if self.name == "probit":
            return (x * x - 1.0) * norm_pdf(x)
        e = np.exp(x)
        return np.exp(x - e) * ((1.0 - e) ** 2 - e)


CUMULATIVE_LINKS = ("logit", "probit", "cloglog")


def latent_distribution(link: str, argument: str = "link") -> LatentDistribution:
    """The latent distribution of a cumulative link (logit, probit, cloglog)."""
    if link not in CUMULATIVE_LINKS:
        raise ValueError(f"{argument} must be one of {', '.join(CUMULATIVE_LINKS)}, not {link!r}")
    return LatentDistribution(link)


@dataclass(frozen=True)
class OrdinalDesign:
    """The arrays of an ordinal model: response, proportional covariates X (no
    intercept: the thresholds take its place), category-specific covariates X_npo,
    random covariates Z and the cluster of each row.

    ``cumulative`` is False for the baseline-category logit.  ``link`` names the
    cumulative link (ignored for the baseline-category model).  ``encoding`` rebuilds the
    covariates on new data (None for designs built from arrays).
    """

    response: OrdinalResponse
    X: Array
    x_names: tuple[str, ...]
    X_npo: Array
    npo_names: tuple[str, ...]
    Z: Array
    z_names: tuple[str, ...]
    cluster: Array
    cluster_labels: tuple[str, ...]
    cumulative: bool = True
    link: str = "logit"
    encoding: OrdinalEncoding | None = None

    @property
    def q(self) -> int:
        return self.response.q

    @property
    def n_clusters(self) -> int:
        return len(self.cluster_labels)

    def parameter_names(self, threshold: str = "(Intercept) {r}") -> list[str]:
        """The fixed parameters in order: thresholds, category-specific coefficients of
        each npo covariate (``"x r"``), then the proportional ones (npmlt's order)."""
        q = self.q
        names = [threshold.format(r=r, s=r + 1) for r in range(1, q + 1)]
        names += [f"{name} {r}" for name in self.npo_names for r in range(1, q + 1)]
        return names + list(self.x_names)

    @property
    def n_fixed(self) -> int:
        return self.q * (1 + len(self.npo_names)) + len(self.x_names)

    def fixed_jacobian(self) -> Array:
        """d eta_ir / d(fixed parameters), shape (n, q, n_fixed), in the order of
        :meth:`parameter_names`."""
        n, q = self.X.shape[0], self.q
        eye = np.eye(q)
        parts = [np.broadcast_to(eye, (n, q, q))]
        for column in self.X_npo.T:
            parts.append(column[:, None, None] * eye[None])
        parts.append(np.broadcast_to(self.X[:, None, :], (n, q, self.X.shape[1])))
        return np.concatenate(parts, axis=2)

    def fixed_columns(self, name: str) -> list[int]:
        """The fixed parameters a random covariate ``name`` shifts: the thresholds for
        ``(Intercept)``, the q coefficients of an npo covariate or the one of a
        proportional covariate; empty when the fixed part lacks it."""
        q = self.q
        if name == "(Intercept)":
            return list(range(q))
        if name in self.npo_names:
            start = q * (1 + self.npo_names.index(name))
            return list(range(start, start + q))
        if name in self.x_names:
            return [q * (1 + len(self.npo_names)) + self.x_names.index(name)]
        return []
