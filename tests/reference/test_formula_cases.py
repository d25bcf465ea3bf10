"""R agreement of the formula interfaces, likelihoods, lrt, vcov, bigRR and CAR, case by case.

Every reference case whose R call uses ``hglm(fixed=, random=, data=)`` or ``hglm2(formula,
data=)`` is fitted here exactly as its ``r_code`` does (cases.build_formula_case), with two
tests as in test_matrix_cases.py (see compare.py):

* ``test_tight``: the tight block's conv/maxit (1e-20, 2000) against R's fixed point at
  rtol 1e-6, and our hat values/deviances against our dispersion estimates;
* ``test_default``: the case's own settings; at least as close to the fixed point as R's
  default fit (or within 2e-3), and hv/dev/fv/resid matching R's.

Then the likelihoods of every ``calc.like = TRUE`` case (formula and matrix interface)
against the tight block's ``likelihood`` to 1e-4 absolute, the lrt results, the marginal
covariance of sim_two_random_m22, Dyestuff against lme4, the QTLMAS likelihoods and bigRR
fit, the CAR model of the lip-cancer data, and the formula layer's own behaviour (formula
= matrix fit, predict, missing values, bad formulas).  Every expected number is read from
the reference JSON files.
"""

from __future__ import annotations

import re
import warnings
from functools import cache
from typing import Any

import numpy as np
import pytest
from scipy import stats
from shared import load_ref

import hglm

from .cases import (
    FORMULA_CASES,
    build_car_case,
    build_case,
    build_formula_case,
)
from .compare import (
    _fail,
    assert_default_close,
    assert_matches_tight,
    check_as_close_as_r,
    check_close,
    fit_quantities,
)
from .test_matrix_cases import _R_SE_DEVIATION

# The library's defaults must be R's (conv = 1e-6, maxit = 50).
_R_CONV, _R_MAXIT = 1e-6, 50

# likelihoods (log scale) against R's tight block: absolute tolerance
_LIKE_ATOL = 1e-4
# an lrt statistic is 2 |l1 - l2|, so it inherits twice the likelihood tolerance
_LRT_ATOL = 2 * _LIKE_ATOL
# identities that must hold to rounding (formula = matrix fit, predict, vcov)
_EXACT_RTOL = 1e-10

# Likelihood cases fitted in R through the matrix interface: case -> matrix builder
# (cases.build_case) to which calc_like=True is added.
_MATRIX_LIKE = {
    "sim_two_random_m20": "sim_two_random_m20",
    "model_selection_hg1": "model_selection_hg1",
    "model_selection_hg2": "model_selection_hg2",
    "qtlmas_polygenic_like": "qtlmas_polygenic",
}
_SLOW = {"qtlmas_polygenic_like"}
_LIKE_CASES = [
    "bacteria_binomial_fixdisp",
    "semiconductor_gamma_like",
    "dyestuff_lmm",
    "sim_two_random_m20",
    "model_selection_hg1",
    "model_selection_hg2",
    "qtlmas_polygenic_like",
]
_LIKE_PARAMS = [pytest.param(c, marks=pytest.mark.slow) if c in _SLOW else c for c in _LIKE_CASES]

# qtlmas_polygenic_like: R's own tight refit is converged only to ~1e-6 relative in lambda
# (the QTLMAS variance component converges slowly), and hlik is not stationary in lambda
# (it is the joint log-density at the estimated v, not a profile over v), so with 2025
# random effects a lambda error of 1e-6 moves hlik far more than pvh, pbvh or cAIC.
# Earlier engine revisions differed from R's tight hlik by ~5e-4 (2.6e-5 when this was
# written, with pvh 2e-8 and cAIC 5e-6), so hlik is compared at 1e-3 absolute, the
# others at 1e-4.
_LIKE_ATOL_OVERRIDES = {"qtlmas_polygenic_like": {"hlik": 1e-3}}


