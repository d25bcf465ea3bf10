"""The random effects v as one vector: each term's slice of it and its random family,
applied slice by slice (DESIGN.md, "The model": u = v^{-1}(v), psi, V_r(u), d(psi, u))."""

from __future__ import annotations

import numpy as np

from ..engine import block_width, precision_deviance
from ..spec import Problem

Array = np.ndarray


class RandomEffects:
    """The q random effects of a problem, term by term.

    Parameters
    ----------
    problem : Problem

    Attributes
    ----------
    sizes : list of int
        The number of effects of each term.
    slices : list of slice
        Each term's effects in v.
    psi : ndarray
        E(u) of each effect (q).
    """

    def __init__(self, problem: Problem) -> None:
        self.terms = problem.terms
        self.sizes = [block_width(b) for b in problem.blocks]
        self.slices = _slices(self.sizes)
        self.psi = np.concatenate(
            [np.full(w, t.family.psi) for w, t in zip(self.sizes, self.terms, strict=True)]
        )

    def scale(self, v: Array) -> tuple[Array, Array]:
        """u = v^{-1}(v) and du/dv for all random effects."""
        u = np.empty_like(v)
        du_dv = np.empty_like(v)
        for sl, t in zip(self.slices, self.terms, strict=True):
            link = t.family.link
            u[sl] = link.inverse(v[sl])
            du_dv[sl] = link.mu_eta(v[sl])
        return u, du_dv

    def variance(self, u: Array) -> Array:
        """V_r(u) of each effect."""
        out = np.empty_like(u)
        for sl, t in zip(self.slices, self.terms, strict=True):
            out[sl] = t.family.variance(u[sl])
        return out

    def deviance(self, u: Array) -> Array:
        """The deviance d(psi, u) of each effect (a term with a known precision: its
        share of u'Qu)."""
        out = np.empty_like(u)
        for sl, t in zip(self.slices, self.terms, strict=True):
            out[sl] = (
                t.family.deviance(u[sl]) if t.precision is None
                else precision_deviance(t.precision, u[sl])
            )
        return out


def _slices(sizes: list[int]) -> list[slice]:
    ends = np.cumsum(sizes)
    return [slice(int(e - s), int(e)) for s, e in zip(sizes, ends, strict=True)]
