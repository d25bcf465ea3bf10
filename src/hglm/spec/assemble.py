"""The model assembled: the user's arrays and model arguments, checked, become the
:class:`~.model.Problem` that every estimator takes, with the labels of its pieces.

This is the step between an interface and an estimator, as lme4's ``lFormula`` builds
what ``mkLmerDevfun`` takes: the response and its family, X, the blocks of Z with each
term's random family, dispersion model and covariance structure (a CAR/SAR term is
fitted on its eigen rotation Z V, a known covariance A = L L' on Z L, a known precision
as given), the prior weights, the offset and the residual-dispersion model.  The matrix
interface gives Z as a matrix with ``rand_c`` columns per term; the formula interfaces
give their random terms (:class:`~.encoding.RandomTerm`), whose Z is never built unless
a rotation needs it.

spec does not import the engine: how a block of Z is stored for the solvers, and the
sparse factorization that tells whether a precision is positive definite, are the
engine's, given by the caller (:class:`EngineHooks`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from .covariance import covariance_factors, times_factor
from .dispersion import rand_disp_designs
from .encoding import RandomTerm, VectorTerm
from .families import Family, RandomFamily, ResponseFamily, random_family, response_family
from .identifiability import (
    check_identifiable,
    check_response_varies,
    check_sample_size,
    term_width,
)
from .links import get_link
from .model import (
    KnownCovariance,
    KnownPrecision,
    Problem,
    RandomTermModel,
    SpatialCovariance,
)
from .names import Names
from .spatial import rotate_block
from .validation import (
    check_full_rank,
    check_prior_weights,
    check_scale,
    check_unique_columns,
    column_names,
    finite_matrix,
    positive_number,
    real_array,
    term_sizes,
    vector_argument,
    warn_non_integer_counts,
)
from .vector_terms import unstructured

Array = np.ndarray
Columns = RandomTerm | VectorTerm | Array | sparse.spmatrix
"""One random term's columns of Z: a formula term, or a dense or sparse matrix."""


@dataclass(frozen=True)
class EngineHooks:
    """What the assembly needs of the engine, given by the caller.

    Attributes
    ----------
    block : callable
        The engine's block of one term's columns of Z (an entry of ``Problem.blocks``),
        from a formula term or a matrix.
    positive_definite : callable
        Whether a sparse symmetric matrix is positive definite.
    """

    block: Callable[[Columns], object]
    positive_definite: Callable[[sparse.csc_matrix], bool]


def assemble(
    y: object,
    X: object,
    Z: object,
    *,
    rand_c: Sequence[int] | None,
    family: str | Family,
    rand_family: object,
    x_disp: object,
    link_disp: str,
    x_rand_disp: object,
    link_rand_disp: str,
    rand_cov: object,
    rand_cov_labels: list[str] | None,
    weights: object,
    offset: object,
    fix_disp: float | None,
    random_labels: tuple[list[str], list[str]] | None,
    engine: EngineHooks,
) -> tuple[Problem, Names]:
    """Check the arrays and model arguments of an HGLM and assemble its :class:`Problem`.

    Parameters
    ----------
    y, X : array-like
        Response (n,) and fixed design (n, p), full rank; a Series or DataFrame keeps its
        names.
    Z : array-like, scipy.sparse or list of RandomTerm and VectorTerm
        The random design: a matrix with ``rand_c`` columns per term, or the formula
        interfaces' random terms (a vector-valued term has an unstructured covariance,
        :func:`~.vector_terms.unstructured`).
    rand_c : sequence of int or None
        Columns of a matrix Z per random term (R's RandC); None: one term.
    family, rand_family
        The response family, and the random family of all terms or of each.
    x_disp, link_disp
        Design (or None) and link of the residual-dispersion model.
    x_rand_disp, link_rand_disp
        Designs (one per term, q_k rows, or None) and link of the random-effect
        dispersion models.
    rand_cov : list or None
        One entry per term: None, a known covariance A or a known precision.
    rand_cov_labels : list of str or None
        The names of the ``rand_cov`` entries in error messages (default ``rand_cov[k]``).
    weights, offset : array-like or None
        Prior weights (positive) and offset, length n.
    fix_disp : float or None
        The residual dispersion held fixed.
    random_labels : (list of str, list of str) or None
        The names of the random effects and the labels of the terms (default: Z's column
        names or ``Z.1, ...``, and ``Random1, ...``).
    engine : EngineHooks
        The engine's block of Z and its test of positive definiteness.

    Returns
    -------
    problem : Problem
    names : Names

    Raises
    ------
    ValueError
        For bad input, naming the argument and what is wrong (API.md, "Errors").
    """
    if y is None or X is None or Z is None:
        raise ValueError("y, X and Z: the matrix interface needs all three")
    response = response_family(family)
    fix = None if fix_disp is None else positive_number(fix_disp, "fix_disp")
    if fix is not None and x_disp is not None:
        raise ValueError("fix_disp: holds the residual dispersion fixed, so its model "
                         "(x_disp, or disp=) would be ignored; give one of them")
    y_arr, y_name = response_vector(y, response)
    n = y_arr.shape[0]
    check_sample_size(n, None, fix)
    X_arr, fixed_names = _fixed_design(X, n)
    check_sample_size(n, X_arr.shape[1], fix)
    check_response_varies(y_arr, response, fix)
    columns = _formula_terms(Z, n)
    if columns is None:
        columns = split_z(Z, rand_c, n)
    given = list(columns)
    sizes = [term_width(c) for c in columns]
    rand_fams = rand_families(rand_family, len(columns))
    # no prior weights or offset: ones and zeros broadcast from one number (read-only)
    w = np.broadcast_to(1.0, n) if weights is None else vector_argument(weights, "weights", n)
    check_prior_weights(w)
    off = np.broadcast_to(0.0, n) if offset is None else vector_argument(offset, "offset", n)
    xd_arr, disp_names = _residual_disp_design(x_disp, n)
    terms, rand_disp_names = _term_models(
        columns, rand_fams, x_rand_disp, link_rand_disp, rand_cov, rand_cov_labels, engine
    )
    check_identifiable(given, terms, response, w, fix, _term_descriptions(random_labels,
                                                                           len(terms)))
    problem = Problem(
        y_arr, X_arr, [engine.block(c) for c in columns], terms, response, w, off, xd_arr,
        get_link(link_disp, "link_disp"), fix,
    )
    if response.fixed_dispersion:
        warn_non_integer_counts(problem.counts, response.name)
    if random_labels is None:
        random_labels = (
            column_names(Z, "Z.", sum(sizes)), [f"Random{k + 1}" for k in range(len(sizes))]
        )
    names = Names(fixed_names, random_labels[0], random_labels[1], disp_names,
                  rand_disp_names, y_name)
    return problem, names


