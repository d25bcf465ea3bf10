"""The checks of a vector-valued random term, lme4's ``(1 + x|g)``, before it is fitted.

A vector term has q effects per level of its grouping factor with one unstructured
q x q covariance Sigma (:class:`~.model.Unstructured`), estimated from the m levels'
effects.  So it needs several levels, and no more effects per level than levels; a
column that is constant within every level is the intercept (or another such column)
again, level by level: Sigma is then singular, which lme4 fits and reports as a boundary
fit, and which is warned of here by name.

The structures that have a scalar variance per term (a known covariance or precision,
a CAR/SAR term), a non-Gaussian random family and a random-effect dispersion model are
defined for scalar terms only: combined with a vector term they are refused, naming the
way out (``||``, independent scalar terms).
"""

from __future__ import annotations

import numpy as np

from .._warn import warn
from .encoding import VectorTerm
from .families import RandomFamily
from .model import Unstructured

Array = np.ndarray


def unstructured(
    term: VectorTerm, family: RandomFamily, x_rand_disp: object, rand_cov: object,
    cov_label: str,
) -> Unstructured:
    """The covariance structure of a vector term, after its checks.

    Parameters
    ----------
    term : VectorTerm
    family : RandomFamily
        The term's random family (must be Gaussian).
    x_rand_disp : object
        The term's random-effect dispersion design (must be None).
    rand_cov : object
        The term's known covariance or precision (must be None).
    cov_label : str
        How the known covariance is named (``cov['g']``, ``rand_cov[0]``).

    Returns
    -------
    Unstructured

    Raises
    ------
    ValueError
        For a structure defined for scalar terms only, a grouping factor with a single
        level, or more effects per level than levels.

    Warns
    -----
    UserWarning
        When columns of the term are constant within every level.
    """
    way_out = (f"write it with '||' for independent terms, e.g. "
               f"{term.label.replace('|', '||', 1)}, or use a scalar term")
    if rand_cov is not None:
        raise ValueError(f"{cov_label}: random term {term.label} is vector-valued (correlated "
                         f"effects); a known covariance applies to a scalar term: {way_out}")
    if family.spatial is not None:
        raise ValueError(f"rand_family: random term {term.label} is vector-valued (correlated "
                         f"effects); a {family.name} (spatial) term is scalar: {way_out}")
    if not family.is_gaussian:
        raise ValueError(f"rand_family: random term {term.label} is vector-valued (correlated "
                         f"effects), which needs Gaussian random effects, not {family.name} "
                         f"({family.link.name} link): {way_out}")
    if x_rand_disp is not None:
        raise ValueError(f"rand_disp: random term {term.label} is vector-valued (correlated "
                         "effects), whose covariance has no dispersion model (x_rand_disp, "
                         f"rand_disp): {way_out}")
    check_levels(term)
    warn_level_constant(term)
    return Unstructured(term.size)


def check_levels(term: VectorTerm) -> None:
    """Several levels, and no more effects per level than levels: the q x q covariance is
    estimated from the m levels' effects."""
    m, q = len(term.levels), term.size
    if m < 2:
        raise ValueError(
            f"random term {term.label}: its grouping factor {term.group} has a single level, "
            f"so the covariance of its {q} effects cannot be estimated; drop the term, or "
            "group by a factor with several levels"
        )
    if q > m:
        raise ValueError(
            f"random term {term.label}: has {q} effects per level ({', '.join(term.effects)}) "
            f"but its grouping factor {term.group} has {m} levels, too few to estimate their "
            f"{q} x {q} covariance; drop columns from the term or write it with '||'"
        )


def warn_level_constant(term: VectorTerm) -> None:
    """Warn when two or more of the term's columns are constant within every level: each
    is a multiple of the level's indicator, so their effects cannot be told apart."""
    constant = [effect for effect, flat in zip(term.effects, _level_constant(term),
                                               strict=True) if flat]
    if len(constant) > 1:
        warn(
            f"random term {term.label}: the columns {', '.join(constant)} are constant within "
            f"every level of {term.group}, so their effects cannot be told apart and the "
            "covariance is singular (a boundary fit); move such a column to the fixed part",
            UserWarning,
        )


def _level_constant(term: VectorTerm) -> Array:
    """Per column of the term, whether it is constant within every level (to 1e-12
    relative): each row's value against one value of its level, ``ref``."""
    codes, values = term.codes, term.values
    keep = codes >= 0
    codes, values = codes[keep], values[keep]
    out = np.ones(term.size, dtype=bool)
    ref = np.empty(len(term.levels))
    for j in range(term.size):
        column = values[:, j]
        if column.size and np.all(column == column[0]):
            continue
        ref[codes] = column  # some value of each level (which one does not matter)
        at = ref[codes]
        scale = np.maximum(np.maximum(np.abs(column), np.abs(at)), 1.0)
        out[j] = bool(np.all(np.abs(column - at) <= 1e-12 * scale))
    return out
