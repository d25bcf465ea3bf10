"""Diagnostic plots of a fitted HGLM (R's ``plot.hglm``), drawn with matplotlib.

matplotlib is an optional dependency (``pip install "hglm[plot]"``); it is imported
only when a plot is drawn.  :func:`plot_fit` (also ``HGLMResult.plot``) draws, as the
figures of the hglm vignette:

1. ``leverages``: the hat-values of the n observations and of the q random-effect
   rows of the augmented GLM against their index, the two parts told apart;
2. ``deviances``: the deviance components against their index, and the gamma
   (chi-square(1)) quantile plot of the scaled observation deviances ``d_i / phi_i``;
3. ``mean_model``: studentized residuals against fitted values with a smoother, their
   absolute values against fitted values with a smoother, a normal QQ plot and a
   histogram;
4. ``dispersion_model`` (only when the residual dispersion has a model with
   covariates): the same four panels for the standardized deviance residuals of the
   gamma GLM of the residual dispersion
   (:func:`~hglm.results.diagnostics.dispersion_residuals`).

The plotted numbers come from :mod:`hglm.results.diagnostics`, which needs no matplotlib.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._distributions import norm_ppf
from .diagnostics import dispersion_residuals, ppoints, scaled_deviance_quantiles, smooth
from .view import HGLMView

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Array = np.ndarray

INSTALL_HINT = 'plotting needs matplotlib; install it with: pip install "hglm[plot]"'

# Colours of R's plot.hglm: points in blue, reference lines and smoothers in red.
_POINT = "tab:blue"
_RANDOM = "tab:orange"
_LINE = "tab:red"


def import_pyplot(backend: str | None = None) -> Any:
    """Import ``matplotlib.pyplot``, or raise ImportError with the install hint.

    Parameters
    ----------
    backend : str, optional
        A matplotlib backend to select first, e.g. ``"Agg"`` to write files and never
        open a window (as the command line does).

    Returns
    -------
    module
        ``matplotlib.pyplot``.

    Raises
    ------
    ImportError
        When matplotlib is not installed (``pip install "hglm[plot]"``).
    """
    if backend is not None:
        try:
            import matplotlib
        except ImportError as exc:
            raise ImportError(INSTALL_HINT) from exc
        matplotlib.use(backend)
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # matplotlib missing (or broken)
        raise ImportError(INSTALL_HINT) from exc
    return plt


def plot_fit(fit: HGLMView, path: str | os.PathLike[str] | None = None) -> list[Figure]:
    """Draw the hglm diagnostics (see the module docstring) and optionally save them.

    Parameters
    ----------
    fit : HGLMResult
        A fitted model.
    path : str or path-like, optional
        Where to save the figures as PNG files.  An existing directory, or a path ending
        in a separator, receives ``hglm_1_leverages.png``, ``hglm_2_deviances.png``,
        ``hglm_3_mean_model.png`` and (with a dispersion model)
        ``hglm_4_dispersion_model.png``; the directory is created if needed.  Any other
        path is a file-name prefix: ``out.png`` (or ``out``) gives ``out_1_leverages.png``,
        ``out_2_deviances.png``, ...  Nothing is saved when ``path`` is None.

    Returns
    -------
    list of matplotlib.figure.Figure
        Three figures, or four when the residual dispersion has a model with covariates
        (``fit.disp_coef`` has more than one row).  Their labels
        (``Figure.get_label()``) are the names above.  They are pyplot figures: call
        ``matplotlib.pyplot.show()`` to display them from a script, and
        ``matplotlib.pyplot.close(fig)`` to free them.

    Raises
    ------
    ImportError
        When matplotlib is not installed (``pip install "hglm[plot]"``).
    """
    plt = import_pyplot()
    figures = [_leverage_figure(plt, fit), _deviance_figure(plt, fit), _mean_figure(plt, fit)]
    if has_dispersion_model(fit):
        figures.append(_dispersion_figure(plt, fit))
    if path is not None:
        save_figures(figures, path)
    return figures


def has_dispersion_model(fit: HGLMView) -> bool:
    """True when the residual dispersion was fitted with covariates (R draws its residuals).

    Parameters
    ----------
    fit : HGLMResult

    Returns
    -------
    bool
    """
    return fit.disp_coef is not None and len(fit.disp_coef) > 1


def figure_paths(
    path: str | os.PathLike[str], names: Sequence[str]
) -> list[Path]:
    """The PNG file names :func:`plot_fit` uses for ``path`` (see its docstring).

    Parameters
    ----------
    path : str or path-like
        A directory (existing, or written with a trailing separator) or a file prefix.
    names : sequence of str
        Figure labels, e.g. ``["leverages", "deviances", "mean_model"]``.

    Returns
    -------
    list of pathlib.Path
    """
    text = os.fspath(path)
    p = Path(text)
    if p.is_dir() or text.endswith((os.sep, "/")):
        folder, stem = p, "hglm"
    else:
        folder = p.parent
        stem = p.stem if p.suffix.lower() == ".png" else p.name
    return [folder / f"{stem}_{i}_{name}.png" for i, name in enumerate(names, start=1)]


def save_figures(figures: Sequence[Figure], path: str | os.PathLike[str]) -> list[Path]:
    """Save figures as PNG files named by :func:`figure_paths`.

    Parameters
    ----------
    figures : sequence of Figure
        Figures returned by :func:`plot_fit` (their labels name the files).
    path : str or path-like
        Directory or file-name prefix.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    names = [f.get_label() or f"figure{i}" for i, f in enumerate(figures, start=1)]
    paths = figure_paths(path, names)
    if paths:
        paths[0].parent.mkdir(parents=True, exist_ok=True)
    for fig, file in zip(figures, paths, strict=True):
        fig.savefig(file, dpi=100, format="png")
    return paths


