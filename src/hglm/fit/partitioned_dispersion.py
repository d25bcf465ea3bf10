"""The residual dispersion's gamma GLM of a partitioned fit (``disp=``): the IRLS of
:func:`~.glm.fit_glm` (started from the responses, step halving, R's stopping rule) with
its sums X_d'WX_d, X_d'Wz and the deviance taken over the partitions, one pass per
evaluated coefficient vector.  The GLM's rows (d_i / (1 - h_i), (1 - h_i) / 2) and its
fitted phi_i stay on the partitions; the client holds the coefficients."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import linalg

from .dispersion import GLM_MAXIT, GLM_TOL, DispersionFit

Array = np.ndarray

HALVINGS = 30


def fit_partitioned_dispersion(pass_at: Callable[[Array | None], dict]) -> DispersionFit:
    """Fit the gamma GLM whose summed IRLS quantities at coefficients c (None: at the
    starting means) are ``pass_at(c)``: a dict of ``xtwx``, ``xtwz``, ``dev`` and
    ``valid`` (the means finite and positive).

    Returns
    -------
    DispersionFit
        Its ``fitted`` is empty: the phi_i are g^{-1}(X_d coef) on the partitions.

    Raises
    ------
    ValueError
        When the first step leaves the means' space (the fallback start of ``fit_glm``
        is not taken here).
    """
    sums, coef = pass_at(None), None
    for _ in range(GLM_MAXIT):
        xtwx = sums["xtwx"]
        new = linalg.solve(xtwx, sums["xtwz"], assume_a="pos")
        new_sums = pass_at(new)
        if coef is None and not new_sums["valid"]:
            raise ValueError("the dispersion GLM's first step left the means' space")
        for _ in range(HALVINGS if coef is not None else 0):
            if new_sums["valid"] and new_sums["dev"] <= sums["dev"] * (1 + 1e-10) + 1e-12:
                break
            new = 0.5 * (new + coef)
            new_sums = pass_at(new)
        done = abs(new_sums["dev"] - sums["dev"]) / (abs(new_sums["dev"]) + 0.1) < GLM_TOL
        coef, sums = new, new_sums
        if done:
            break
    # as R's glm: the covariance from the weights of the last weighted least squares
    cov = linalg.pinvh(xtwx)
    return DispersionFit(coef, np.sqrt(np.diag(cov)), np.empty(0))
