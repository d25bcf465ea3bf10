"""The diagnostic figures of a marginal-likelihood fit (hglm.results.marginal_plots)."""

from __future__ import annotations

import pytest

from .marginal_cases import lmm_fit

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def test_two_labelled_figures_saved_as_png(tmp_path):
    """Residuals against fitted values, and the conditional modes with their intervals."""
    fit = lmm_fit(formula="y ~ x + (1|g) + (1|h)")
    figures = fit.plot(tmp_path / "lmm")
    assert [f.get_label() for f in figures] == ["residuals", "ranef"]
    assert len(figures[1].axes) == 2  # one panel per random term
    panel = figures[1].axes[0]
    assert panel.get_title() == "(Intercept) | g" and len(panel.lines[0].get_xdata()) == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lmm_1_residuals.png",
                                                          "lmm_2_ranef.png"]
    for f in figures:
        plt.close(f)
