"""Diagnostic plots (hglm.results.plots): the axes hold the fit's numbers; PNGs are written."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from shared import require

import hglm
from hglm.results.diagnostics import dispersion_residuals, ppoints, smooth
from hglm.results.plots import INSTALL_HINT, figure_paths, import_pyplot, plot_fit

matplotlib = require("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _offsets(ax, k: int) -> np.ndarray:
    return np.asarray(ax.collections[k].get_offsets(), dtype=float)


def test_three_figures_without_dispersion_model(fit_plain):
    figs = plot_fit(fit_plain)
    assert [f.get_label() for f in figs] == ["leverages", "deviances", "mean_model"]
    assert all(isinstance(f, matplotlib.figure.Figure) for f in figs)


def test_four_figures_with_dispersion_model(fit_disp):
    assert len(fit_disp.disp_coef) == 2
    figs = fit_disp.plot()
    assert [f.get_label() for f in figs] == [
        "leverages", "deviances", "mean_model", "dispersion_model",
    ]


def test_fixed_dispersion_gives_three_figures():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(15), 6)
    y = rng.binomial(1, 1 / (1 + np.exp(-(0.3 + rng.normal(0, 1, 15)[g]))))
    fit = hglm.hglm2("y ~ 1 + (1|g)", data=pd.DataFrame({"y": y, "g": g}),
                     family="binomial", fix_disp=1)
    assert fit.disp_coef is None
    assert len(plot_fit(fit)) == 3


def test_leverage_figure_holds_hat_values(fit_plain):
    fig = plot_fit(fit_plain)[0]
    (ax,) = fig.axes
    n, hv = fit_plain.n_obs, fit_plain.hat_values
    q = hv.shape[0] - n
    obs, ran = _offsets(ax, 0), _offsets(ax, 1)
    np.testing.assert_array_equal(obs[:, 0], np.arange(1, n + 1))
    np.testing.assert_array_equal(obs[:, 1], hv[:n])
    np.testing.assert_array_equal(ran[:, 0], np.arange(n + 1, n + q + 1))
    np.testing.assert_array_equal(ran[:, 1], hv[n:])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [f"observations (n = {n})", f"random effects (q = {q})"]
    # the two parts are told apart: different colours and markers
    c_obs = ax.collections[0].get_facecolor()[0]
    c_ran = ax.collections[1].get_edgecolor()[0]
    assert not np.allclose(c_obs, c_ran)
    assert ax.collections[0].get_paths()[0] != ax.collections[1].get_paths()[0]


def test_deviance_figure_holds_deviances_and_gamma_quantiles(fit_plain):
    fig = plot_fit(fit_plain)[1]
    ax_idx, ax_q = fig.axes
    n, dev = fit_plain.n_obs, fit_plain.deviances
    np.testing.assert_array_equal(_offsets(ax_idx, 0)[:, 1], dev[:n])
    np.testing.assert_array_equal(_offsets(ax_idx, 1)[:, 1], dev[n:])
    np.testing.assert_array_equal(_offsets(ax_idx, 1)[:, 0], np.arange(n + 1, dev.size + 1))
    pts = _offsets(ax_q, 0)
    expected_x = stats.chi2.ppf((np.arange(1, n + 1) - 0.5) / n, df=1)
    np.testing.assert_allclose(pts[:, 0], expected_x, rtol=1e-12)
    np.testing.assert_allclose(pts[:, 1], np.sort(dev[:n] / fit_plain.disp_fitted), rtol=1e-12)
    (line,) = ax_q.get_lines()  # the reference line y = x
    np.testing.assert_array_equal(line.get_xdata(), line.get_ydata())


def test_mean_model_figure_holds_residuals(fit_plain):
    fig = plot_fit(fit_plain)[2]
    ax_a, ax_b, ax_c, ax_d = fig.axes
    fv, r = fit_plain.fitted, fit_plain.resid
    np.testing.assert_array_equal(_offsets(ax_a, 0), np.column_stack([fv, r]))
    (smoother,) = ax_a.get_lines()
    gx, gy = smooth(fv, r)
    np.testing.assert_allclose(smoother.get_xdata(), gx)
    np.testing.assert_allclose(smoother.get_ydata(), gy)
    assert gx[0] == fv.min() and gx[-1] == fv.max()
    np.testing.assert_array_equal(_offsets(ax_b, 0), np.column_stack([fv, np.abs(r)]))
    qq = _offsets(ax_c, 0)
    np.testing.assert_allclose(qq[:, 0], stats.norm.ppf(ppoints(r.size)))
    np.testing.assert_array_equal(qq[:, 1], np.sort(r))
    (qqline,) = ax_c.get_lines()  # through the quartiles, as R's qqline
    xs, ys = qqline.get_xdata(), qqline.get_ydata()
    slope = (ys[1] - ys[0]) / (xs[1] - xs[0])
    q1, q3 = np.quantile(r, [0.25, 0.75])
    assert slope == pytest.approx((q3 - q1) / (2 * stats.norm.ppf(0.75)))
    heights = [p.get_height() for p in ax_d.patches]
    assert sum(heights) == r.size
    assert ax_a.get_xlabel() == "Fitted values"
    assert ax_a.get_ylabel() == "Studentized residuals"


def test_dispersion_figure_holds_dispersion_residuals(fit_disp):
    fig = plot_fit(fit_disp)[3]
    ax_a, ax_b, ax_c, _ = fig.axes
    n = fit_disp.n_obs
    dr = dispersion_residuals(fit_disp)
    assert dr.shape == (n,) and np.all(np.isfinite(dr))
    pts = _offsets(ax_a, 0)
    np.testing.assert_array_equal(pts[:, 0], fit_disp.disp_fitted)
    np.testing.assert_array_equal(pts[:, 1], dr)
    np.testing.assert_array_equal(_offsets(ax_b, 0)[:, 1], np.abs(dr))
    np.testing.assert_array_equal(_offsets(ax_c, 0)[:, 1], np.sort(dr))


def test_png_files_written_with_a_file_prefix(fit_disp, tmp_path):
    figs = plot_fit(fit_disp, tmp_path / "out.png")
    names = ["out_1_leverages.png", "out_2_deviances.png", "out_3_mean_model.png",
             "out_4_dispersion_model.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    for name in names:
        assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC
    assert len(figs) == 4


def test_png_files_written_into_a_directory(fit_plain, tmp_path):
    fit_plain.plot(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "hglm_1_leverages.png", "hglm_2_deviances.png", "hglm_3_mean_model.png",
    ]
    new_dir = tmp_path / "made" / ""
    fit_plain.plot(str(new_dir) + "/")
    assert len(list((tmp_path / "made").glob("hglm_*.png"))) == 3


def test_nothing_written_without_path(fit_plain, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plot_fit(fit_plain)
    assert list(tmp_path.iterdir()) == []


def test_figure_paths_rules(tmp_path):
    names = ["a", "b"]
    assert figure_paths(tmp_path / "diag", names) == [
        tmp_path / "diag_1_a.png", tmp_path / "diag_2_b.png",
    ]
    assert figure_paths(tmp_path / "diag.PNG", names)[0] == tmp_path / "diag_1_a.png"
    assert figure_paths(tmp_path, names)[1] == tmp_path / "hglm_2_b.png"


def test_missing_matplotlib_says_how_to_install(fit_plain, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "hglm\[plot\]"'):
        fit_plain.plot()
    assert 'pip install "hglm[plot]"' in INSTALL_HINT


def test_import_pyplot_selects_the_backend_or_says_how_to_install(monkeypatch):
    assert import_pyplot(backend="Agg") is plt
    assert matplotlib.get_backend().lower() == "agg"
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    for backend in (None, "Agg"):
        with pytest.raises(ImportError, match=r'pip install "hglm\[plot\]"'):
            import_pyplot(backend)