@cache
def reference_fit(case: str, tight: bool) -> Any:
    """Our fit of ``case`` as R called it; with the tight block's conv/maxit if ``tight``.

    Formula cases go through hglm.hglm / hglm.hglm2 (cases.build_formula_case); the
    matrix-interface likelihood cases through hglm.hglm(y=, X=, Z=, calc_like=True).
    """
    ref = load_ref(case)
    controls = {"conv": ref["tight"]["conv"], "maxit": ref["tight"]["maxit"]} if tight else {}
    if case in _MATRIX_LIKE:
        return hglm.hglm(**build_case(_MATRIX_LIKE[case]), calc_like=True, **controls)
    fc = build_formula_case(case)
    return fc.fit(**{**fc.kwargs, **controls})


# --- the formula cases: tight and default ------------------------------------------------


@pytest.mark.parametrize("case", FORMULA_CASES)
def test_tight(case: str) -> None:
    assert_matches_tight(
        reference_fit(case, True),
        load_ref(case),
        build_formula_case(case).matrix,
        _R_SE_DEVIATION.get(case),
    )


@pytest.mark.parametrize("case", FORMULA_CASES)
def test_default(case: str) -> None:
    ref = load_ref(case)
    fc = build_formula_case(case)
    # the case's own conv/maxit/fix_disp/calc_like/vcovmat, as in its r_code
    assert fc.kwargs.get("conv", _R_CONV) == ref["options"]["conv"]
    assert fc.kwargs.get("maxit", _R_MAXIT) == ref["options"]["maxit"]
    assert fc.kwargs.get("fix_disp") == ref["options"]["fix_disp"]
    assert fc.kwargs.get("calc_like", False) == ref["options"]["calc_like"]
    assert fc.kwargs.get("vcovmat", False) == ref["options"]["vcovmat"]
    fit = reference_fit(case, False)
    assert len(fit.fixef) == len(ref["fixef_names"])
    assert len(fit.ranef) == len(ref["ranef_names"])
    assert_default_close(fit, ref, fc.matrix, fixed_point=lambda: reference_fit(case, True))


# --- likelihoods --------------------------------------------------------------------------


def _like_atol(case: str, key: str) -> float:
    return _LIKE_ATOL_OVERRIDES.get(case, {}).get(key, _LIKE_ATOL)


@pytest.mark.parametrize("case", _LIKE_PARAMS)
def test_likelihood_tight(case: str) -> None:
    """hlik, pvh, pbvh and cAIC of the tight fit against R's tight block, 1e-4 absolute."""
    ref = load_ref(case)
    expected = ref["tight"]["likelihood"]
    like = reference_fit(case, True).likelihood
    assert like is not None, "calc_like=True gave no likelihood"
    assert set(like) == set(expected), (sorted(like), sorted(expected))
    problems: list[str] = []
    for key, value in expected.items():
        atol = _like_atol(case, key)
        check_close(problems, f"likelihood.{key}", like[key], value, 0.0, atol)
    _fail(problems, case, "tight likelihood")


@pytest.mark.parametrize("case", _LIKE_PARAMS)
def test_likelihood_default(case: str) -> None:
    """The default fit's hlik, pvh and pbvh: at least as close to R's tight values as R's
    default fit's are (compare.check_as_close_as_r), or within 1e-4 absolute.

    cAIC is left out here: at a default-conv fit it combines two iterates (the hat values
    of the last solve and the dispersions updated after it), so its distance from the
    fixed point is set by the size of the last step, not by how close the estimates are
    (our default semiconductor_gamma_like fit is nearer the fixed point than R's in every
    estimate, yet its cAIC is 1.8e-3 away where R's is 1.1e-3).  cAIC is compared at the
    fixed point (test_likelihood_tight), and its default-fit definition in
    test_caic_uses_fit_hat_values.
    """
    ref = load_ref(case)
    tight = ref["tight"]["likelihood"]
    like = reference_fit(case, False).likelihood
    assert like is not None, "calc_like=True gave no likelihood"
    assert set(like) == set(tight), (sorted(like), sorted(tight))
    problems: list[str] = []
    for key in ("hlik", "pvh", "pbvh"):
        check_as_close_as_r(
            problems,
            f"likelihood.{key}",
            like[key],
            ref["likelihood"][key],
            tight[key],
            rel=0.0,
            floor=_like_atol(case, key),
        )
    _fail(problems, case, "default likelihood")


