"""The genomic benchmark P4 (issue 4): n = 1,000 records, 20,000 standardized genotypes.

y = mu + Z u + e has two REML solutions (../shared/bench/p4_reml_reference.json, computed
exactly through the eigen-decomposition of Z Z'): the real optimum (var_u 3.39e-5,
sigma2 0.320) and a boundary one where sigma2 -> 0 and Z u interpolates y.  R's hglm
with bigRR and statsmodels end at the boundary; our fit must find the real optimum, and
report a boundary fit when a start sends it there.

The data are regenerated with the benchmark's own generator (gen_data.gen_genomic, fixed
seed; only P4).  The module takes 20-45 s (machine load; the fits are n-space bigRR fits),
so it is slow.
"""

from __future__ import annotations

import importlib.util
import json
import warnings

import numpy as np
import pytest
from shared import shared_dir

import hglm

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::hglm.NumericalGuardWarning")]

N, M = 1_000, 20_000


def _bench_file(name: str):
    path = shared_dir() / "bench" / name
    if not path.is_file():
        pytest.skip(f"{path} not found (the benchmark generator / P4 reference)")
    return path


@pytest.fixture(scope="module")
def reference() -> dict:
    with open(_bench_file("p4_reml_reference.json")) as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def p4() -> dict:
    """P4 from gen_data.gen_genomic("p4", 1000, 20000), standardized as the benchmark does."""
    path = _bench_file("gen_data.py")
    spec = importlib.util.spec_from_file_location("hglm_bench_gen_data", path)
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    if not (hasattr(gen, "gen_genomic") and hasattr(gen, "standardize")):
        pytest.skip("gen_data.py has no gen_genomic/standardize functions to import")
    df, geno, info = gen.gen_genomic("p4", N, M)
    assert geno.shape == (N, M) and info["n"] == N and info["m"] == M
    y = df["y"].to_numpy(dtype=float)
    return {"y": y, "X": np.ones((N, 1)), "Z": gen.standardize(geno)}


def _fit_recording(**kw) -> tuple[hglm.HGLMResult, list[type]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = hglm.hglm(**kw)
    return fit, [w.category for w in caught]


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def test_default_fit_finds_the_interior_optimum(p4, reference) -> None:
    """The default fit (R's absolute deviance floor): the interior basin, sigma2 within 5%
    of the global optimum (the floor of 1e-8 biases var_u ~ 1e-5 by about 1-2%), far from
    the boundary, no BoundaryWarning; and the n-space solver was chosen (q = 20 n)."""
    glob = reference["global_optimum"]
    fit, caught = _fit_recording(y=p4["y"], X=p4["X"], Z=p4["Z"])
    assert fit._engine.fitter.marginal is not None
    assert fit.converged
    assert hglm.BoundaryWarning not in caught
    assert _rel(fit.var_fix, glob["sigma2"]) < 0.05, fit.var_fix
    assert _rel(fit.var_ranef[0], glob["var_u"]) < 0.05, fit.var_ranef
    assert fit.var_fix > 0.1 * np.var(p4["y"])  # nowhere near sigma2 -> 0
    np.testing.assert_allclose(fit.fixef.iloc[0], glob["mu"], rtol=1e-4)


def test_relative_floor_reaches_the_exact_optimum(p4, reference) -> None:
    """dev_floor="relative" is scale-invariant: at conv = 1e-12 the fit is the exact REML
    optimum (1e-5 relative)."""
    glob = reference["global_optimum"]
    fit, caught = _fit_recording(
        y=p4["y"], X=p4["X"], Z=p4["Z"], dev_floor="relative", conv=1e-12, maxit=500
    )
    assert fit.converged
    assert hglm.BoundaryWarning not in caught
    np.testing.assert_allclose(fit.var_ranef[0], glob["var_u"], rtol=1e-5)
    np.testing.assert_allclose(fit.var_fix, glob["sigma2"], rtol=1e-5)
    np.testing.assert_allclose(fit.fixef.iloc[0], glob["mu"], rtol=1e-5)


def _boundary_start(reference: dict, phi0: float) -> np.ndarray:
    """startval = (mu, v = 0, lambda, phi): the boundary optimum's mu and var_u, phi0."""
    bnd = reference["boundary_optimum"]
    return np.concatenate([[bnd["mu"]], np.zeros(M), [bnd["var_u"], phi0]])


def _assert_reported_honestly(fit, caught, p4, reference) -> str:
    """Either the fit is at the boundary (sigma2 < 1e-6 var(y)) and says so with a
    BoundaryWarning, or it is the interior optimum (sigma2 within 5%) with no such warning.
    A fit elsewhere must at least not claim convergence silently."""
    var_y = float(np.var(p4["y"]))
    glob, bnd = reference["global_optimum"], reference["boundary_optimum"]
    if fit.var_fix < 1e-6 * var_y:
        assert hglm.BoundaryWarning in caught, "boundary fit without a BoundaryWarning"
        assert _rel(fit.var_ranef[0], bnd["var_u"]) < 1e-3, fit.var_ranef
        return "boundary"
    if _rel(fit.var_fix, glob["sigma2"]) < 0.05:
        assert hglm.BoundaryWarning not in caught
        assert _rel(fit.var_ranef[0], glob["var_u"]) < 0.05
        assert fit.converged
        return "interior"
    flagged = (not fit.converged) or hglm.BoundaryWarning in caught
    assert flagged, (
        f"fit ended at sigma2 = {fit.var_fix:.3g} (boundary optimum ~0, global "
        f"{glob['sigma2']:.3g}), var_u = {fit.var_ranef[0]:.4g}, in {fit.n_iter} "
        f"iterations, reported converged={fit.converged} with no BoundaryWarning"
    )
    return "flagged"


@pytest.mark.parametrize("dev_floor", ["absolute", "relative"])
def test_start_in_the_boundary_basin(p4, reference, dev_floor) -> None:
    """A start in the boundary basin, phi0 = 1e-8 var(y): whichever optimum the fit ends
    in is reported as such (today: absolute -> interior, relative -> boundary with a
    BoundaryWarning)."""
    phi0 = 1e-8 * float(np.var(p4["y"]))
    fit, caught = _fit_recording(
        y=p4["y"], X=p4["X"], Z=p4["Z"], startval=_boundary_start(reference, phi0),
        dev_floor=dev_floor, maxit=200,
    )
    outcome = _assert_reported_honestly(fit, caught, p4, reference)
    assert outcome in ("boundary", "interior")


@pytest.mark.parametrize("dev_floor", ["absolute", "relative"])
def test_small_start_is_not_reported_as_converged(p4, reference, dev_floor) -> None:
    phi0 = 1e-4 * float(np.var(p4["y"]))
    fit, caught = _fit_recording(
        y=p4["y"], X=p4["X"], Z=p4["Z"], startval=_boundary_start(reference, phi0),
        dev_floor=dev_floor, maxit=200,
    )
    _assert_reported_honestly(fit, caught, p4, reference)
