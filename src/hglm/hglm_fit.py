"""The route of R's hglm: from the model's arrays (the matrix interface) or the formula
layer's design to a fitted result.

The model is assembled by ``spec`` (:func:`~hglm.spec.assemble`), fitted by ``fit``
(EQL, bigRR's n-space route, or a double HGLM's interconnected fits; ML and REML by the
marginal route of :mod:`hglm.marginal_fit`) and named by ``results``.  The engine's
representation of a block of Z is chosen here (:data:`ENGINE_HOOKS`), where spec meets
the engine.  The user's arguments are collected and checked before, by :mod:`hglm.api`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from ._warn import warn
from .engine import Grouped, Indicator, NotPositiveDefiniteError, as_block, spd_logdet
from .fit import (
    DoubleModel,
    Options,
    check_markers,
    fit_double,
    fit_eql,
    fit_markers,
    use_markers,
)
from .marginal_fit import MARGINAL_METHODS, fit_marginal
from .results import BigRRResult, HGLMResult, MarginalResult
from .spec import (
    EngineHooks,
    FormulaTerm,
    ModelDesign,
    Problem,
    RandomFamily,
    RandomTerm,
    VectorTerm,
    assemble,
    check_calc_like,
    check_controls,
    disp_design,
    level_designs,
)

Array = np.ndarray

_MODEL_ARGUMENTS = (
    "family", "rand_family", "link_disp", "x_rand_disp", "link_rand_disp", "rand_cov",
    "fix_disp",
)
"""The controls that describe the model (``spec.assemble``); the others control the fit."""


def fit_design(
    design: ModelDesign,
    data: object,
    disp: str | None,
    controls: dict,
    rand_disp: str | dict[str, str] | None = None,
) -> HGLMResult | MarginalResult:
    """Fit a model built by the formula layer (``spec.design_from_formulas`` or
    ``spec.design_from_lme4``).

    Parameters
    ----------
    design : ModelDesign
        The formula layer's design (the result keeps it, to encode new data).
    data : DataFrame or dict of columns
        The data the design was built from (the dispersion formulas read it).
    disp : str or None
        The residual-dispersion formula; random terms in it make a double HGLM.
    controls : dict
        The checked controls (``api``'s defaults completed by the user's arguments).
    rand_disp : str or dict, optional
        The random effects' dispersion formula(s).

    Returns
    -------
    HGLMResult, BigRRResult or MarginalResult
    """
    if not design.random:
        raise ValueError(
            "formula: an HGLM needs at least one random term, e.g. '(1|group)' in hglm2 "
            "or random='~ 1|group' in hglm; for a plain GLM use statsmodels"
        )
    if rand_disp is not None:
        if controls["x_rand_disp"] is not None:
            raise ValueError("rand_disp, x_rand_disp: give one of them")
        controls = {**controls, "x_rand_disp": level_designs(rand_disp, data, design)}
    x_disp, disp_terms = (None, []) if disp is None else disp_design(disp, data, design.rows)
    y = pd.Series(design.y, name=design.response_name, copy=False)  # no copy of y
    if disp_terms and controls["method"] in MARGINAL_METHODS:
        raise ValueError("disp: random effects in the dispersion model (a double HGLM) "
                         "are fitted by EQL only")
    if disp_terms:
        _refuse_vector_terms(design.random + disp_terms)
        fit = _fit_double_design(design, y, x_disp, disp_terms, controls)
    else:
        fit = fit_arrays(y, design.X, design.random, None, x_disp, design.weights,
                         design.offset, _term_labels(design.random), controls)
    fit.design = design
    return fit


def _refuse_vector_terms(terms: list[FormulaTerm]) -> None:
    """A double HGLM stacks its terms' columns of Z: scalar terms only."""
    for t in terms:
        if isinstance(t, VectorTerm):
            raise ValueError(
                f"disp: a double HGLM (random effects in the dispersion model) takes scalar "
                f"random terms, and {t.label} is vector-valued (correlated effects); write it "
                "with '||' for independent terms"
            )


def _stack_terms(
    terms: list[RandomTerm],
) -> tuple[sparse.csc_matrix, list[int], tuple[list[str], list[str]]]:
    """Z, rand_c and the (effect names, term labels) of the formula layer's terms."""
    Z = sparse.hstack([t.Z for t in terms], format="csc")
    return Z, [len(t.levels) for t in terms], _term_labels(terms)


def _term_labels(terms: list[FormulaTerm]) -> tuple[list[str], list[str]]:
    """The (effect names, term labels) of the formula layer's terms."""
    return [nm for t in terms for nm in t.names], [t.label for t in terms]


