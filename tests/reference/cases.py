"""The matrix-interface reference cases: ``hglm.hglm`` arguments rebuilt from the CSV files.

``build_case(name)`` returns the keyword arguments of :func:`hglm.hglm` that reproduce the
R call of ``../shared/ref/<name>.json`` (its ``r_setup`` and ``r_code``): ``y``, ``X`` and
``Z`` are built exactly as R builds them, from the data sets in ``../shared/data``, and only
the options the R call sets are passed (R's defaults are the library's defaults).
Cases fitted in R through the formula interfaces (bacteria_binomial*, pump, seeds,
dyestuff) are rebuilt here as the design matrices R's formula code produces.

``build_formula_case(name)`` returns the same cases as R called them, through
``hglm.hglm(fixed=, random=, data=)`` or ``hglm.hglm2(formula, data=)`` on the CSV
data (test_formula_cases.py), with the equivalent matrix-interface arguments beside them;
``build_car_case(name)`` builds the CAR cases (cancer_car*), which compare.py's
hv/dev identities do not cover and so are not in ``MATRIX_CASES``.

Every array is a plain numpy array (dense; Z of QTLMAS included).  Indicator matrices
have one column per level in sorted order (numerically for numbers, as strings for
labels), which is R's factor-level order for all these data sets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from shared import load_data

import hglm


def indicators(values: pd.Series | np.ndarray) -> np.ndarray:
    """R's ``model.matrix(~ 0 + factor(g))``: one 0/1 column per level, levels sorted."""
    values = np.asarray(values)
    levels = np.unique(values)
    return (values[:, None] == levels[None, :]).astype(float)


def _ones(n: int) -> np.ndarray:
    return np.ones((n, 1))


def _r_scale(x: np.ndarray) -> np.ndarray:
    """R's ``scale(x)`` of one column: centred, divided by the sd with denominator n - 1."""
    x = np.asarray(x, dtype=float)
    return (x - x.mean()) / x.std(ddof=1)


# --- bacteria (MASS) ---------------------------------------------------------------


def _bacteria_common() -> dict[str, Any]:
    # y = (y == "y"); X = model.matrix(~ week) = [1, week]; Z = ID indicators (levels sorted).
    df = load_data("bacteria.csv")
    y = (df["y"] == "y").to_numpy(dtype=float)
    week = df["week"].to_numpy(dtype=float)
    X = np.column_stack([np.ones(len(df)), week])
    return {"df": df, "y": y, "X": X, "week": week, "Z_id": indicators(df["ID"])}


def _bacteria_binomial() -> dict[str, Any]:
    b = _bacteria_common()
    return {"y": b["y"], "X": b["X"], "Z": b["Z_id"], "family": hglm.Binomial(link="logit")}


def _bacteria_binomial_fixdisp() -> dict[str, Any]:
    # R: fix.disp = 1, calc.like = TRUE; the likelihoods are not compared here, and
    # calc_like does not change the fit, so it is left at its default.
    return {**_bacteria_binomial(), "fix_disp": 1}


def _bacteria_randreg() -> dict[str, Any]:
    # Z.week <- Z * as.numeric(scale(week)); RandC = c(ncol(Z), ncol(Z.week)).
    b = _bacteria_common()
    z_week = b["Z_id"] * _r_scale(b["week"])[:, None]
    return {
        "y": b["y"],
        "X": b["X"],
        "Z": np.hstack([b["Z_id"], z_week]),
        "family": hglm.Binomial(link="logit"),
        "rand_c": [b["Z_id"].shape[1], z_week.shape[1]],
    }


# --- QTLMAS (hglm.data) ------------------------------------------------------------


def _qtlmas() -> pd.DataFrame:
    return load_data("QTLMAS.csv.gz")


def _qtlmas_columns(prefix: str) -> dict[str, Any]:
    """y, X = ones and Z = the QTLMAS columns <prefix>1, <prefix>2, ... in order."""
    df = _qtlmas()
    cols = [c for c in df.columns if c.startswith(prefix)]
    assert cols == [f"{prefix}{i}" for i in range(1, len(cols) + 1)]
    return {
        "y": df["y"].to_numpy(dtype=float),
        "X": _ones(len(df)),
        "Z": df[cols].to_numpy(dtype=float),
    }


def _qtlmas_polygenic() -> dict[str, Any]:
    # y <- QTLMAS[, 1]; X <- matrix(1, 1000, 1); Z <- as.matrix(QTLMAS[, 2:2026]) (Z1..Z2025).
    return _qtlmas_columns("Z")


