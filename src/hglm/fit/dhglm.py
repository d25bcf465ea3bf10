"""Double HGLMs: random effects in the residual-dispersion model (Lee & Nelder 2006).

Fitted by the interconnected scheme of the hglm tutorial, in one call:

1. the mean HGLM with prior weights w / phi_i (phi = 1 at the start);
2. a gamma HGLM (log link) of d_i / (1 - h_i), with d_i the unit deviances (times the
   user's prior weights) and h_i the leverages of the mean model, prior weights
   (1 - h_i)/2, and the dispersion model's own fixed and random effects;
3. phi = the fitted values of that gamma HGLM;

repeated until the relative change of the weights 1/phi,
sum((1/phi_new - 1/phi)^2) / sum((1/phi)^2), falls below ``conv``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ..spec import Gamma

Array = np.ndarray


@dataclass
class DoubleModel:
    """The arrays of a double HGLM.

    Attributes
    ----------
    y, X : ndarray
        Response and fixed design of the mean model.
    Z : sparse matrix
        Random design of the mean model, with ``rand_c`` columns per term.
    weights, offset : ndarray or None
    x_disp : ndarray
        Fixed design of the dispersion model.
    z_disp : sparse matrix
        Random design of the dispersion model, ``rand_c_disp`` columns per term.
    """

    y: Array
    X: object
    Z: sparse.spmatrix
    rand_c: list[int]
    weights: Array | None
    offset: Array | None
    x_disp: object
    z_disp: sparse.spmatrix
    rand_c_disp: list[int]


def fit_double(
    model: DoubleModel,
    fit: Callable[..., object],
    mean_controls: dict,
    conv: float = 1e-6,
    maxit: int = 50,
) -> object:
    """Fit a double HGLM; returns the mean model's fit with ``disp_fit`` set.

    Parameters
    ----------
    model : DoubleModel
    fit : callable
        ``fit(y, X, Z, rand_c, weights, offset, controls)`` fitting one HGLM.
    mean_controls : dict
        Controls of the mean model (family, rand_family, conv, maxit, ...).
    conv, maxit : float, int
        Convergence of the dispersion weights, and the maximum number of passes.
    """
    n = model.y.shape[0]
    prior = np.ones(n) if model.weights is None else model.weights
    phi = np.ones(n)
    disp_controls = {
        **mean_controls, "family": Gamma(link="log"), "rand_family": "gaussian",
        "fix_disp": None, "calc_like": False, "vcovmat": False,
    }
    passes, change = 0, np.inf
    while passes < maxit and change >= conv:
        passes += 1
        mean = fit(model.y, model.X, model.Z, model.rand_c, prior / phi, model.offset,
                   mean_controls)
        h = mean.hat_values[:n]
        d = prior * mean.family.unit_deviance(model.y, mean.fitted) / (1.0 - h)
        disp = fit(np.maximum(d, 1e-8), model.x_disp, model.z_disp, model.rand_c_disp,
                   (1.0 - h) / 2.0, None, disp_controls)
        phi_new = disp.fitted
        change = float(np.sum((1.0 / phi_new - 1.0 / phi) ** 2) / np.sum((1.0 / phi) ** 2))
        phi = phi_new
    mean.disp_fit = disp
    mean.dhglm_passes = passes
    mean.dhglm_converged = change < conv
    return mean
