"""The presentation of vector-valued random terms ``(1 + x|g)`` (issue 15): a marginal
result built on a test double that follows the estimators' contract (``theta`` flat in
lme4's order within each term, ``covariances`` one matrix per term, v level-major within
a vector term), so the layout is tested apart from the estimators."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from hglm.hglm_fit import ENGINE_HOOKS
from hglm.results import MarginalResult
from hglm.spec import assemble, design_from_lme4

from .marginal_cases import GLMMFitDouble, lmm_data

FORMULA = "y ~ x + (1 + x|g) + (1|h)"
SIGMA = np.array([[1.44, 0.3], [0.3, 0.25]])  # (Intercept), x of g: corr 0.3 / (1.2 0.5)


@dataclass
class VectorFitDouble(GLMMFitDouble):
    """:class:`GLMMFitDouble` with the per-term covariances of issue 15's contract."""

    covariances: list | None = None

    @property
    def lam(self) -> np.ndarray:
        return np.array([c[0][0] for c in self.covariances])


def _result() -> MarginalResult:
    design = design_from_lme4(FORMULA, lmm_data())
    labels = ([n for t in design.random for n in t.names], [t.label for t in design.random])
    problem, names = assemble(
        design.y, design.X, design.random, rand_c=None, family="gaussian",
        rand_family="gaussian", x_disp=None, link_disp="log", x_rand_disp=None,
        link_rand_disp="log", rand_cov=None, rand_cov_labels=None, weights=None,
        offset=None, fix_disp=None, random_labels=labels, engine=ENGINE_HOOKS,
    )
    q = sum(b.width if hasattr(b, "width") else b.n_levels for b in problem.blocks)
    v = np.arange(q, dtype=float) / 10.0
    fit = VectorFitDouble(
        problem=problem, beta=np.array([2.0, 0.5]), v=v, vcov_beta=np.eye(2) * 0.01,
        cond_var=np.full(q, 0.04), theta=np.array([1.2, 0.25, 0.4, 0.5]), objective=300.0,
        method="REML", reml=True, sigma2=1.0, covariances=[SIGMA, np.array([[0.25]])],
    )
    return MarginalResult(fit, names, design=design, formula=FORMULA)


def test_varcorr_has_lme4s_rows() -> None:
    vc = _result().varcorr
    assert list(vc["grp"]) == ["g", "g", "g", "h", "Residual"]
    assert list(vc["var1"].fillna("-")) == ["(Intercept)", "x", "(Intercept)",
                                            "(Intercept)", "-"]
    assert list(vc["var2"].fillna("-")) == ["-", "-", "x", "-", "-"]
    np.testing.assert_allclose(vc["vcov"], [1.44, 0.25, 0.3, 0.25, 1.0])
    np.testing.assert_allclose(vc["sdcor"], [1.2, 0.5, 0.5, 0.5, 1.0])


def test_a_vector_term_has_q_q_plus_1_over_2_thetas() -> None:
    # g has 12 levels, h 4: lme4's order is the model's (reordering: test_term_layout.py)
    assert [t.n_theta for t in _result().problem.terms] == [3, 1]


def test_ranef_per_effect_and_by_group() -> None:
    fit = _result()
    long = fit.ranef
    g_rows = long[long["grpvar"] == "g"]
    assert list(dict.fromkeys(g_rows["term"])) == ["(Intercept)", "x"]
    # v is level-major: level 1's intercept and slope are v[0], v[1]
    np.testing.assert_allclose(g_rows["condval"].to_numpy()[:3], [0.0, 0.2, 0.4])
    np.testing.assert_allclose(g_rows["condval"].to_numpy()[12:15], [0.1, 0.3, 0.5])
    np.testing.assert_allclose(g_rows["condsd"], 0.2)
    wide = fit.ranef_by_group
    assert list(wide) == ["g", "h"]
    assert list(wide["g"].columns) == ["(Intercept)", "x"]
    assert list(wide["g"].index) == sorted(lmm_data()["g"].unique())
    np.testing.assert_allclose(wide["g"].to_numpy()[1], [0.2, 0.3])
    assert list(wide["h"].columns) == ["(Intercept)"]


def test_summary_random_effects_block() -> None:
    text = str(_result().summary())
    block = text[text.index("Random effects:"):text.index("Number of obs")].splitlines()
    assert block == [
        "Random effects:",
        " Groups   Name        Variance Std.Dev. Corr",
        " g        (Intercept) 1.44     1.2",
        "          x           0.25     0.5      0.50",
        " h        (Intercept) 0.25     0.5",
        " Residual             1.00     1.0",
    ]
    assert "Number of obs: 72, groups:  g, 12; h, 4" in text


def test_wald_intervals_name_lme4s_parameters() -> None:
    ci = _result().confint(method="wald", signames=False)
    assert list(ci.index[:5]) == ["sd_(Intercept)|g", "cor_x.(Intercept)|g", "sd_x|g",
                                  "sd_(Intercept)|h", "sigma"]
    with pytest.raises(ValueError, match="vector-valued random term.*method='wald'"):
        _result().confint(method="profile")


def test_ranef_plot_has_a_panel_per_column(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    figures = _result().plot()
    ranef = [f for f in figures if f.get_label() == "ranef"][0]
    titles = [ax.get_title() for ax in ranef.axes]
    assert titles == ["(Intercept) | g", "x | g", "(Intercept) | h"]
    assert isinstance(_result().ranef, pd.DataFrame)


def test_export_keeps_the_covariance_rows() -> None:
    out = _result().to_dict()
    assert out["theta"] == [1.2, 0.25, 0.4, 0.5]
    assert [r["var2"] for r in out["varcorr"]] == [None, None, "x", None, None]
    assert len(out["ranef"]) == 12 * 2 + 4