def _qtlmas_markers_gamma() -> dict[str, Any]:
    # Z.markers <- as.matrix(QTLMAS[, 2027:2116]) (M1..M90); rand.family = Gamma(link = log).
    return {**_qtlmas_columns("M"), "rand_family": hglm.Gamma(link="log")}


# --- simulated vignette examples ---------------------------------------------------


def _simul(file: str) -> dict[str, Any]:
    # X = matrix(1, n, 1); Z = cluster indicators; X.disp = X_d = cbind(1, xd).
    df = load_data(file)
    n = len(df)
    return {
        "y": df["y"].to_numpy(dtype=float),
        "X": _ones(n),
        "Z": indicators(df["cluster"]),
        "x_disp": np.column_stack([np.ones(n), df["xd"].to_numpy(dtype=float)]),
    }


def _simul_heterosc() -> dict[str, Any]:
    return _simul("simul_heterosc.csv")


def _simul_pois() -> dict[str, Any]:
    return {**_simul("simul_pois.csv"), "family": hglm.Poisson(link="log")}


def _semiconductor_matrix() -> dict[str, Any]:
    # X = model.matrix(~ x1 + x3 + x5 + x6); Z = kronecker(diag(16), rep(1, 4));
    # X.disp = model.matrix(~ x2 + x3); family = Gamma(link = log).
    df = load_data("semiconductor.csv")
    n = len(df)
    one = np.ones(n)
    return {
        "y": df["y"].to_numpy(dtype=float),
        "X": np.column_stack(
            [one] + [df[c].to_numpy(dtype=float) for c in ("x1", "x3", "x5", "x6")]
        ),
        "Z": np.kron(np.eye(16), np.ones((4, 1))),
        "x_disp": np.column_stack([one, df["x2"].to_numpy(dtype=float), df["x3"].to_numpy(float)]),
        "family": hglm.Gamma(link="log"),
    }


def _sim_two_random_m21() -> dict[str, Any]:
    # X = cbind(rep(1, 100), x1, x2); Z = cbind(Z1, Z2) with Z1/Z2 the indicators of
    # z1 (A..J) and z2 (a..e); RandC = c(10, 5) (= the numbers of columns of Z1 and Z2).
    df = load_data("sim_two_random.csv")
    z1, z2 = indicators(df["z1"]), indicators(df["z2"])
    return {
        "y": df["y"].to_numpy(dtype=float),
        "X": np.column_stack(
            [np.ones(len(df)), df["x1"].to_numpy(float), df["x2"].to_numpy(float)]
        ),
        "Z": np.hstack([z1, z2]),
        "rand_c": [z1.shape[1], z2.shape[1]],
    }


def _sim_two_random_m20() -> dict[str, Any]:
    # hglm(X = cbind(rep(1, 100), x1, x2), y = y, Z = Z1, calc.like = TRUE): one random
    # term (z1 indicators); calc.like is added by the likelihood tests.
    m21 = _sim_two_random_m21()
    return {"y": m21["y"], "X": m21["X"], "Z": m21["Z"][:, : m21["rand_c"][0]]}


def _model_selection_hg1() -> dict[str, Any]:
    # Z = cbind(Z, Z2): ID indicators | Z2_1..Z2_20 (already scaled in the CSV);
    # RandC = c(ncol(Z), ncol(Z2)).  calc.like = TRUE in R: likelihoods not compared yet.
    df = load_data("model_selection.csv")
    z_id = indicators(df["ID"])
    z2cols = [c for c in df.columns if c.startswith("Z2_")]
    assert z2cols == [f"Z2_{i}" for i in range(1, len(z2cols) + 1)]
    z2 = df[z2cols].to_numpy(dtype=float)
    return {
        "y": df["y"].to_numpy(dtype=float),
        "X": _ones(len(df)),
        "Z": np.hstack([z_id, z2]),
        "rand_c": [z_id.shape[1], z2.shape[1]],
        # R's absolute deviance floor holds the near-zero second component at 1.3e-5
        # (R's fixed point); the library's relative floor lets it go to ~1e-9
        "dev_floor": "absolute",
    }


def _model_selection_hg2() -> dict[str, Any]:
    # hglm(y = y, X = X, Z = Z) with Z = ID indicators; calc.like = TRUE not passed (see hg1).
    df = load_data("model_selection.csv")
    return {"y": df["y"].to_numpy(dtype=float), "X": _ones(len(df)), "Z": indicators(df["ID"])}