def _fit_double_design(
    design: ModelDesign,
    y: pd.Series,
    x_disp: pd.DataFrame,
    disp_terms: list[RandomTerm],
    controls: dict,
) -> HGLMResult:
    """A double HGLM: random effects in the dispersion formula (module ``fit.dhglm``),
    its mean and dispersion HGLMs each fitted by :func:`fit_arrays`."""
    Z, rand_c, labels = _stack_terms(design.random)
    if controls["fix_disp"] is not None:
        raise ValueError("fix_disp: a double HGLM models the residual dispersion; drop it")
    z_disp, rand_c_disp, disp_labels = _stack_terms(disp_terms)
    model = DoubleModel(y, design.X, Z, rand_c, design.weights, design.offset, x_disp,
                        z_disp, rand_c_disp)

    def fit_one(y_, X_, Z_, rc, w, off, c):
        labels_ = labels if Z_ is Z else disp_labels
        return fit_arrays(y_, X_, Z_, rc, None, w, off, labels_, c)

    return fit_double(model, fit_one, controls, conv=controls["conv"],
                      maxit=controls["maxit"])


def fit_arrays(
    y: object,
    X: object,
    Z: object,
    rand_c: Sequence[int] | None,
    x_disp: object,
    weights: object,
    offset: object,
    random_labels: tuple[list[str], list[str]] | None,
    c: dict,
) -> HGLMResult | MarginalResult:
    """Assemble the model (spec), fit it by EQL, bigRR or ML/REML (fit) and name the
    result (results).

    Parameters
    ----------
    y, X, Z, rand_c, x_disp, weights, offset
        The model's arrays as ``spec.assemble`` takes them (Z: a matrix, or the formula
        layer's random terms).
    random_labels : tuple of (list of str, list of str) or None
        The random effects' names and the terms' labels (None: R's matrix names).
    c : dict
        The checked controls.

    Returns
    -------
    HGLMResult, BigRRResult or MarginalResult
    """
    if c["bigrr"] is not False and isinstance(Z, np.ndarray) and Z.dtype.kind == "f":
        check_markers(Z)
    problem, names = assemble(
        y, X, Z, rand_c=rand_c, x_disp=x_disp, weights=weights, offset=offset,
        rand_cov_labels=c.get("rand_cov_labels"), random_labels=random_labels,
        engine=ENGINE_HOOKS, **{name: c[name] for name in _MODEL_ARGUMENTS},
    )
    if c["method"] in MARGINAL_METHODS:
        return fit_marginal(problem, names, c["method"], c["nAGQ"], c["start"])
    options, method = _options(c, problem)
    if use_markers(problem, options):
        return BigRRResult(fit_markers(problem, options), names, method)
    return HGLMResult(
        fit_eql(problem, options), names, method, calc_like=c["calc_like"],
        vcovmat=c["vcovmat"],
    )


def _options(c: dict, problem: Problem) -> tuple[Options, str]:
    """The controls of the EQL fit, checked, and the method fitted."""
    check_controls(c["method"], c["conv"], c["maxit"], c["dev_floor"])
    check_calc_like(c["calc_like"], problem.family, problem.fix_disp, problem.counts)
    method = _effective_method(c["method"], [t.family for t in problem.terms])
    return Options.from_controls(c, hl_correction=method == "EQL1"), method


def _effective_method(method: str, rand_fams: list[RandomFamily]) -> str:
    """EQL1 corrects Gaussian random effects only; otherwise EQL is used, as R does.
    "HL11" is the tutorial's name of EQL1."""
    method = "EQL1" if method == "HL11" else method
    if method == "EQL1" and not all(f.is_gaussian for f in rand_fams):
        warn(
            "method: EQL1 is defined for Gaussian random effects only; fitting by EQL",
            UserWarning,
        )
        return "EQL"
    return method


def _engine_block(columns: FormulaTerm | Array | sparse.spmatrix) -> object:
    """A term's columns of Z as the engine's block: a formula term from its level codes
    (a vector-valued term's as a ``Grouped`` block), a matrix by ``as_block``."""
    if isinstance(columns, VectorTerm):
        return Grouped.from_codes(columns.codes, columns.values, len(columns.levels))
    if isinstance(columns, RandomTerm):
        return Indicator.from_codes(columns.codes, columns.values, len(columns.levels))
    return as_block(columns)


def _positive_definite(Q: sparse.csc_matrix) -> bool:
    """Whether a sparse symmetric matrix is positive definite (the engine's sparse LDL')."""
    try:
        spd_logdet(Q)
    except NotPositiveDefiniteError:
        return False
    return True


ENGINE_HOOKS = EngineHooks(block=_engine_block, positive_definite=_positive_definite)
