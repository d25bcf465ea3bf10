"""lme4's interface (hglm.lme4): lmer, glmer and anova with lme4's names, defaults and
argument checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hglm


def _data(seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(10), 8)
    h = np.tile(np.arange(4), 20)
    x = rng.normal(size=g.size)
    eta = -0.3 + 0.8 * x + rng.normal(0.0, 0.7, 10)[g]
    size = rng.integers(3, 9, g.size)
    r = rng.binomial(size, 1.0 / (1.0 + np.exp(-eta)))
    y = 1.0 + 0.5 * x + rng.normal(0.0, 1.0, 10)[g] + rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "x": x, "r": r, "size": size, "p": r / size,
                         "g": [f"g{k}" for k in g], "h": [f"h{k}" for k in h]})


def test_lmer_fits_reml_by_default_and_ml_on_request():
    data = _data()
    reml = hglm.lmer("y ~ x + (1|g)", data=data)
    ml = hglm.lmer("y ~ x + (1|g)", data=data, REML=False)
    assert (reml.method, reml.reml, ml.method, ml.reml) == ("REML", True, "ML", False)
    assert ml.loglik > reml.loglik  # the ML log-likelihood beats the REML one
    via_hglm2 = hglm.hglm2("y ~ x + (1|g)", data=data, method="ML")
    assert via_hglm2.loglik == pytest.approx(ml.loglik, abs=1e-10)
    assert ml.formula == "y ~ x + (1|g)"


def test_lmer_passes_weights_and_offset():
    data = _data().assign(w=np.linspace(0.5, 2.0, 80), off=0.3)
    fit = hglm.lmer("y ~ x + (1|g)", data=data, weights="w", offset="off")
    np.testing.assert_allclose(fit.problem.weights, data["w"])
    np.testing.assert_allclose(fit.predict(re_form="NA"),
                               fit.problem.X @ fit.fixef.to_numpy() + 0.3)


def test_lmer_start_and_bad_reml():
    data = _data()
    a = hglm.lmer("y ~ x + (1|g)", data=data, start=[0.2])
    b = hglm.lmer("y ~ x + (1|g)", data=data, start={"theta": [3.0]})
    assert a.loglik == pytest.approx(b.loglik, abs=1e-8)
    with pytest.raises(ValueError, match="REML"):
        hglm.lmer("y ~ x + (1|g)", data=data, REML="no")
    with pytest.raises(ValueError, match="start"):
        hglm.lmer("y ~ x + (1|g)", data=data, start=[1.0, 1.0])


@pytest.mark.parametrize("nagq", [-1, 1.5, True, "20"])
def test_glmer_refuses_a_bad_nagq(nagq):
    with pytest.raises(ValueError, match="nAGQ"):
        hglm.glmer("cbind(r, size - r) ~ x + (1|g)", data=_data(), nAGQ=nagq)


@pytest.mark.parametrize("formula", ["p ~ x + (1|g) + (1|h)", "p ~ x + (x||g)"])
def test_glmer_refuses_quadrature_beyond_one_scalar_term(formula):
    with pytest.raises(ValueError, match="nAGQ: nAGQ > 1 is only available for models with "
                                         "a single, scalar random-effects term"):
        hglm.glmer(formula, data=_data(), weights="size", nAGQ=20)


def test_glmer_refuses_non_integer_binomial_counts():
    data = _data().assign(size=lambda d: d["size"] + 0.5)
    # the formula layer warns as R does; a likelihood refuses them
    with pytest.warns(UserWarning, match="non-integer"), pytest.raises(
            ValueError, match="non-integer binomial"):
        hglm.glmer("p ~ x + (1|g)", data=data, weights="size")


def test_glmer_family_names_as_lme4():
    with pytest.raises(ValueError, match="family"):
        hglm.glmer("y ~ x + (1|g)", data=_data(), family="negbin")


def test_glmer_with_the_gaussian_family_is_lmer_by_ml():
    data = _data()
    with pytest.warns(UserWarning, match="lmer"):
        fit = hglm.glmer("y ~ x + (1|g)", data=data, family="gaussian")
    ml = hglm.lmer("y ~ x + (1|g)", data=data, REML=False)
    assert fit.loglik == pytest.approx(ml.loglik, abs=1e-10)


def test_anova_refits_reml_fits_by_ml_with_lme4s_message(capsys):
    data = _data()
    small = hglm.lmer("y ~ 1 + (1|g)", data=data)
    big = hglm.lmer("y ~ x + (1|g)", data=data)
    table = hglm.anova(small, big, model_names=["small", "big"])
    assert "refitting model(s) with ML (instead of REML)" in capsys.readouterr().err
    ml_small = hglm.lmer("y ~ 1 + (1|g)", data=data, REML=False)
    ml_big = hglm.lmer("y ~ x + (1|g)", data=data, REML=False)
    np.testing.assert_allclose(table["logLik"], [ml_small.loglik, ml_big.loglik], rtol=1e-8)
    assert table.loc["big", "Chisq"] == pytest.approx(2 * (ml_big.loglik - ml_small.loglik),
                                                      rel=1e-6)
    assert small.reml and big.reml  # the user's fits are left as they were


def test_anova_without_refit_refuses_reml_fits_with_different_fixed_effects():
    data = _data()
    small, big = hglm.lmer("y ~ 1 + (1|g)", data=data), hglm.lmer("y ~ x + (1|g)", data=data)
    with pytest.raises(ValueError, match="REML fits with different fixed effects"):
        hglm.anova(small, big, refit=False)
    table = hglm.anova(small, hglm.lmer("y ~ 1 + (1|g) + (1|h)", data=data), refit=False)
    assert list(table.index) == ["fit1", "fit2"]


def test_anova_refuses_eql_fits_and_bad_names():
    data = _data()
    ml = hglm.lmer("y ~ x + (1|g)", data=data, REML=False)
    eql = hglm.hglm2("y ~ x + (1|g)", data=data)
    with pytest.raises(ValueError, match="hglm.lrt"):
        hglm.anova(ml, eql)
    with pytest.raises(ValueError, match="model_names"):
        hglm.anova(ml, ml, model_names=["one"])


def test_anova_refits_a_laplace_reml_glmm_by_ml():
    data = _data()
    formula = "cbind(r, size - r) ~ x + (1|g)"
    reml = hglm.hglm2(formula, data=data, family="binomial", method="REML")
    ml = hglm.glmer(formula, data=data)
    assert reml.method == "REML" and ml.method == "Laplace"
    assert str(reml.summary()).startswith(
        "Generalized linear mixed model fit by REML (Laplace Approximation)")
    table = hglm.anova(reml, ml, model_names=["reml", "ml"])
    np.testing.assert_allclose(table["logLik"], [ml.loglik, ml.loglik], rtol=1e-6)


@pytest.mark.parametrize("bar", ["(1 + x | g)", "(x | g)"])
def test_a_vector_term_is_one_correlated_term_and_double_bar_two(bar):
    # issue 15: (1 + x|g) and (x|g) are lme4's vector term (3 theta: two SDs and a
    # correlation), never split silently; (1 + x||g) is two independent terms
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(8), 5)
    x = rng.normal(size=40)
    data = pd.DataFrame({"y": rng.normal(size=8)[g] + rng.normal(size=8)[g] * x
                         + rng.normal(size=40), "x": x, "g": g})
    for fit in (hglm.lmer(f"y ~ x + {bar}", data=data),
                hglm.hglm2(f"y ~ x + {bar}", data=data, method="REML")):
        assert fit.theta.shape == (3,)
        assert list(fit.varcorr["var2"].fillna("-")) == ["-", "-", "x", "-"]
    split = hglm.lmer(f"y ~ x + {bar.replace('|', '||')}", data=data)
    assert split.theta.shape == (2,)
    assert list(split.varcorr["var2"].fillna("-")) == ["-", "-", "-"]