def dhglm_data() -> dict[str, np.ndarray]:
    """y, X = ones, Z = ID indicators of ``dhglm_iter.csv`` (R: Z <- diag(k) %x% rep(1, n/k))."""
    df = load_data("dhglm_iter.csv")
    return {
        "y": df["y"].to_numpy(dtype=float),
        "X": _ones(len(df)),
        "Z": indicators(df["ID"]),
    }


def _dhglm_oneshot() -> dict[str, Any]:
    # hglm(X = matrix(1, n, 1), y = y, Z = Z, X.disp = Z): X.disp has no intercept column.
    d = dhglm_data()
    return {**d, "x_disp": d["Z"].copy()}


def _pump_poisson_gamma_log_fixdisp() -> dict[str, Any]:
    # S ~ factor(Gr): X = [1, Gr == 1]; random = ~1|System; offset = log(t);
    # family = poisson(), rand.family = Gamma(link = log), fix.disp = 1.
    df = load_data("pump.csv")
    return {
        "y": df["S"].to_numpy(dtype=float),
        "X": np.column_stack([np.ones(len(df)), (df["Gr"] == 1).to_numpy(dtype=float)]),
        "Z": indicators(df["System"]),
        "offset": np.log(df["t"].to_numpy(dtype=float)),
        "family": hglm.Poisson(link="log"),
        "rand_family": hglm.Gamma(link="log"),
        "fix_disp": 1,
    }


def _seeds_common() -> dict[str, Any]:
    # r/n ~ extract * I(seed == "O73"), weights = n, random = ~1|plate, family = binomial(),
    # rand.family = Beta().  X columns in R's order: (Intercept), extractCucumber,
    # I(seed == "O73")TRUE, extractCucumber:I(seed == "O73")TRUE.
    df = load_data("seeds.csv")
    cucumber = (df["extract"] == "Cucumber").to_numpy(dtype=float)
    o73 = (df["seed"] == "O73").to_numpy(dtype=float)
    return {
        "y": (df["r"] / df["n"]).to_numpy(dtype=float),
        "weights": df["n"].to_numpy(dtype=float),
        "X": np.column_stack([np.ones(len(df)), cucumber, o73, cucumber * o73]),
        "Z": indicators(df["plate"]),
        "family": hglm.Binomial(link="logit"),
        "rand_family": hglm.Beta(),
    }


def _seeds_binomial_beta() -> dict[str, Any]:
    return {**_seeds_common(), "conv": 0.005}


def _seeds_binomial_beta_fixdisp() -> dict[str, Any]:
    return {**_seeds_common(), "fix_disp": 1}


def _dyestuff_lmm() -> dict[str, Any]:
    # hglm2(Yield ~ 1 + (1|Batch)) as matrices: X = ones, Z = Batch indicators (A..F).
    # calc.like = TRUE in R: likelihoods not compared here.
    df = load_data("Dyestuff.csv")
    return {
        "y": df["Yield"].to_numpy(dtype=float),
        "X": _ones(len(df)),
        "Z": indicators(df["Batch"]),
    }


_BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "bacteria_randreg": _bacteria_randreg,
    "qtlmas_polygenic": _qtlmas_polygenic,
    "qtlmas_markers_gamma": _qtlmas_markers_gamma,
    "simul_heterosc": _simul_heterosc,
    "simul_pois": _simul_pois,
    "semiconductor_matrix": _semiconductor_matrix,
    "sim_two_random_m21": _sim_two_random_m21,
    "sim_two_random_m20": _sim_two_random_m20,
    "model_selection_hg1": _model_selection_hg1,
    "model_selection_hg2": _model_selection_hg2,
    "dhglm_oneshot": _dhglm_oneshot,
    "bacteria_binomial": _bacteria_binomial,
    "bacteria_binomial_fixdisp": _bacteria_binomial_fixdisp,
    "pump_poisson_gamma_log_fixdisp": _pump_poisson_gamma_log_fixdisp,
    "seeds_binomial_beta": _seeds_binomial_beta,
    "seeds_binomial_beta_fixdisp": _seeds_binomial_beta_fixdisp,
    "dyestuff_lmm": _dyestuff_lmm,
}

#: The single-call reference cases fitted here through the matrix interface.
MATRIX_CASES: tuple[str, ...] = tuple(_BUILDERS)


def build_case(name: str) -> dict[str, Any]:
    """The keyword arguments of ``hglm.hglm`` for reference case ``name`` (fresh arrays)."""
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise KeyError(f"no matrix-interface builder for reference case {name!r}") from None
    return builder()


