"""R's ``bigRR_update``: a SNP-BLUP fit refitted as HEM (the heteroscedastic effects model,
Shen et al. 2013), each marker with its own shrinkage."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .fit import check_markers, fit_markers, hem_weights
from .results import BigRRResult, HGLMResult, marker_state


def bigrr_update(fit: HGLMResult, Z: object) -> BigRRResult:
    """Refit a SNP-BLUP fit as HEM (R's ``bigRR_update``): marker j's weight is
    w_j = u_j^2 / (1 - h_j) (at least 1e-6), u_j its effect and h_j its leverage in ``fit``.

    Parameters
    ----------
    fit : HGLMResult
        A bigrr fit, or any fit with one random term of markers.
    Z : array-like (n, q)
        The marker design of ``fit``, as R's call passes it again.

    Returns
    -------
    BigRRResult
    """
    problem, options, u, leverage = marker_state(fit)
    Z_arr = np.asarray(Z, dtype=float)
    check_markers(Z_arr)
    if Z_arr.shape != (problem.y.shape[0], u.shape[0]):
        raise ValueError(f"Z: has shape {Z_arr.shape}; the fit's markers need "
                         f"{(problem.y.shape[0], u.shape[0])}")
    refit = fit_markers(replace(problem, blocks=[Z_arr]), options, hem_weights(u, leverage))
    names = fit.marker_names if isinstance(fit, BigRRResult) else fit.names
    return BigRRResult(refit, names, fit.method)
