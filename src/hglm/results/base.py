"""The fitted mixed model (:class:`MixedModelResult`): the verbs every estimator's result
shares, whatever the estimator (EQL, and to come ML/REML, Laplace, AGQ, NPML, Dask)."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import pandas as pd

from ..spec import Names, ResponseFamily
from .export import json_text

Array = np.ndarray


class MixedModelResult(ABC):
    """A fitted mixed model: the verbs every estimator's result shares.

    An estimator's result (``HGLMResult`` for EQL) sets the attributes below, implements
    the abstract methods and adds its own extras, as R's classes of fitted models share
    ``fixef``, ``ranef``, ``predict``, ``summary`` and ``plot``.  The likelihood verbs
    ``loglik``, ``deviance`` and ``n_params``, and with them ``aic`` and ``bic``, are given by
    the estimators that maximise a likelihood; on other fits they raise AttributeError (so
    ``hasattr(fit, "loglik")`` tells which fits have one).

    Attributes
    ----------
    names : Names
        Labels of the model's pieces.
    method : str
        The estimation method, e.g. "EQL".
    family : ResponseFamily
        Family of the response.
    n_obs : int
        Number of observations n.
    fixef, se_fixef : pandas.Series
        Fixed effects and their standard errors, named by the columns of X.
    ranef : pandas.Series
        The random effects, terms in order.
    fitted : ndarray
        Fitted means of the n observations.
    resid : ndarray
        Residuals of the n observations, of the kind the estimator's R package reports.
    vcov : ndarray, sparse matrix or None
        Covariance matrix in the sense of the estimator's R package (R's hglm: the
        marginal covariance of y, when asked for).
    n_iter : int
        Iterations of the estimator.
    converged : bool
        Whether the estimator converged.
    """

    names: Names
    method: str
    family: ResponseFamily
    n_obs: int
    fixef: pd.Series
    se_fixef: pd.Series
    ranef: pd.Series
    fitted: Array
    resid: Array
    vcov: Any
    n_iter: int
    converged: bool

    @property
    def nobs(self) -> int:
        """Number of observations (lme4's ``nobs``)."""
        return self.n_obs

    @property
    def loglik(self) -> float:
        """The maximised log-likelihood (lme4's ``logLik``)."""
        raise self._no_likelihood("loglik")

    @property
    def deviance(self) -> float:
        """The deviance at the estimates (lme4's ``deviance``)."""
        raise self._no_likelihood("deviance")

    @property
    def n_params(self) -> int:
        """Number of estimated parameters (the df of lme4's ``logLik``)."""
        raise self._no_likelihood("n_params")

    @property
    def aic(self) -> float:
        """Akaike's information criterion, -2 loglik + 2 n_params."""
        return -2.0 * self.loglik + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        """Schwarz's information criterion, -2 loglik + log(nobs) n_params."""
        return -2.0 * self.loglik + float(np.log(self.nobs)) * self.n_params

    def _no_likelihood(self, verb: str) -> AttributeError:
        return AttributeError(
            f"{verb}: {type(self).__name__} fitted by {self.method} maximises no likelihood"
        )

    @abstractmethod
    def predict(self, newdata: object | None = None, type: str = "response") -> Array:
        """Predictions of the mean model for the fitted or new data.

        Parameters
        ----------
        newdata : DataFrame, optional
            New data (None: the fitted data).
        type : {"response", "link"}
            Means, or the linear predictor.

        Returns
        -------
        ndarray
        """

    @abstractmethod
    def summary(self) -> Any:
        """The report in the layout of the estimator's R package: ``str()`` gives the text,
        ``tables`` the DataFrames."""

    @abstractmethod
    def plot(self, path: str | os.PathLike[str] | None = None) -> list:
        """Diagnostic figures (matplotlib), saved as PNG files under ``path`` if given."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """Every estimate as plain, JSON-safe Python objects."""

    def to_json(self, path: str | os.PathLike[str] | None = None, indent: int | None = 2) -> str:
        """The fit as JSON text (:meth:`to_dict`), optionally written to a file.

        Parameters
        ----------
        path : str or path-like, optional
            Where to write the text (UTF-8, ending in a newline); None writes nothing.
        indent : int or None
            Spaces per indentation level; None puts everything on one line.

        Returns
        -------
        str
            Strict JSON: NaN and infinite numbers are null, never NaN or Infinity tokens.
        """
        return json_text(self.to_dict(), path, indent)

    @abstractmethod
    def __repr__(self) -> str:
        """The short report that ``print(fit)`` shows."""
