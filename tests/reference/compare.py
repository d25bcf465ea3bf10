"""Comparison of an ``HGLMResult`` with a reference JSON of R's hglm.

Two comparisons, both reading every expected number from the JSON:

``assert_matches_tight(fit, ref, kwargs)``
    A fit made with the tight block's ``conv``/``maxit`` against ``ref["tight"]`` (R's fixed
    point) at rtol 1e-6, plus the internal consistency of our hat values and deviances with
    the dispersion estimates (R's hv/dev are stored only for the default fit).
``assert_default_close(fit, ref, kwargs, fixed_point)``
    A fit made with the case's own settings must be at least as close to the tight fixed
    point as R's default fit is (or within 2e-3 relative), and its hat values, deviances,
    fitted values and residuals must match R's default ones (within a tolerance derived
    from how far R's default is from tight, or -- where R's default is far from it -- be
    at least as close to the fixed point as R's; see check_default_vectors).

All mismatches of one fit are collected and reported together, each with the worst
element (actual vs expected), the max absolute and the max relative difference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

# tight block: rtol and atol = _TIGHT_RTOL * max(1, max|expected|) per quantity
_TIGHT_RTOL = 1e-6
# default fit: allowed distance to tight = max(|R default - tight|, 2e-3 |tight|) + 1e-8
_DEFAULT_REL = 2e-3
_DEFAULT_FLOOR = 1e-8
# identities between hat values/deviances and the dispersion estimates (our tight fit)
_IDENTITY_RTOL = 1e-8
# hv/dev/fv/resid vs R's default: rtol = max(5e-3, 20 * max_rel_change_vs_default), at most
# 5e-2 (see default_vector_rtol), and atol = 1e-2 * rtol * max|expected|.
_VEC_RTOL_MIN = 5e-3
_VEC_RTOL_FACTOR = 20.0
_VEC_RTOL_CAP = 5e-2
_VEC_ATOL_FRACTION = 1e-2


# --- extracting the quantities -------------------------------------------------------


def _arr(x: Any) -> np.ndarray | None:
    if x is None:
        return None
    return np.atleast_1d(np.asarray(x, dtype=float))


def _table_cols(table: Any, prefix: str) -> dict[str, np.ndarray | None]:
    """``estimate``/``std_error`` of a dispersion-model table (DataFrame or R JSON dict)."""
    if table is None:
        return {f"{prefix}.estimate": None, f"{prefix}.std_error": None}
    return {
        f"{prefix}.estimate": _arr(table["estimate"]),
        f"{prefix}.std_error": _arr(table["std_error"]),
    }


def fit_quantities(fit: Any, n_terms: int) -> dict[str, np.ndarray | None]:
    """Our estimates keyed like :func:`ref_quantities` (one array per quantity)."""
    out: dict[str, np.ndarray | None] = {
        "fixef": _arr(fit.fixef),
        "se_fixef": _arr(fit.se_fixef),
        "ranef": _arr(fit.ranef),
        "se_ranef": _arr(fit.se_ranef),
        "var_fix": _arr(fit.var_fix),
        "var_ranef": _arr(fit.var_ranef),
    }
    out.update(_table_cols(fit.disp_coef, "disp_coef"))
    rdc = fit.rand_disp_coef
    for k in range(n_terms):
        table = rdc[k] if rdc is not None and k < len(rdc) else None
        out.update(_table_cols(table, f"rand_disp_coef[{k}]"))
    return out


def ref_quantities(block: dict) -> dict[str, np.ndarray | None]:
    """R's estimates in a top-level or tight block, keyed by our attribute names."""
    fixef = block["fixef"]
    if isinstance(fixef, dict):  # top level: {name: value} in X's column order
        fixef = list(fixef.values())
    out: dict[str, np.ndarray | None] = {
        "fixef": _arr(fixef),
        "se_fixef": _arr(block["SeFe"]),
        "ranef": _arr(block["ranef"]),
        "se_ranef": _arr(block["SeRe"]),
        "var_fix": _arr(block["varFix"]),
        "var_ranef": _arr(block["varRanef"]),
    }
    out.update(_table_cols(block["SummVC1"], "disp_coef"))
    for k, table in enumerate(block["SummVC2"]):
        out.update(_table_cols(table, f"rand_disp_coef[{k}]"))
    return out