def _gaussian_caic(dev: Any, hat: Any, phi: float, n: int) -> float:
    """-2 cond + 2 sum(hat[:n]), cond = -1/2 sum(dev_i/phi + log(2 pi phi)) (unit weights)."""
    dev, hat = np.asarray(dev, dtype=float)[:n], np.asarray(hat, dtype=float)[:n]
    cond = -0.5 * float(np.sum(dev / phi + np.log(2.0 * np.pi * phi)))
    return -2.0 * cond + 2.0 * float(np.sum(hat))


@pytest.mark.parametrize("case", ["dyestuff_lmm", "sim_two_random_m20", "model_selection_hg1"])
def test_caic_uses_fit_hat_values(case: str) -> None:
    """R's cAIC of a fit is -2 cond + 2 sum(hv[1:n]) with its stored hat values and final
    dispersion (checked on R's own default fit to 1e-10); ours must follow the same
    definition on our default fit (Gaussian cases: cond in closed form)."""
    ref = load_ref(case)
    n = int(ref["n_obs"])
    np.testing.assert_allclose(
        _gaussian_caic(ref["dev"], ref["hv"], ref["varFix"], n),
        ref["likelihood"]["cAIC"],
        rtol=1e-10,
    )
    fit = reference_fit(case, False)
    np.testing.assert_allclose(
        fit.likelihood["cAIC"],
        _gaussian_caic(fit.deviances, fit.hat_values, fit.var_fix, n),
        rtol=1e-10,
    )


# --- lrt ------------------------------------------------------------------------------------


def _lrt_entry(ref: dict, call: str) -> dict:
    (entry,) = [e for e in ref["lrt"] if e["call"] == call]
    return entry


def _check_lrt_consistent(result: Any, df: int) -> None:
    """An lrt result: df as given, p = P(chi2_df > statistic)/2 (50:50 mixture)."""
    assert result.df == df
    np.testing.assert_allclose(
        result.p_value, stats.chi2.sf(result.statistic, df) / 2.0, rtol=1e-12
    )


def test_null_loglik() -> None:
    """logLik of the GLM without random effects (R's lrt null model) to 1e-8."""
    for case in ("sim_two_random_m20", "model_selection_hg2", "model_selection_hg1"):
        # model_selection_hg1 has the same y and X as hg2, whose JSON stores the null model
        ref = load_ref("model_selection_hg2" if case == "model_selection_hg1" else case)
        got = reference_fit(case, False).null_loglik()
        np.testing.assert_allclose(got, ref["null_model_logLik"], rtol=0, atol=1e-8)


def test_lrt_m20_one_model() -> None:
    """lrt(m20) = 2 |pvh - logLik(glm)| on 1 df.  The GLM null model is fixed and pvh of the
    default fit is within ~1e-5 of the tight one here (R: default vs tight pvh differ by
    9e-6), so R's stored statistic is compared with our default fit's at rtol 1e-5 and
    the p-value (d log p / d stat ~ -1/2) at rtol 1e-3."""
    ref = load_ref("sim_two_random_m20")
    entry = _lrt_entry(ref, "lrt(m20)")
    result = hglm.lrt(reference_fit("sim_two_random_m20", False))
    _check_lrt_consistent(result, entry["df"])
    np.testing.assert_allclose(result.statistic, entry["statistic"], rtol=1e-5)
    np.testing.assert_allclose(result.p_value, entry["p_value"], rtol=1e-3)


@cache
def _m21_tight_like() -> Any:
    tight = load_ref("sim_two_random_m21")["tight"]
    return hglm.hglm(
        **build_case("sim_two_random_m21"),
        calc_like=True,
        conv=tight["conv"],
        maxit=tight["maxit"],
    )