def _new_figure(plt: Any, label: str, nrows: int, ncols: int, size: tuple[float, float]) -> Any:
    fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False)
    fig.set_label(label)
    return fig, axes.ravel()


def _leverage_figure(plt: Any, fit: HGLMView) -> Figure:
    n = fit.fitted.shape[0]
    hv = np.asarray(fit.hat_values, dtype=float)
    index = np.arange(1, hv.shape[0] + 1)
    fig, (ax,) = _new_figure(plt, "leverages", 1, 1, (8.0, 5.0))
    ax.scatter(index[:n], hv[:n], marker="+", color=_POINT, label=f"observations (n = {n})")
    ax.scatter(
        index[n:], hv[n:], marker="o", facecolors="none", edgecolors=_RANDOM,
        label=f"random effects (q = {hv.shape[0] - n})",
    )
    ax.axvline(n + 0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("Index")
    ax.set_ylabel("Hat-values")
    ax.set_title("Hat-values of the augmented GLM")
    ax.legend(loc="best")
    fig.tight_layout()
    return fig


def _deviance_figure(plt: Any, fit: HGLMView) -> Figure:
    n = fit.fitted.shape[0]
    dev = np.asarray(fit.deviances, dtype=float)
    index = np.arange(1, dev.shape[0] + 1)
    fig, (ax1, ax2) = _new_figure(plt, "deviances", 1, 2, (11.0, 5.0))
    ax1.scatter(index[:n], dev[:n], marker="+", color=_POINT, label="observations")
    ax1.scatter(
        index[n:], dev[n:], marker="o", facecolors="none", edgecolors=_RANDOM,
        label="random effects",
    )
    ax1.axvline(n + 0.5, color="grey", linestyle=":", linewidth=1)
    ax1.set_xlabel("Index")
    ax1.set_ylabel("Deviances")
    ax1.set_title("Deviances")
    ax1.legend(loc="best")

    theoretical, scaled = scaled_deviance_quantiles(fit)
    ax2.scatter(theoretical, scaled, marker="+", color=_POINT)
    top = float(max(np.max(theoretical), np.max(scaled)))
    ax2.plot([0.0, top], [0.0, top], color=_LINE, linewidth=1)
    ax2.set_xlabel("Gamma (chi-square(1)) quantiles")
    ax2.set_ylabel("Scaled deviance quantiles (d / phi)")
    ax2.set_title("Mean model deviances")
    fig.tight_layout()
    return fig


def _residual_panels(
    axes: Sequence[Axes], fitted: Array, resid: Array, what: str, ylabel: str
) -> None:
    """R's four residual panels: resid and |resid| vs fitted, normal QQ, histogram."""
    ax_a, ax_b, ax_c, ax_d = axes
    ax_a.scatter(fitted, resid, marker="+", color=_POINT)
    ax_a.plot(*smooth(fitted, resid), color=_LINE)
    ax_a.set_xlabel("Fitted values")
    ax_a.set_ylabel(ylabel)
    ax_a.set_title(f"{what} (a)")

    absr = np.abs(resid)
    ax_b.scatter(fitted, absr, marker="+", color=_POINT)
    ax_b.plot(*smooth(fitted, absr), color=_LINE)
    ax_b.set_xlabel("Fitted values")
    ax_b.set_ylabel(f"|{ylabel}|")
    ax_b.set_title(f"{what} (b)")

    m = resid.shape[0]
    theo = norm_ppf(ppoints(m))
    ax_c.scatter(theo, np.sort(resid), marker="+", color=_POINT)
    q_r = np.quantile(resid, [0.25, 0.75])
    q_t = norm_ppf([0.25, 0.75])
    if q_r[1] > q_r[0]:  # R's qqline through the quartiles
        slope = (q_r[1] - q_r[0]) / (q_t[1] - q_t[0])
        ends = np.array([theo[0], theo[-1]])
        ax_c.plot(ends, q_r[0] + slope * (ends - q_t[0]), color=_LINE)
    ax_c.set_xlabel("Normal quantiles")
    ax_c.set_ylabel("Residual quantiles")
    ax_c.set_title(f"{what} (c)")

    ax_d.hist(resid, bins="sturges", color=_POINT, alpha=0.6, edgecolor="black")
    ax_d.set_xlabel(ylabel)
    ax_d.set_ylabel("Frequency")
    ax_d.set_title(f"{what} (d)")


def _mean_figure(plt: Any, fit: HGLMView) -> Figure:
    fig, axes = _new_figure(plt, "mean_model", 2, 2, (10.0, 9.0))
    _residual_panels(
        axes, np.asarray(fit.fitted, dtype=float), np.asarray(fit.resid, dtype=float),
        "Mean model", "Studentized residuals",
    )
    fig.tight_layout()
    return fig


def _dispersion_figure(plt: Any, fit: HGLMView) -> Figure:
    n = fit.fitted.shape[0]
    fig, axes = _new_figure(plt, "dispersion_model", 2, 2, (10.0, 9.0))
    _residual_panels(
        axes, np.asarray(fit.disp_fitted, dtype=float) * np.ones(n), dispersion_residuals(fit),
        "Dispersion model", "Standardized deviance residuals",
    )
    fig.tight_layout()
    return fig