# --- reporting ---------------------------------------------------------------------------


def _worst(actual: np.ndarray, expected: np.ndarray, excess: np.ndarray) -> str:
    """Worst element (largest excess over its tolerance), max abs and max rel difference."""
    diff = np.abs(actual - expected)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(expected != 0, diff / np.abs(expected), np.inf * (diff > 0))
    i = int(np.nanargmax(excess))
    n_bad = int(np.sum(excess > 0))
    return (
        f"{n_bad}/{actual.size} elements off; worst [{i}]: actual {float(actual[i])!r} vs "
        f"expected {float(expected[i])!r}; max abs diff {diff.max():.3e}, "
        f"max rel diff {np.nanmax(rel):.3e}"
    )


def _shape_problem(name: str, actual: np.ndarray | None, expected: np.ndarray | None) -> str | None:
    if expected is None:
        return None if actual is None else f"{name}: expected None (R: null), got {actual!r}"
    if actual is None:
        return f"{name}: got None, expected {expected.size} value(s)"
    if actual.shape != expected.shape:
        return f"{name}: shape {actual.shape}, expected {expected.shape}"
    if not np.all(np.isfinite(actual)):
        return f"{name}: non-finite values in {actual!r}"
    return None


def check_close(
    problems: list[str],
    name: str,
    actual: Any,
    expected: Any,
    rtol: float,
    atol: float | None = None,
) -> None:
    """Append to ``problems`` unless |actual - expected| <= atol + rtol |expected|.

    ``atol`` defaults to ``rtol * max(1, max|expected|)``.
    """
    actual, expected = _arr(actual), _arr(expected)
    msg = _shape_problem(name, actual, expected)
    if msg is not None:
        problems.append(msg)
        return
    if expected is None:
        return
    if atol is None:
        atol = rtol * max(1.0, float(np.max(np.abs(expected)))) if expected.size else rtol
    excess = np.abs(actual - expected) - (atol + rtol * np.abs(expected))
    if expected.size and np.max(excess) > 0:
        problems.append(
            f"{name} (rtol {rtol:.1e}, atol {atol:.1e}): " + _worst(actual, expected, excess)
        )


def is_bool(x: Any, value: bool) -> bool:
    """``x`` is a (numpy) boolean equal to ``value``."""
    return isinstance(x, bool | np.bool_) and bool(x) is value


def _fail(problems: Sequence[str], case: str, what: str) -> None:
    if problems:
        pytest.fail(f"{case} ({what}): {len(problems)} mismatch(es)\n  " + "\n  ".join(problems))


# --- the tight comparison ----------------------------------------------------------------


def _term_slices(ref: dict) -> list[slice]:
    n = int(ref["n_obs"])
    out, start = [], n
    for c in ref["RandC"]:
        out.append(slice(start, start + int(c)))
        start += int(c)
    return out