def test_lrt_m20_m21() -> None:
    """lrt(m20, m21) = 2 |pbvh(m20) - pbvh(m21)| on 1 df, at the fixed points.

    R's stored statistic (0.8245) was computed from its loose default fits (conv = 1e-6),
    so it is not a fixed-point reference: m21's default pbvh (``m21_likelihood``, the only
    likelihood of m21 in the JSON files -- its tight block has none, m21 being fitted
    without calc.like) is ~9e-4 below its fixed-point value.  The expected statistic is
    therefore 2 |pbvh_tight(m20) - pbvh*(m21)| with pbvh_tight(m20) from m20's tight
    block and pbvh*(m21) from our tight m21 fit, which is checked here against R's m21
    tight block (compare.assert_matches_tight, 1e-6) and so sits at R's fixed point; our
    likelihood code is checked at the fixed point by test_likelihood_tight.  As pbvh is
    the REML log-likelihood of this LMM, maximal at the EQL (= REML) fixed point, R's
    default m21 pbvh must not exceed it.
    """
    ref = load_ref("sim_two_random_m20")
    entry = _lrt_entry(ref, "lrt(m20, m21)")
    m20, m21 = reference_fit("sim_two_random_m20", True), _m21_tight_like()
    assert_matches_tight(m21, load_ref("sim_two_random_m21"), build_case("sim_two_random_m21"))
    m21_pbvh = m21.likelihood["pbvh"]
    assert ref["m21_likelihood"]["pbvh"] <= m21_pbvh + 1e-8, (ref["m21_likelihood"], m21_pbvh)
    expected = 2.0 * abs(ref["tight"]["likelihood"]["pbvh"] - m21_pbvh)
    for result in (hglm.lrt(m20, m21), hglm.lrt(m21, m20)):
        _check_lrt_consistent(result, entry["df"])
        np.testing.assert_allclose(result.statistic, expected, rtol=0, atol=_LRT_ATOL)
        np.testing.assert_allclose(
            result.p_value, stats.chi2.sf(expected, entry["df"]) / 2.0, rtol=1e-3
        )


@pytest.mark.parametrize("name", ["hg2", "hg1"])
def test_lrt_model_selection_one_model(name: str) -> None:
    """lrt(hg2), lrt(hg1) = 2 |pvh - logLik(glm)| on 1 and 2 df.

    R's stored statistic uses its default fit's pvh.  For hg2 that is within 4e-7 of the
    tight pvh; for hg1 it is 0.039 away (hg1's default fit is 92% away from the fixed
    point in its near-zero variance component, and pvh -- the marginal, not the REML,
    likelihood -- is not stationary at the EQL estimates), a 1.1e-4 relative change of
    the statistic.  So our default fit's statistic is compared with R's stored one at
    1e-3 relative, and our tight fit's with 2 |pvh_tight - null_model_logLik| (both read
    from the JSON files) at 2e-4 absolute.
    """
    case = f"model_selection_{name}"
    hg2 = load_ref("model_selection_hg2")  # holds the lrt results and the null model
    entry = _lrt_entry(hg2, f"lrt({name})")
    default = hglm.lrt(reference_fit(case, False))
    _check_lrt_consistent(default, entry["df"])
    np.testing.assert_allclose(default.statistic, entry["statistic"], rtol=1e-3)
    tight_pvh = load_ref(case)["tight"]["likelihood"]["pvh"]
    expected = 2.0 * abs(tight_pvh - hg2["null_model_logLik"])
    tight = hglm.lrt(reference_fit(case, True))
    _check_lrt_consistent(tight, entry["df"])
    np.testing.assert_allclose(tight.statistic, expected, rtol=0, atol=_LRT_ATOL)


def test_lrt_model_selection_two_models() -> None:
    """lrt(hg2, hg1) = lrt(hg1, hg2) = 2 |pbvh(hg2) - pbvh(hg1)| on 1 df.

    R's stored 0.0794 comes from its default fits, and hg1's default pbvh is 0.039 away
    from its fixed point (see test_lrt_model_selection_one_model); from the tight blocks
    the statistic is ~0.001.  Our tight fits are compared with the latter, rebuilt from
    the two JSON files' tight likelihoods, at 2e-4 absolute; the p-value, whose slope in
    the statistic is steep near 0, is checked through its consistency with our statistic.
    """
    hg1_ref, hg2_ref = load_ref("model_selection_hg1"), load_ref("model_selection_hg2")
    expected = 2.0 * abs(
        hg2_ref["tight"]["likelihood"]["pbvh"] - hg1_ref["tight"]["likelihood"]["pbvh"]
    )
    hg1 = reference_fit("model_selection_hg1", True)
    hg2 = reference_fit("model_selection_hg2", True)
    for call, (a, b) in (("lrt(hg2, hg1)", (hg2, hg1)), ("lrt(hg1, hg2)", (hg1, hg2))):
        entry = _lrt_entry(hg2_ref, call)
        result = hglm.lrt(a, b)
        _check_lrt_consistent(result, entry["df"])
        np.testing.assert_allclose(result.statistic, expected, rtol=0, atol=_LRT_ATOL)


