"""Diagnostic plots of a marginal-likelihood fit, drawn with matplotlib (optional).

:func:`plot_marginal` (also ``MarginalView.plot``) draws two figures:

1. ``residuals``: the fit's residuals (response residuals of an LMM, deviance residuals
   of a GLMM, lme4's defaults) against the fitted values with a smoother, their absolute
   values against the fitted values, a normal QQ plot and a histogram (the panels of
   :mod:`.plots`);
2. ``ranef``: per random term, the conditional modes against standard normal quantiles
   with intervals of 1.96 conditional standard deviations (lme4's
   ``qqmath(ranef(fit, condVar = TRUE))``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from .._distributions import norm_ppf
from .diagnostics import ppoints
from .marginal_view import MarginalView
from .plots import _new_figure, _residual_panels, import_pyplot, save_figures

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

_POINT = "tab:blue"


def plot_marginal(fit: MarginalView,
                  path: str | os.PathLike[str] | None = None) -> list[Figure]:
    """Draw the residual and random-effect figures and optionally save them.

    Parameters
    ----------
    fit : MarginalView
    path : str or path-like, optional
        A directory or file-name prefix for PNG files, as for
        :func:`hglm.results.plots.plot_fit`.

    Returns
    -------
    list of matplotlib.figure.Figure
        Labelled ``residuals`` and ``ranef``.

    Raises
    ------
    ImportError
        When matplotlib is not installed (``pip install "hglm[plot]"``).
    """
    plt = import_pyplot()
    figures = [_residual_figure(plt, fit), _ranef_figure(plt, fit)]
    if path is not None:
        save_figures(figures, path)
    return figures


def _residual_figure(plt: Any, fit: MarginalView) -> Figure:
    fig, axes = _new_figure(plt, "residuals", 2, 2, (10.0, 9.0))
    kind = "Response" if fit.is_lmm else "Deviance"
    _residual_panels(axes, np.asarray(fit.fitted, dtype=float), fit.resid, "Residuals",
                     f"{kind} residuals")
    fig.tight_layout()
    return fig


def _ranef_figure(plt: Any, fit: MarginalView) -> Figure:
    frame = fit.ranef
    terms = list(frame.groupby(["grpvar", "term"], sort=False))
    fig, axes = _new_figure(plt, "ranef", 1, len(terms), (4.5 * len(terms), 4.5))
    for ax, ((group, effect), rows) in zip(axes, terms, strict=True):
        order = np.argsort(rows["condval"].to_numpy())
        mode = rows["condval"].to_numpy()[order]
        sd = rows["condsd"].to_numpy()[order]
        theo = norm_ppf(ppoints(mode.shape[0]))
        ax.errorbar(mode, theo, xerr=np.where(np.isfinite(sd), 1.96 * sd, 0.0), fmt="o",
                    color=_POINT, markersize=3, elinewidth=0.8)
        ax.axvline(0.0, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("Conditional mode")
        ax.set_ylabel("Standard normal quantiles")
        ax.set_title(f"{effect} | {group}")
    fig.tight_layout()
    return fig