# --- the formula interfaces (R: hglm(fixed =, random =, data =) and hglm2) ---------------


@dataclass(frozen=True)
class FormulaCase:
    """A reference case called as its R code calls it, through a formula interface.

    Attributes
    ----------
    fit : callable
        ``hglm.hglm`` or ``hglm.hglm2``; ``fit(**kwargs)`` is the R call.
    kwargs : dict
        Its keyword arguments (``formula`` for hglm2; ``data`` a fresh DataFrame).
    matrix : dict
        The same model through the matrix interface (:func:`build_case`); compare.py reads
        ``fix_disp`` and ``x_disp`` from it for its hat-value identities.
    """

    fit: Callable[..., Any]
    kwargs: dict[str, Any]
    matrix: dict[str, Any]


def _f_bacteria_binomial() -> FormulaCase:
    # hglm(fixed = y ~ week, random = ~1|ID, data = bacteria, family = binomial(link = logit));
    # y has the labels n/y: the last sorted level ("y") is a success, as in R.
    kwargs = {
        "fixed": "y ~ week",
        "random": "~ 1|ID",
        "data": load_data("bacteria.csv"),
        "family": hglm.Binomial(link="logit"),
    }
    return FormulaCase(hglm.hglm, kwargs, _bacteria_binomial())


def _f_bacteria_binomial_fixdisp() -> FormulaCase:
    # ... fix.disp = 1, calc.like = TRUE
    base = _f_bacteria_binomial()
    kwargs = {**base.kwargs, "fix_disp": 1, "calc_like": True}
    return FormulaCase(hglm.hglm, kwargs, _bacteria_binomial_fixdisp())


def _f_pump_poisson_gamma_log_fixdisp() -> FormulaCase:
    # hglm(fixed = S ~ factor(Gr), random = ~1|System, offset = log(t), fix.disp = 1,
    #      family = poisson(), rand.family = Gamma(link = log), data = pump)
    kwargs = {
        "fixed": "S ~ factor(Gr)",
        "random": "~ 1|System",
        "offset": "np.log(t)",
        "fix_disp": 1,
        "family": hglm.Poisson(),
        "rand_family": hglm.Gamma(link="log"),
        "data": load_data("pump.csv"),
    }
    return FormulaCase(hglm.hglm, kwargs, _pump_poisson_gamma_log_fixdisp())


def _seeds_formula() -> dict[str, Any]:
    # hglm(fixed = r/n ~ extract*I(seed == "O73"), weights = n, data = seeds,
    #      random = ~1|plate, family = binomial(), rand.family = Beta(), ...)
    return {
        "fixed": 'r/n ~ extract*I(seed == "O73")',
        "weights": "n",
        "data": load_data("seeds.csv"),
        "random": "~ 1|plate",
        "family": hglm.Binomial(),
        "rand_family": hglm.Beta(),
    }


def _f_seeds_binomial_beta() -> FormulaCase:
    return FormulaCase(hglm.hglm, {**_seeds_formula(), "conv": 0.005}, _seeds_binomial_beta())


def _f_seeds_binomial_beta_fixdisp() -> FormulaCase:
    return FormulaCase(
        hglm.hglm, {**_seeds_formula(), "fix_disp": 1}, _seeds_binomial_beta_fixdisp()
    )


def _f_semiconductor_gamma() -> FormulaCase:
    # hglm(fixed = y ~ x1 + x3 + x5 + x6, random = ~1|Device, family = Gamma(link = log),
    #      disp = ~ x2 + x3, data = semiconductor)
    kwargs = {
        "fixed": "y ~ x1 + x3 + x5 + x6",
        "random": "~ 1|Device",
        "family": hglm.Gamma(link="log"),
        "disp": "~ x2 + x3",
        "data": load_data("semiconductor.csv"),
    }
    return FormulaCase(hglm.hglm, kwargs, _semiconductor_matrix())


def _f_semiconductor_gamma_like() -> FormulaCase:
    base = _f_semiconductor_gamma()
    return FormulaCase(hglm.hglm, {**base.kwargs, "calc_like": True}, base.matrix)


def _f_semiconductor_hglm2() -> FormulaCase:
    # hglm2(y ~ x1 + x3 + x5 + x6 + (1|Device), family = Gamma(link = log),
    #       disp = ~ x2 + x3, data = semiconductor)
    kwargs = {
        "formula": "y ~ x1 + x3 + x5 + x6 + (1|Device)",
        "family": hglm.Gamma(link="log"),
        "disp": "~ x2 + x3",
        "data": load_data("semiconductor.csv"),
    }
    return FormulaCase(hglm.hglm2, kwargs, _semiconductor_matrix())