# --- sim_two_random_m22: the marginal covariance -------------------------------------------


def test_m22_vcov() -> None:
    """fit.vcov = Z diag(lambda) Z' + phi I, built densely from our own estimates.

    R's stored vcov is not compared: it is not even symmetric (test_m22_r_vcov_defect).
    """
    fit = reference_fit("sim_two_random_m22", False)
    mat = build_formula_case("sim_two_random_m22").matrix
    Z = mat["Z"]
    lam = np.repeat(np.asarray(fit.var_ranef, dtype=float), mat["rand_c"])
    n = Z.shape[0]
    V_expected = Z @ np.diag(lam) @ Z.T + fit.var_fix * np.eye(n)
    V = fit.vcov
    V = V.toarray() if hasattr(V, "toarray") else np.asarray(V, dtype=float)
    assert V.shape == (n, n)
    np.testing.assert_allclose(V, V_expected, rtol=_EXACT_RTOL, atol=_EXACT_RTOL * V.max())
    np.testing.assert_allclose(V, V.T, rtol=0, atol=1e-14 * V.max())
    # block structure: lambda_1 [same z1] + lambda_2 [same z2] + phi [i == j], so the
    # diagonal is lambda_1 + lambda_2 + phi and rows sharing no level are uncorrelated
    df = build_formula_case("sim_two_random_m22").kwargs["data"]
    z1, z2 = df["z1"].to_numpy(), df["z2"].to_numpy()
    same1, same2 = z1[:, None] == z1[None, :], z2[:, None] == z2[None, :]
    lam1, lam2 = fit.var_ranef
    np.testing.assert_allclose(np.diag(V), lam1 + lam2 + fit.var_fix, rtol=_EXACT_RTOL)
    assert np.all(V[~same1 & ~same2] == 0.0)
    np.testing.assert_allclose(V[same1 & ~same2], lam1, rtol=_EXACT_RTOL)
    np.testing.assert_allclose(V[~same1 & same2], lam2, rtol=_EXACT_RTOL)


def test_m22_r_vcov_defect() -> None:
    """Documents why R's stored vcov of sim_two_random_m22 is not a reference.

    R's hglm 2.2-1 builds vcov with the vector of the two variance components recycled
    over the ROWS of Z Z' -- V_R[i, j] = varRanef[i mod 2] (Z Z')[i, j] + varFix [i == j]
    -- instead of Z diag(lambda) Z' + phi I.  Evidence in the JSON: V_R[0, 1] != V_R[1, 0]
    (rows 0 and 1 share both levels, so Z Z'[0, 1] = 2: V_R[0, 1] = 2 varRanef[0] and
    V_R[1, 0] = 2 varRanef[1]), and the recycled formula reproduces all of V_R from R's
    own default estimates.
    """
    ref = load_ref("sim_two_random_m22")
    V_r = np.asarray(ref["vcov"], dtype=float)
    assert V_r[0, 1] != V_r[1, 0]
    assert not np.allclose(V_r, V_r.T)
    Z = build_formula_case("sim_two_random_m22").matrix["Z"]
    lam_rows = np.resize(np.asarray(ref["varRanef"], dtype=float), Z.shape[0])
    recycled = lam_rows[:, None] * (Z @ Z.T) + ref["varFix"] * np.eye(Z.shape[0])
    np.testing.assert_allclose(V_r, recycled, rtol=1e-12)


# --- Dyestuff: EQL = REML for an LMM ---------------------------------------------------------