def check_hv_dev_identities(
    problems: list[str], fit: Any, ref: dict, kwargs: dict, expected: dict | None = None
) -> None:
    """Our hat values and deviances against our own dispersion estimates (a fixed point).

    For an intercept-only log-link gamma dispersion GLM of d/(1 - h) with weights (1 - h)/2
    the estimate is closed-form: phi = sum(d)/sum(1 - h) and SE(log phi) =
    sqrt(2/sum(1 - h)); with covariates X_d the SEs are sqrt(diag((X_d' diag((1-h)/2) X_d)^-1))
    and the fitted dispersion is exp(X_d coef).  R's stored default fits satisfy all of
    these to ~1e-10.  ``expected`` (R's tight block) adds a check of the hv/dev-based phi
    and lambda against R's numbers at the tight tolerance.
    """
    n = int(ref["n_obs"])
    q = int(ref["n_ranef"])
    hv, dev = _arr(fit.hat_values), _arr(fit.deviances)
    for name, v in (("hat_values", hv), ("deviances", dev)):
        msg = _shape_problem(name, v, np.zeros(n + q))
        if msg:
            problems.append(msg + " (n + q rows)")
            return
    one_minus_h = 1.0 - hv

    # residual dispersion
    if kwargs.get("fix_disp") is None:
        x_disp = kwargs.get("x_disp")
        disp_coef = fit.disp_coef
        if disp_coef is None:
            problems.append("disp_coef is None although the residual dispersion is estimated")
        elif x_disp is None:
            phi = dev[:n].sum() / one_minus_h[:n].sum()
            check_close(
                problems,
                "var_fix vs sum(dev[:n])/sum(1-hv[:n])",
                fit.var_fix,
                phi,
                _IDENTITY_RTOL,
                0.0,
            )
            check_close(
                problems,
                "disp_coef.std_error vs sqrt(2/sum(1-hv[:n]))",
                disp_coef["std_error"],
                np.sqrt(2.0 / one_minus_h[:n].sum()),
                _IDENTITY_RTOL,
                0.0,
            )
            if expected is not None:
                check_close(
                    problems,
                    "sum(dev[:n])/sum(1-hv[:n]) vs tight varFix",
                    phi,
                    expected["varFix"],
                    _TIGHT_RTOL,
                )
        else:
            xd = np.asarray(x_disp, dtype=float)
            info = xd.T @ (xd * (one_minus_h[:n] / 2.0)[:, None])
            check_close(
                problems,
                "disp_coef.std_error vs sqrt(diag((Xd' W Xd)^-1)), W=(1-hv)/2",
                disp_coef["std_error"],
                np.sqrt(np.diag(np.linalg.inv(info))),
                _IDENTITY_RTOL,
                0.0,
            )
            check_close(
                problems,
                "disp_fitted vs exp(x_disp @ disp_coef.estimate)",
                fit.disp_fitted,
                np.exp(xd @ np.asarray(disp_coef["estimate"], float)),
                _IDENTITY_RTOL,
                0.0,
            )

    # random-effect dispersions (all intercept-only, log link)
    var_ranef = _arr(fit.var_ranef)
    rdc = fit.rand_disp_coef
    for k, s in enumerate(_term_slices(ref)):
        lam = dev[s].sum() / one_minus_h[s].sum()
        if var_ranef is None or var_ranef.size <= k:
            problems.append(f"var_ranef has no entry {k}")
        else:
            check_close(
                problems,
                f"var_ranef[{k}] vs sum(dev)/sum(1-hv) over term {k}'s rows",
                var_ranef[k],
                lam,
                _IDENTITY_RTOL,
                0.0,
            )
        if rdc is None or len(rdc) <= k:
            problems.append(f"rand_disp_coef has no entry {k}")
        else:
            check_close(
                problems,
                f"rand_disp_coef[{k}].std_error vs sqrt(2/sum(1-hv))",
                rdc[k]["std_error"],
                np.sqrt(2.0 / one_minus_h[s].sum()),
                _IDENTITY_RTOL,
                0.0,
            )
        if expected is not None:
            check_close(
                problems,
                f"sum(dev)/sum(1-hv) over term {k} vs tight varRanef[{k}]",
                lam,
                expected["varRanef"][k],
                _TIGHT_RTOL,
            )

    # deviance degrees of freedom: round(n - p_D), p_D = sum of the observation leverages
    df_hv = int(np.round(n - hv[:n].sum()))
    if fit.df_resid != df_hv:
        problems.append(f"df_resid {fit.df_resid!r} != round(n - sum(hv[:n])) = {df_hv}")


