"""Derivatives by finite differences: the Hessian from an exact gradient, and the gradient
and Hessian of an objective known only by its values (adaptive quadrature, non-Gaussian
random effects).

Steps are relative, h_j = step max(|x_j|, 0.1).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Array = np.ndarray

# forward differences of an exact gradient: error ~h, rounding ~1e-10 / h
GRADIENT_STEP = 1e-4
# central differences of values: error ~h^2, rounding ~1e-13 / h
VALUE_STEP = 1e-5
# second differences of values: error ~h^2, rounding ~1e-13 / h^2
SECOND_STEP = 1e-3


def _steps(x: Array, step: float) -> Array:
    return step * np.maximum(np.abs(x), 0.1)


def gradient_hessian(gradient: Callable[[Array], Array], x: Array, g: Array,
                     columns: Array | None = None) -> Array:
    """The symmetrised forward-difference Hessian of ``gradient`` at x (g its value
    there); with ``columns``, only those columns and their rows (the rest 0)."""
    return gradients_hessian(lambda points: [gradient(p) for p in points], x, g, columns)


def gradients_hessian(gradients: Callable[[list[Array]], list[Array]], x: Array, g: Array,
                      columns: Array | None = None) -> Array:
    """:func:`gradient_hessian` from ``gradients``, the gradients at a list of points
    (all the steps asked for at once)."""
    k = x.shape[0]
    columns = np.arange(k) if columns is None else np.asarray(columns)
    steps = _steps(x, GRADIENT_STEP)
    points = []
    for j in columns:
        xj = x.copy()
        xj[j] += steps[j]
        points.append(xj)
    H = np.zeros((k, k))
    for j, gj in zip(columns, gradients(points), strict=True):
        H[:, j] = (gj - g) / steps[j]
    rows = np.zeros((k, k))
    rows[columns] = H[:, columns].T
    sym = H + rows
    both = np.ix_(columns, columns)
    sym[both] = 0.5 * (H[both] + H[both].T)
    return sym


def value_gradient(objective: Callable[[Array], float], x: Array,
                   columns: Array | None = None) -> Array:
    """The central-difference gradient of ``objective`` at x (with ``columns``, only
    those entries, the others 0)."""
    g = np.zeros_like(x)
    steps = _steps(x, VALUE_STEP)
    for j in range(x.shape[0]) if columns is None else np.asarray(columns):
        h = steps[j]
        e = np.zeros_like(x)
        e[j] = h
        g[j] = (objective(x + e) - objective(x - e)) / (2.0 * h)
    return g


def value_hessian(objective: Callable[[Array], float], x: Array) -> Array:
    """The Hessian of ``objective`` at x by central second differences."""
    k = x.shape[0]
    h = _steps(x, SECOND_STEP)
    f0 = objective(x)
    H = np.empty((k, k))
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = h[i]
        H[i, i] = (objective(x + ei) - 2.0 * f0 + objective(x - ei)) / h[i] ** 2
        for j in range(i):
            ej = np.zeros(k)
            ej[j] = h[j]
            H[i, j] = H[j, i] = (
                objective(x + ei + ej) - objective(x + ei - ej)
                - objective(x - ei + ej) + objective(x - ei - ej)
            ) / (4.0 * h[i] * h[j])
    return H