def _f_sim_two_random_m22() -> FormulaCase:
    # hglm2(y ~ x1 + x2 + (1|z1) + (1|z2), data = dd, vcovmat = TRUE)
    kwargs = {
        "formula": "y ~ x1 + x2 + (1|z1) + (1|z2)",
        "data": load_data("sim_two_random.csv"),
        "vcovmat": True,
    }
    return FormulaCase(hglm.hglm2, kwargs, _sim_two_random_m21())


def _f_sim_two_random_m31() -> FormulaCase:
    # hglm2(y ~ x1 + x2 + (1|z1) + (1|z2), disp = ~ x3, data = dd); X.disp = [1, x3]
    df = load_data("sim_two_random.csv")
    kwargs = {"formula": "y ~ x1 + x2 + (1|z1) + (1|z2)", "disp": "~ x3", "data": df}
    x_disp = np.column_stack([np.ones(len(df)), df["x3"].to_numpy(dtype=float)])
    return FormulaCase(hglm.hglm2, kwargs, {**_sim_two_random_m21(), "x_disp": x_disp})


def _f_dyestuff_lmm() -> FormulaCase:
    # hglm2(Yield ~ 1 + (1|Batch), data = Dyestuff, calc.like = TRUE)
    kwargs = {
        "formula": "Yield ~ 1 + (1|Batch)",
        "data": load_data("Dyestuff.csv"),
        "calc_like": True,
    }
    return FormulaCase(hglm.hglm2, kwargs, _dyestuff_lmm())


_FORMULA_BUILDERS: dict[str, Callable[[], FormulaCase]] = {
    "bacteria_binomial": _f_bacteria_binomial,
    "bacteria_binomial_fixdisp": _f_bacteria_binomial_fixdisp,
    "pump_poisson_gamma_log_fixdisp": _f_pump_poisson_gamma_log_fixdisp,
    "seeds_binomial_beta": _f_seeds_binomial_beta,
    "seeds_binomial_beta_fixdisp": _f_seeds_binomial_beta_fixdisp,
    "semiconductor_gamma": _f_semiconductor_gamma,
    "semiconductor_gamma_like": _f_semiconductor_gamma_like,
    "semiconductor_hglm2": _f_semiconductor_hglm2,
    "sim_two_random_m22": _f_sim_two_random_m22,
    "sim_two_random_m31": _f_sim_two_random_m31,
    "dyestuff_lmm": _f_dyestuff_lmm,
}

#: The reference cases whose R call uses a formula interface.
FORMULA_CASES: tuple[str, ...] = tuple(_FORMULA_BUILDERS)


def build_formula_case(name: str) -> FormulaCase:
    """Reference case ``name`` as its R call makes it, through a formula interface."""
    try:
        builder = _FORMULA_BUILDERS[name]
    except KeyError:
        raise KeyError(f"no formula-interface builder for reference case {name!r}") from None
    return builder()


# --- CAR (Scottish lip cancer) -------------------------------------------------------


def build_car_case(name: str) -> dict[str, Any]:
    """cancer_car / cancer_car_eql1_legacy: X11 = model.matrix(~Paff), y = O,
    Z = diag(56), rand.family = CAR(D = nbr), offset = log(E), conv = 1e-9, maxit = 200,
    fix.disp = 1 (and method = "EQL1" for the legacy case)."""
    methods = {"cancer_car": "EQL", "cancer_car_eql1_legacy": "EQL1"}
    if name not in methods:
        raise KeyError(f"no CAR builder for reference case {name!r}")
    df = load_data("cancer.csv")
    nbr = load_data("cancer_nbr.csv", header=False).to_numpy(dtype=float)
    n = len(df)
    kwargs: dict[str, Any] = {
        "X": np.column_stack([np.ones(n), df["Paff"].to_numpy(dtype=float)]),
        "y": df["O"].to_numpy(dtype=float),
        "Z": np.eye(n),
        "family": hglm.Poisson(),
        "rand_family": hglm.CAR(nbr),
        "offset": np.log(df["E"].to_numpy(dtype=float)),
        "conv": 1e-9,
        "maxit": 200,
        "fix_disp": 1,
    }
    if methods[name] != "EQL":
        kwargs["method"] = methods[name]
    return kwargs