def test_dyestuff_lme4() -> None:
    """For a Gaussian LMM the EQL fixed point is the REML fit: our tight fit against
    lme4's lmer (REML) -- fixef, the two variances, the fixed-effect SE and the
    conditional modes at 1e-4 relative, pbvh (the REML log-likelihood) against
    lme4's logLik at 1e-4 absolute."""
    lme4 = load_ref("dyestuff_lmm")["lme4"]
    assert lme4["REML"] is True
    fit = reference_fit("dyestuff_lmm", True)
    varcomp = dict(zip(lme4["varcomp"]["grp"], lme4["varcomp"]["vcov"], strict=True))
    problems: list[str] = []
    check_close(problems, "fixef", fit.fixef, list(lme4["fixef"].values()), 1e-4)
    check_close(problems, "se_fixef", fit.se_fixef, lme4["se_fixef"], 1e-4)
    check_close(problems, "var_ranef (Batch)", fit.var_ranef, [varcomp["Batch"]], 1e-4)
    check_close(problems, "var_fix (Residual)", fit.var_fix, varcomp["Residual"], 1e-4)
    check_close(problems, "ranef (conditional modes)", fit.ranef, lme4["ranef"], 1e-4)
    check_close(problems, "pbvh vs logLik", fit.likelihood["pbvh"], lme4["logLik"], 0.0, 1e-4)
    _fail(problems, "dyestuff_lmm", "lme4")


# --- QTLMAS: bigRR -----------------------------------------------------------------------------


@cache
def _qtlmas_bigrr_fit(tight: bool) -> Any:
    t = load_ref("qtlmas_polygenic")["tight"]
    controls = {"conv": t["conv"], "maxit": t["maxit"]} if tight else {}
    return hglm.hglm(**build_case("qtlmas_polygenic"), bigrr=True, **controls)


_BIGRR_QUANTITIES = ("fixef", "var_fix", "var_ranef", "ranef")


@pytest.mark.slow
def test_qtlmas_bigrr_tight() -> None:
    """bigrr=True solves in the n-space of the observations but reaches the same EQL fixed
    point, so with conv 1e-20 it must match qtlmas_polygenic's tight block (R's tight
    refit of the same model without bigRR; qtlmas_polygenic_bigrr has no tight block)
    at 1e-6: fixef, var_fix, var_ranef and all 2025 ranef."""
    ref = load_ref("qtlmas_polygenic")
    fit = _qtlmas_bigrr_fit(True)
    ours, theirs = fit_quantities(fit, 1), _ref_block(ref["tight"])
    problems: list[str] = []
    for name in _BIGRR_QUANTITIES:
        check_close(problems, name, ours[name], theirs[name], 1e-6)
    _fail(problems, "qtlmas_polygenic_bigrr", "tight (qtlmas_polygenic's block)")


@pytest.mark.slow
def test_qtlmas_bigrr_default() -> None:
    """R's bigRR fit (qtlmas_polygenic_bigrr) is a default-conv fit far from the fixed point
    (20% in varRanef); our default bigrr fit must be at least as close to the fixed point
    (qtlmas_polygenic's tight block) as R's is, or within 2e-3 (compare.check_as_close_as_r).
    Its other fields (SeRe, dev, ... of R's internal n-space fit) have no counterpart."""
    r_bigrr, tight = load_ref("qtlmas_polygenic_bigrr"), load_ref("qtlmas_polygenic")["tight"]
    ours = fit_quantities(_qtlmas_bigrr_fit(False), 1)
    r_default, theirs = _ref_block(r_bigrr), _ref_block(tight)
    problems: list[str] = []
    for name in _BIGRR_QUANTITIES:
        check_as_close_as_r(problems, name, ours[name], r_default[name], theirs[name])
    _fail(problems, "qtlmas_polygenic_bigrr", "default")


def _ref_block(block: dict) -> dict[str, Any]:
    fixef = block["fixef"]
    return {
        "fixef": list(fixef.values()) if isinstance(fixef, dict) else fixef,
        "var_fix": block["varFix"],
        "var_ranef": block["varRanef"],
        "ranef": block["ranef"],
    }


# --- CAR: Scottish lip cancer ------------------------------------------------------------------


CAR_CASES = ["cancer_car", "cancer_car_eql1_legacy"]  # EQL and EQL1