def assert_matches_tight(
    fit: Any,
    ref: dict,
    kwargs: dict,
    rtol_overrides: dict[str, float] | None = None,
    identities: bool = True,
) -> None:
    """A fit made with ``conv``/``maxit`` of ``ref["tight"]`` against R's tight block.

    ``rtol_overrides`` widens the tolerance of named quantities for a documented deviation
    of R's stored numbers (the caller must check those quantities independently).
    ``identities=False`` skips :func:`check_hv_dev_identities`, whose closed forms hold
    only for intercept-only log-link dispersion models of the random terms (not for
    CAR/SAR terms, whose dispersion GLM is on the eigenvalues of the neighbourhood matrix).
    """
    tight = ref["tight"]
    problems: list[str] = []
    if not is_bool(fit.converged, True):
        problems.append(f"converged is {fit.converged!r} (R's tight refit: {tight['converged']})")
    n_terms = len(ref["RandC"])
    ours, theirs = fit_quantities(fit, n_terms), ref_quantities(tight)
    overrides = rtol_overrides or {}
    for name, expected in theirs.items():
        check_close(problems, name, ours[name], expected, overrides.get(name, _TIGHT_RTOL))
    if not isinstance(fit.df_resid, int | np.integer) or fit.df_resid != tight["dfReFe"]:
        problems.append(f"df_resid: {fit.df_resid!r}, expected the integer {tight['dfReFe']}")
    if identities:
        check_hv_dev_identities(problems, fit, ref, kwargs, expected=tight)
    _fail(problems, ref["case"], "tight")


# --- the default comparison --------------------------------------------------------------


def default_vector_rtol(ref: dict) -> float:
    """rtol for hv/dev/fv/resid/disp_fv of the default fit against R's default values.

    max(5e-3, 20 * max_rel_change_vs_default): R's default fit is itself that far from the
    fixed point in its slowest parameter, so an implementation stopping at a slightly
    different iterate may differ from R's default by about that much.  Capped at 5e-2:
    where R's default is far from tight (bacteria_randreg 17%, qtlmas_polygenic 20%,
    seeds_binomial_beta 57%, model_selection_hg1 92% -- each in one slowly converging
    variance component or a coefficient near zero) the uncapped rule gives rtol > 0.3,
    which would make the check vacuous.
    """
    mrc = float(ref["tight"]["max_rel_change_vs_default"])
    return min(max(_VEC_RTOL_MIN, _VEC_RTOL_FACTOR * mrc), _VEC_RTOL_CAP)


def _vector_pairs(fit: Any, ref: dict) -> list[tuple[str, str, Any]]:
    """(label, our attribute, R's default values) of the per-observation vectors."""
    pairs = [
        ("hat_values", "hat_values", ref["hv"]),
        ("deviances", "deviances", ref["dev"]),
        ("fitted", "fitted", ref["fv"]),
        ("resid", "resid", ref["resid"]),
    ]
    if ref.get("disp_fv") is not None:
        pairs.append(("disp_fitted", "disp_fitted", ref["disp_fv"]))
    return pairs


def check_default_vectors(
    problems: list[str],
    fit: Any,
    ref: dict,
    rtol: float,
    fixed_point: Callable[[], Any] | None = None,
) -> None:
    """Hat values, deviances (n + q), fitted values, residuals, fitted dispersion vs R.

    Each element must be within ``rtol`` (default_vector_rtol; atol = 1e-2 * rtol *
    max|R|) of R's default value, or else -- the fallback, needed only where R's default
    is far from the fixed point -- at least as close to the fixed point as R's default is:
    |ours - fp| <= |R default - fp| + atol, with fp the same vector of our tight fit
    (``fixed_point()``, made with the tight block's conv/maxit).  R stores these vectors
    for the default fit only, and our tight fit stands for R's fixed point: test_tight
    checks it against R's tight block at 1e-6 and its hv/dev against the tight dispersion
    estimates.  Measured with the engine of this writing, the fallback is needed only for
    the far cases (qtlmas_polygenic: 2020/3025 hat values off by up to 19% relative;
    model_selection_hg1, seeds_binomial_beta, bacteria_randreg deviances,
    qtlmas_markers_gamma resid near 0), where our default fit stops closer to the fixed
    point than R's.  Without ``fixed_point`` only the rtol rule applies.
    """
    fp_fit = None
    for name, attr, expected in _vector_pairs(fit, ref):
        actual, expected = _arr(getattr(fit, attr)), _arr(expected)
        msg = _shape_problem(name, actual, expected)
        if msg:
            problems.append(msg)
            continue
        atol = _VEC_ATOL_FRACTION * rtol * float(np.max(np.abs(expected)))
        diff = np.abs(actual - expected)
        excess = diff - (atol + rtol * np.abs(expected))
        if np.max(excess) <= 0:
            continue
        if fixed_point is None:
            problems.append(
                f"{name} vs R default (rtol {rtol:.1e}, atol {atol:.1e}): "
                + _worst(actual, expected, excess)
            )
            continue
        if fp_fit is None:
            fp_fit = fixed_point()
        fp = _arr(getattr(fp_fit, attr))
        msg = _shape_problem(f"{name} (our tight fit)", fp, expected)
        if msg:
            problems.append(msg)
            continue
        excess_fp = np.abs(actual - fp) - (np.abs(expected - fp) + atol)
        bad = (excess > 0) & (excess_fp > 0)
        if np.any(bad):
            i = int(np.argmax(np.where(bad, excess_fp, -np.inf)))
            problems.append(
                f"{name} vs R default (rtol {rtol:.1e}, atol {atol:.1e}), "
                f"{int(bad.sum())}/{expected.size} elements off and farther from our tight fit "
                f"than R's default; worst [{i}]: ours {float(actual[i])!r}, R default "
                f"{float(expected[i])!r}, our tight {float(fp[i])!r}; max abs diff vs R "
                f"{diff.max():.3e}"
            )


