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
    canonical : bool
        Whether every term's link is its family's canonical one (:meth:`information`
        is then the expected information du/dv^2 / V_r(u)).
    """

    def __init__(self, problem: Problem) -> None:
        self.terms = problem.terms
        self.sizes = [block_width(b) for b in problem.blocks]
        self.slices = _slices(self.sizes)
        self.psi = np.concatenate(
            [np.full(w, t.family.psi) for w, t in zip(self.sizes, self.terms, strict=True)]
        )
        self.canonical = all(t.family.canonical for t in self.terms)

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

    def information(self, u: Array, du_dv: Array) -> Array:
        """The observed information d^2/dv^2 of d(psi, u(v)) / 2 of each effect.

        With d/du d(psi, u) / 2 = -(psi - u) / V_r(u) it is
        du/dv^2 (1 + (psi - u) V_r'(u) / V_r(u)) / V_r(u) - d^2u/dv^2 (psi - u) / V_r(u):
        the expected information du/dv^2 / V_r(u) plus a term that vanishes at u = psi
        and, for a canonical link, everywhere.
        """
        out = np.empty_like(u)
        for sl, t in zip(self.slices, self.terms, strict=True):
            fam, uu, du = t.family, u[sl], du_dv[sl]
            d2u = -fam.link.d2eta_dmu2(uu) * du**3
            var, r = fam.variance(uu), fam.psi - uu
            out[sl] = (du**2 * (1.0 + r * fam.dvariance(uu) / var) - d2u * r) / var
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