def response_vector(y: object, family: ResponseFamily) -> tuple[Array, str]:
    """The response as a finite float vector in the family's support, and its name (a
    Series' name, else ``"y"``)."""
    name = str(y.name) if isinstance(y, pd.Series) and y.name is not None else "y"
    arr = real_array(y, "y")
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"y: expected a vector, got an array of shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("y: contains missing (NaN) or infinite values")
    if arr.size:
        check_scale(float(np.max(np.abs(arr))), "y")
    problem = family.support_error(arr)
    if problem:
        raise ValueError(f"y: {problem}")
    return arr, name


def _fixed_design(X: object, n: int) -> tuple[Array, list[str]]:
    """X as a finite float matrix of full rank with at least one column, and its names."""
    check_unique_columns(X, "X")
    X_arr = finite_matrix(X, "X", n)
    names = column_names(X, "X.", X_arr.shape[1])
    if X_arr.shape[1] == 0:
        raise ValueError("X: has no columns; include at least an intercept")
    check_full_rank(X_arr, names, "X")
    return X_arr, names


def _formula_terms(Z: object, n: int) -> list[Columns] | None:
    """Z given as the formula interfaces' random terms, checked; else None."""
    if not (isinstance(Z, list) and Z and all(isinstance(t, RandomTerm | VectorTerm)
                                              for t in Z)):
        return None
    for t in Z:
        if t.codes.shape[0] != n:
            raise ValueError(f"Z: has {t.codes.shape[0]} rows but y has {n} values")
        if t.values is not None and not np.all(np.isfinite(t.values)):
            raise ValueError("Z: contains missing (NaN) or infinite values")
        if t.values is not None and t.values.size:
            check_scale(float(np.max(np.abs(t.values))), "Z", f"random term {t.label} has")
    return list(Z)


def split_z(Z: object, rand_c: Sequence[int] | None, n: int) -> list[Array | sparse.spmatrix]:
    """A matrix Z (n rows, finite) split into the columns of each random term, ``rand_c``
    columns per term (None: one term); a sparse Z stays sparse (CSC)."""
    if sparse.issparse(Z):
        if Z.dtype.kind == "c":
            raise ValueError("Z: has complex numbers; give real numbers")
        Zm = sparse.csc_matrix(Z, dtype=float)
        if Zm.shape[0] != n:
            raise ValueError(f"Z: has {Zm.shape[0]} rows but y has {n} values")
        if not np.all(np.isfinite(Zm.data)):
            raise ValueError("Z: contains missing (NaN) or infinite values")
    else:
        Zm = finite_matrix(Z, "Z", n)
    if Zm.size:
        check_scale(float(abs(Zm).max()), "Z")
    q = Zm.shape[1]
    if q == 0:
        raise ValueError("Z: has no columns; an HGLM needs at least one random effect")
    sizes = [q] if rand_c is None else term_sizes(rand_c, q)
    ends = np.cumsum(sizes)
    return [Zm[:, e - s : e] for s, e in zip(sizes, ends, strict=True)]