@cache
def _car_fit(case: str, tight: bool) -> Any:
    t = load_ref(case)["tight"]
    controls = {"conv": t["conv"], "maxit": t["maxit"]} if tight else {}
    return hglm.hglm(**{**build_car_case(case), **controls})


def _car_parameters(problems: list[str], fit: Any, block: dict, rtol: float) -> None:
    check_close(problems, "car_rho", fit.car_rho, block["CAR.rho"], rtol)
    check_close(problems, "car_tau", fit.car_tau, block["CAR.tau"], rtol)


@pytest.mark.parametrize("case", CAR_CASES)
def test_cancer_car_tight(case: str) -> None:
    """All estimates against R's tight block (compare.assert_matches_tight without the
    hv/dev closed forms, which assume intercept-only random-effect dispersion models),
    and CAR.rho/CAR.tau at 1e-6.  For EQL1 this is R's EQL1 fixed point (R < 4.2
    semantics, reproducing the hglm vignette)."""
    ref = load_ref(case)
    fit = _car_fit(case, True)
    assert fit.method == ref["method"]
    problems: list[str] = []
    _car_parameters(problems, fit, ref["tight"], 1e-6)
    check_close(problems, "fixef", fit.fixef, ref["tight"]["fixef"], 1e-6)
    _fail(problems, case, "tight CAR parameters")
    assert_matches_tight(fit, ref, build_car_case(case), identities=False)


@pytest.mark.parametrize("case", CAR_CASES)
def test_cancer_car_default(case: str) -> None:
    """conv = 1e-9, maxit = 200 as in R: at least as close to the fixed point as R's fit."""
    ref = load_ref(case)
    kwargs = build_car_case(case)
    assert kwargs["conv"] == ref["options"]["conv"]
    assert kwargs["maxit"] == ref["options"]["maxit"]
    fit = _car_fit(case, False)
    problems: list[str] = []
    check_as_close_as_r(problems, "car_rho", fit.car_rho, ref["CAR.rho"], ref["tight"]["CAR.rho"])
    check_as_close_as_r(problems, "car_tau", fit.car_tau, ref["CAR.tau"], ref["tight"]["CAR.tau"])
    _fail(problems, case, "default CAR parameters")
    assert_default_close(fit, ref, kwargs, fixed_point=lambda: _car_fit(case, True))


# --- the formula layer itself --------------------------------------------------------------------


def _assert_same_fit(a: Any, b: Any, n_terms: int, what: str) -> None:
    problems: list[str] = []
    qa, qb = fit_quantities(a, n_terms), fit_quantities(b, n_terms)
    for name, expected in qb.items():
        check_close(problems, name, qa[name], expected, _EXACT_RTOL)
    for attr in ("hat_values", "deviances", "fitted", "resid", "linear_predictor"):
        check_close(problems, attr, getattr(a, attr), getattr(b, attr), _EXACT_RTOL)
    for attr in ("n_iter", "converged", "df_resid"):
        if getattr(a, attr) != getattr(b, attr):
            problems.append(f"{attr}: {getattr(a, attr)!r} != {getattr(b, attr)!r}")
    _fail(problems, what, "same fit")


@pytest.mark.parametrize("case", ["bacteria_binomial", "semiconductor_gamma"])
def test_formula_equals_matrix(case: str) -> None:
    """The formula interface and the matrix interface fit the same model identically."""
    fc = build_formula_case(case)
    fit_formula = reference_fit(case, False)
    fit_matrix = hglm.hglm(**fc.matrix)
    _assert_same_fit(fit_formula, fit_matrix, len(load_ref(case)["RandC"]), case)


@pytest.mark.parametrize("case", FORMULA_CASES)
def test_predict_training_data(case: str) -> None:
    """predict(df) rebuilds X, Z (and the offset) from the stored formulas: on the
    training data it gives the fitted means, and type="link" the linear predictor."""
    fit = reference_fit(case, False)
    df = build_formula_case(case).kwargs["data"]
    np.testing.assert_allclose(fit.predict(df), fit.fitted, rtol=_EXACT_RTOL)
    np.testing.assert_allclose(
        fit.predict(df, type="link"), fit.linear_predictor, rtol=_EXACT_RTOL, atol=1e-12
    )
    np.testing.assert_allclose(fit.predict(), fit.fitted, rtol=_EXACT_RTOL)