def check_as_close_as_r(
    problems: list[str],
    name: str,
    actual: Any,
    r_default: Any,
    tight: Any,
    rel: float = _DEFAULT_REL,
    floor: float = _DEFAULT_FLOOR,
) -> None:
    """Append to ``problems`` unless every element of ``actual`` is as close to ``tight``
    as R's default fit is, or within ``rel`` relative of it:
    |ours - tight| <= max(|R default - tight|, rel |tight|) + floor.
    """
    a, d, t = _arr(actual), _arr(r_default), _arr(tight)
    msg = _shape_problem(name, a, t) or _shape_problem(f"{name} (R default)", d, t)
    if msg:
        problems.append(msg)
        return
    if t is None or t.size == 0:
        return
    allowed = np.maximum(np.abs(d - t), rel * np.abs(t)) + floor
    excess = np.abs(a - t) - allowed
    if np.max(excess) > 0:
        i = int(np.argmax(excess))
        problems.append(
            f"{name}: {int(np.sum(excess > 0))}/{t.size} elements farther from tight than "
            f"allowed; worst [{i}]: ours {float(a[i])!r}, R default {float(d[i])!r}, "
            f"tight {float(t[i])!r}, "
            f"|ours - tight| {abs(a[i] - t[i]):.3e} > allowed {allowed[i]:.3e}"
        )


def assert_default_close(
    fit: Any, ref: dict, kwargs: dict, fixed_point: Callable[[], Any] | None = None
) -> None:
    """A fit with the case's own settings: as close to tight as R's default fit, or 2e-3.

    Per element of every estimate: |ours - tight| <= max(|R default - tight|, 2e-3 |tight|)
    + 1e-8; df_resid between R's default and tight dfReFe; the per-observation vectors
    as in :func:`check_default_vectors` (``fixed_point`` returns our tight fit, called only
    when needed).
    """
    tight = ref["tight"]
    problems: list[str] = []
    if not is_bool(fit.converged, ref["converged"]):
        problems.append(f"converged is {fit.converged!r}, R: {ref['converged']}")
    n_terms = len(ref["RandC"])
    ours, r_default, r_tight = (
        fit_quantities(fit, n_terms),
        ref_quantities(ref),
        ref_quantities(tight),
    )
    for name, t in r_tight.items():
        check_as_close_as_r(problems, name, ours[name], r_default[name], t)
    lo, hi = sorted((ref["dfReFe"], tight["dfReFe"]))
    if not (isinstance(fit.df_resid, int | np.integer) and lo <= fit.df_resid <= hi):
        problems.append(f"df_resid {fit.df_resid!r} not in [{lo}, {hi}] (R default, tight)")
    check_default_vectors(problems, fit, ref, default_vector_rtol(ref), fixed_point)
    _fail(problems, ref["case"], "default")