def rand_families(rand_family: object, k: int) -> list[RandomFamily]:
    """The random family of each of the ``k`` terms: one for all, or one per term."""
    specs = rand_family if isinstance(rand_family, list | tuple) else [rand_family] * k
    if len(specs) != k:
        raise ValueError(f"rand_family: got {len(specs)} families for {k} random terms")
    return [random_family(s, "rand_family") for s in specs]


def _term_descriptions(
    random_labels: tuple[list[str], list[str]] | None, k: int
) -> list[str]:
    """How each term is named in a message: by its formula label, else its place in Z."""
    if random_labels is None:
        return [f"Z: random term {j + 1}" for j in range(k)]
    return [f"random term {label}" for label in random_labels[1]]


def _matrix(columns: Columns) -> Array | sparse.spmatrix:
    """A term's columns of Z as a matrix (a formula term's sparse Z)."""
    return columns.Z if isinstance(columns, RandomTerm | VectorTerm) else columns


def _residual_disp_design(x_disp: object, n: int) -> tuple[Array | None, list[str] | None]:
    """The residual-dispersion design checked, and its column names (None: intercept)."""
    if x_disp is None:
        return None, None
    xd_arr = finite_matrix(x_disp, "x_disp", n)
    names = column_names(x_disp, "", xd_arr.shape[1])
    check_full_rank(xd_arr, names, "x_disp")
    return xd_arr, names


def _term_models(
    columns: list[Columns],
    rand_fams: list[RandomFamily],
    x_rand_disp: object,
    link_rand_disp: str,
    rand_cov: object,
    rand_cov_labels: list[str] | None,
    engine: EngineHooks,
) -> tuple[list[RandomTermModel], list[list[str] | None]]:
    """Each random term's model: its family, dispersion model and covariance structure,
    and the names of its dispersion design; ``columns`` become the terms' columns of Z as
    fitted (rotated, or times the factor of a known covariance)."""
    sizes = [term_width(c) for c in columns]
    rd_link = get_link(link_rand_disp, "link_rand_disp")
    rand_disp = rand_disp_designs(x_rand_disp, sizes)
    terms = [
        RandomTermModel(f, xd, rd_link) for f, (xd, _) in zip(rand_fams, rand_disp, strict=True)
    ]
    rand_disp_names = [names for _, names in rand_disp]
    cov_entries = _per_term(rand_cov, len(terms))
    for k, c in enumerate(columns):
        if isinstance(c, VectorTerm):
            label = rand_cov_labels[k] if rand_cov_labels else f"rand_cov[{k}]"
            terms[k].covariance = unstructured(c, terms[k].family, terms[k].x_disp,
                                               cov_entries[k], label)
    for k, term in enumerate(terms):
        if term.family.spatial is not None:
            columns[k] = _rotated(term, columns[k], k, engine)
            rand_disp_names[k] = ["(Intercept)", "eigenvalue"]
    factors = covariance_factors(rand_cov, sizes, rand_fams, rand_cov_labels,
                                 engine.positive_definite)
    for k, (term, L) in enumerate(zip(terms, factors, strict=True)):
        if L is not None:
            columns[k] = _with_known_covariance(term, columns[k], L, k)
    return terms, rand_disp_names


def _per_term(rand_cov: object, k: int) -> list[object]:
    """``rand_cov`` as one entry per term, as :func:`~.covariance.covariance_factors`
    reads it (which checks it: all None here when it has the wrong number of entries)."""
    items = [] if rand_cov is None else (
        list(rand_cov) if isinstance(rand_cov, list | tuple) else [rand_cov])
    return items if len(items) == k else [None] * k


def _rotated(term: RandomTermModel, columns: Columns, k: int, engine: EngineHooks) -> Array:
    """A CAR/SAR term on its eigen basis, Z V, with its dispersion model on the
    eigenvalues of D; the EQL1 correction keeps the block as given (``shift_block``)."""
    spatial = term.family.spatial
    if term.x_disp is not None:
        raise ValueError(
            f"x_rand_disp[{k}]: a {term.family.name} term has its own dispersion model "
            "(on the eigenvalues of D)"
        )
    term.covariance = SpatialCovariance(spatial, engine.block(columns))
    term.x_disp, term.link_disp = spatial.disp_design, spatial.disp_link
    return rotate_block(spatial, _matrix(columns), "Z")


def _with_known_covariance(
    term: RandomTermModel, columns: Columns, factor: Array | sparse.csc_matrix, k: int
) -> Columns:
    """A term with a known covariance: fitted on u with its precision Q (sparse
    ``factor``), or on v = L^{-1} u with design Z L (dense ``factor`` L)."""
    if sparse.issparse(factor):
        if term.x_disp is not None:
            raise ValueError(f"x_rand_disp[{k}]: a term with a known precision has an "
                             "intercept-only dispersion")
        term.covariance = KnownPrecision(factor)
        return columns
    term.covariance = KnownCovariance(factor)
    return times_factor(_matrix(columns), factor)

