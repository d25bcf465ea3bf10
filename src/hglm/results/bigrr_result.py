"""The result of a bigRR fit (SNP-BLUP or HEM): an :class:`HGLMResult` whose random effects
are the q markers' effects, with the markers' leverages and weights."""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property

import numpy as np
import pandas as pd

from ..fit import MarkerFit, Options
from ..spec import Names, Problem
from .hglm_result import HGLMResult

Array = np.ndarray


class BigRRResult(HGLMResult):
    """A bigRR fit (``hglm(..., bigrr=True)`` for a non-Gaussian family, or
    ``bigrr_update``).

    The attributes of :class:`HGLMResult` describe the EQL fit that was run, except:
    ``ranef`` holds the q marker effects u; ``leverage`` their leverages as R's bigRR
    reports them (HEM's weights use them; :func:`hglm.engine.bigrr_leverages`) and
    ``hat_leverage`` the diagonal of the hat matrix on the markers' rows (computed on
    first use); ``marker_weights`` the weights w_j (effect j
    has variance ``var_ranef * w_j``; None for SNP-BLUP).  When the fit ran on the
    transformed n x n problem, ``hat_values`` holds the n observations' and the n
    transformed effects' leverages.
    """

    def __init__(self, markers: MarkerFit, names: Names, method: str = "EQL") -> None:
        n = markers.problem.y.shape[0]
        fitted = (
            replace(names, random=[f"L{i + 1}" for i in range(n)])
            if markers.transformed else names
        )
        super().__init__(markers.engine, fitted, method)
        self.markers = markers
        self.marker_names = names
        index = pd.Index(names.random)
        self.ranef = pd.Series(markers.u, index=index, name="ranef")
        self.leverage = pd.Series(markers.leverage, index=index, name="leverage")
        self.marker_weights = (
            None if markers.weights is None
            else pd.Series(markers.weights, index=index, name="marker_weights")
        )

    @cached_property
    def hat_leverage(self) -> pd.Series:
        """The markers' exact leverages: the diagonal of the hat matrix on their rows."""
        return pd.Series(self.markers.hat_leverage(), index=self.leverage.index,
                         name="hat_leverage")

    @property
    def se_ranef(self) -> pd.Series:
        """Not computed for the q markers of a bigRR fit."""
        raise NotImplementedError(
            "se_ranef: the markers' standard errors are not computed by bigrr fits "
            "(docs/limitations.md)"
        )

    def _new_linear_predictor(
        self, newdata: object, X: object, Z: object, offset: object, unseen: str
    ) -> Array:
        """X beta + Z u (+ offset) for new rows of the matrix interface."""
        if newdata is not None or X is None or Z is None:
            raise ValueError("X, Z: a bigrr fit predicts from new X and Z (no newdata)")
        X_new, Z_new = np.asarray(X, dtype=float), np.asarray(Z, dtype=float)
        if X_new.shape[1] != self.fixef.shape[0] or Z_new.shape[1] != self.ranef.shape[0]:
            raise ValueError(f"X, Z: need {self.fixef.shape[0]} and {self.ranef.shape[0]} "
                             "columns as in the fit")
        eta = X_new @ self.fixef.to_numpy() + Z_new @ self.ranef.to_numpy()
        return eta if offset is None else eta + np.asarray(offset, dtype=float)


def marker_state(fit: HGLMResult) -> tuple[Problem, Options, Array, Array]:
    """What HEM needs of a SNP-BLUP fit: (the problem as given, its options, the marker
    effects u, their leverages), from a bigRR result or from a fit with one random
    term (e.g. a Gaussian one by the n-space EQL solver)."""
    if isinstance(fit, BigRRResult):
        m = fit.markers
        return m.problem, m.options, m.u, m.leverage
    if not isinstance(fit, HGLMResult) or len(fit._engine.problem.terms) != 1:
        raise ValueError("fit: bigrr_update needs a bigrr fit (one random term of markers)")
    engine = fit._engine
    n = engine.problem.y.shape[0]
    return engine.problem, engine.fitter.opt, fit.ranef.to_numpy(), fit.hat_values[n:]
