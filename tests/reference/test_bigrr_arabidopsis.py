"""The hglm tutorial's chapter 5 (``ref/bigrr/arabidopsis_binomial.json``): SNP-BLUP and
HEM of a binary trait of 84 Arabidopsis lines on 216,100 scaled SNPs, against R's bigRR
with the binomial dispersion fixed at 1 (``bigrr_fixdisp``, ``hem_fixdisp``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from shared import load_data, load_ref

import hglm
from hglm.fit import fit_markers, hem_weights

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::hglm.NumericalGuardWarning")]

# R's bigRR: plain rounds stopped at its tol.conv, with R's absolute deviance floor
R_CALL = dict(family="binomial", bigrr=True, accelerate=False, conv=1e-8, maxit=500,
              dev_floor="absolute")


@pytest.fixture(scope="module")
def data() -> tuple:
    ref = load_ref("bigrr/arabidopsis_binomial")
    y = load_data("arabidopsis_y.csv")["y"].to_numpy(dtype=float)
    Z = load_data("arabidopsis_Z.csv.gz", header=False).to_numpy(dtype=float)
    Z = (Z - Z.mean(axis=0)) / Z.std(axis=0, ddof=1)  # R's scale(Z)
    return ref, y, np.ones((y.shape[0], 1)), Z


@pytest.fixture(scope="module")
def snp_blup(data: tuple) -> hglm.BigRRResult:
    """SNP-BLUP as R's bigRR fits it, binomial dispersion fixed at 1."""
    _, y, X, Z = data
    return hglm.hglm(y=y, X=X, Z=Z, fix_disp=1, **R_CALL)


def _relative_to_max(got: np.ndarray, expected: list) -> float:
    expected = np.asarray(expected)
    return float(np.max(np.abs(got - expected)) / np.abs(expected).max())


def test_snp_blup_matches_r_bigrr(data: tuple, snp_blup: hglm.BigRRResult) -> None:
    """beta and lambda within 1e-5 relative, in R's 33 rounds."""
    r, fit = data[0]["bigrr_fixdisp"], snp_blup
    assert fit.converged and fit.n_iter == r["hglm_iter"]
    np.testing.assert_allclose(fit.fixef.iloc[0], r["beta"], rtol=1e-5)
    np.testing.assert_allclose(fit.var_ranef[0], r["lambda"], rtol=1e-5)


@pytest.mark.xfail(strict=True, reason="issue 17: the 216,100 effects agree with R's to "
                   "2.1e-5 of max|u|, not the 1e-5 asked (R's inner IWLS steps are not "
                   "reproduced exactly)")
def test_snp_blup_effects_match_r_bigrr(data: tuple, snp_blup: hglm.BigRRResult) -> None:
    u = data[0]["bigrr_fixdisp"]["u"]
    assert _relative_to_max(snp_blup.ranef.to_numpy(), u) < 1e-5


@pytest.mark.xfail(strict=True, reason="issue 17: R's bigRR leverages are not the hat "
                   "diagonal of the marker rows (R's 1 - h is 1.3 to 29 times ours); "
                   "docs/limitations.md")
def test_marker_leverages_match_r_bigrr(data: tuple, snp_blup: hglm.BigRRResult) -> None:
    np.testing.assert_allclose(snp_blup.leverage.to_numpy(),
                               data[0]["bigrr_fixdisp"]["leverage"], atol=1e-5)


@pytest.mark.xfail(strict=True, reason="issue 17: HEM refitted from R's own effects and "
                   "leverages reaches R's hem_fixdisp in the same 16 rounds, but beta and "
                   "lambda agree to 1e-4, not 1e-5, and the effects to 1e-3 of max|u|")
def test_hem_from_r_leverages_matches_r(data: tuple, snp_blup: hglm.BigRRResult) -> None:
    """HEM refitted with the weights of R's own SNP-BLUP effects and leverages against R's
    hem_fixdisp, at the issue's tolerances (R's leverages are not the hat diagonal that
    ours are, see docs/limitations.md, so HEM from our SNP-BLUP fit differs more)."""
    r, h = data[0]["bigrr_fixdisp"], data[0]["hem_fixdisp"]
    snp = snp_blup
    w = hem_weights(np.asarray(r["u"]), np.asarray(r["leverage"]))
    hem = fit_markers(snp.markers.problem, snp.markers.options, w)
    assert hem.engine.converged and hem.engine.n_iter == h["hglm_iter"]
    np.testing.assert_allclose(hem.engine.beta[0], h["beta"], rtol=1e-5)
    np.testing.assert_allclose(hem.engine.lam[0], h["lambda"], rtol=1e-5)
    assert _relative_to_max(hem.u, h["u"]) < 1e-5


def test_estimated_binomial_dispersion_collapses(data: tuple) -> None:
    """R's released bigRR estimates the binomial dispersion (blocks bigrr, hem: phi
    3.4e-4, not converged): the collapse is named, with fix_disp=1 as the way out, by a
    warning under R's deviance floor and by an error under the default (equivariant)
    floor, where the collapse goes on until the fit diverges."""
    ref, y, X, Z = data
    assert ref["bigrr"]["hglm_converged"] == "did not converge"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = hglm.hglm(y=y, X=X, Z=Z, family="binomial", bigrr=True, dev_floor="absolute")
    collapse = [w for w in caught if issubclass(w.category, hglm.BoundaryWarning)
                and "fix_disp=1" in str(w.message)]
    assert collapse and fit.var_fix < 1e-2
    with pytest.raises(ValueError, match="fix_disp: the estimated residual dispersion "
                                         "collapsed"):
        hglm.hglm(y=y, X=X, Z=Z, family="binomial", bigrr=True)