def test_missing_values_dropped() -> None:
    """Rows with NA in a used column (response, fixed covariate, grouping factor) are
    dropped with a UserWarning stating how many; NA in an unused column keeps the row."""
    fc = build_formula_case("bacteria_binomial")
    df = fc.kwargs["data"].copy()
    df["week"] = df["week"].astype(float)
    df.loc[3, "week"] = np.nan
    df.loc[10, "week"] = np.nan
    df.loc[20, "ID"] = None
    df.loc[40, "y"] = None
    df.loc[30, "ap"] = None  # unused column: the row stays
    used_na = [3, 10, 20, 40]
    # e.g. "4 of 220 rows dropped because of missing values in: ID, week, y"
    with pytest.warns(UserWarning, match=rf"\b{len(used_na)}\b.*\brows\b"):
        fit = hglm.hglm(**{**fc.kwargs, "data": df})
    complete = df.drop(index=used_na).reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # nothing to drop: no warning
        fit_complete = hglm.hglm(**{**fc.kwargs, "data": complete})
    assert len(fit.fitted) == len(df) - len(used_na)
    _assert_same_fit(fit, fit_complete, 1, "bacteria_binomial with NA rows")


@pytest.mark.parametrize(
    "call",
    [
        # binomial with estimated dispersion (quasi-binomial), formula interface
        lambda: hglm.hglm(**{**build_formula_case("bacteria_binomial").kwargs, "calc_like": True}),
        # poisson with estimated dispersion, hglm2
        lambda: hglm.hglm2(
            "S ~ factor(Gr) + (1|System)",
            data=build_formula_case("pump_poisson_gamma_log_fixdisp").kwargs["data"],
            family="poisson",
            offset="np.log(t)",
            calc_like=True,
        ),
        # matrix interface
        lambda: hglm.hglm(**build_case("bacteria_binomial"), calc_like=True),
    ],
    ids=["binomial-formula", "poisson-hglm2", "binomial-matrix"],
)
def test_calc_like_quasi_raises(call: Any) -> None:
    """R refuses likelihoods for binomial/Poisson with an estimated dispersion."""
    with pytest.raises(ValueError, match="calc_like"):
        call()


# (id, formula arguments, family, text the message must contain)
_BAD_FORMULAS = [
    ("unknown-fixed-column", {"fixed": "y ~ weeek", "random": "~ 1|ID"}, "binomial", "weeek"),
    ("unknown-grouping-column", {"fixed": "y ~ week", "random": "~ 1|IDD"}, "binomial", "IDD"),
    ("hglm2-unknown-fixed-column", {"formula": "y ~ weeek + (1|ID)"}, "binomial", "weeek"),
    ("hglm2-unknown-grouping-column", {"formula": "y ~ week + (1|IDD)"}, "binomial", "IDD"),
    ("bar-without-group", {"fixed": "y ~ week", "random": "~ 1|"}, "binomial", "grouping"),
    ("hglm2-bar-without-group", {"formula": "y ~ week + (1|)"}, "binomial", "grouping"),
    # y holds the labels n/y: a string response needs the binomial family
    ("string-response-gaussian", {"fixed": "y ~ week", "random": "~ 1|ID"}, "gaussian", "'y'"),
    ("hglm2-string-response-gaussian", {"formula": "y ~ week + (1|ID)"}, "gaussian", "'y'"),
]


@pytest.mark.parametrize(
    ("formulas", "family", "pattern"),
    [b[1:] for b in _BAD_FORMULAS],
    ids=[b[0] for b in _BAD_FORMULAS],
)
def test_bad_formula_raises(formulas: dict, family: str, pattern: str) -> None:
    """A bad formula raises ValueError naming the problem (on bacteria.csv)."""
    fit = hglm.hglm2 if "formula" in formulas else hglm.hglm
    data = build_formula_case("bacteria_binomial").kwargs["data"]
    with pytest.raises(ValueError, match=re.escape(pattern)):
        fit(**formulas, data=data, family=family)
