"""One partition of the rows of a linear mixed model fitted by ML/REML on partitions
(:mod:`.partitioned_lmm`): its sufficient statistics and what it returns per theta.

A Gaussian LMM's profiled deviance depends on the data only through weighted
cross-products.  With the rows partitioned by the grouping factor of the scalar term A,
a partition's share of them is R'WR (R = [Z of the other terms, X]: m columns), Z_A'WZ_A
(diagonal: one value d0_l per own level l of A), E = Z_A'WR (sparse, q_a x m), Z_A'Wy,
R'Wy and y'Wy.  The first three that involve R alone are summed on the client once; the
partition keeps its levels' statistics (:class:`LevelStatistics`: d0, E, Z_A'Wy, about
the size of its levels and E's non-zeros) for the whole fit.  The response is taken less
X beta0 (beta0: the least-squares fit without random effects, from a first pass), so that
the residual sum of squares, a difference of sums of squares, loses no digits to a large
mean of y.

At lam_A = theta_A^2 (sigma^2 profiled out, so A's random rows have weight 1 / lam_A)
the partition eliminates its levels, d_l = 1 / (d0_l + 1 / lam_A), and returns

    G = E' diag(d) E,  T = E' diag(d^2) E        (m x m),
    e = E' diag(d) r_A,  t = E' diag(d^2) r_A    (m),
    sum log d,  sum d,  r_A' diag(d) r_A,  r_A' diag(d^2) r_A,

from which the client forms the Schur complement S = R'WR + Lambda_B^{-1} - sum G, the
penalized residual sum of squares, the log-determinants and the gradient (T: the
effects of A in the traces and penalties).  The functions are module-level, so that a
distributed scheduler can pickle them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from ..engine import scaled_gram, scaled_gram_pair
from .partition_chunk import Chunk

Array = np.ndarray


@dataclass
class LevelStatistics:
    """A partition's statistics of its own levels of A (fixed for the fit).

    Attributes
    ----------
    d0 : ndarray (q_a,)
        diag(Z_A'WZ_A).
    E : ndarray or scipy.sparse.csr_matrix (q_a, m)
        Z_A'WR in the partition system's B order (other terms' effects, then X).
    r_a : ndarray (q_a,)
        Z_A'Wy (y less the offset).
    """

    d0: Array
    E: Array | sparse.csr_matrix
    r_a: Array


def design_sums(chunk: Chunk, state: object, previous: object) -> dict:
    """The partition's share of R'WR, R'W(y - offset), sum log w and its number of rows
    (a gather: nothing kept)."""
    pb, system = chunk.problem, chunk.system
    w = pb.weights
    rhs = system.rhs(w, pb.y - pb.offset, np.zeros(system.q), np.zeros(system.q))
    return {"F": system.gram_b(w), "r_b": rhs[system.perm_b],
            "log_w": float(np.sum(np.log(w))), "n": int(pb.y.shape[0])}


def level_statistics(chunk: Chunk, state: object, beta0: Array
                     ) -> tuple[LevelStatistics, dict]:
    """The partition's :class:`LevelStatistics` of y0 = y - offset - X beta0 and its
    share of R'Wy0 and y0'Wy0 (``state`` unused: the signature of a pass)."""
    pb, system = chunk.problem, chunk.system
    w, y0 = pb.weights, pb.y - pb.offset - pb.X @ beta0
    d0, E = system.level_products(w)
    rhs = system.rhs(w, y0, np.zeros(system.q), np.zeros(system.q))
    return (LevelStatistics(d0, E, rhs[system.perm_a]),
            {"r_b": rhs[system.perm_b], "yy": float(np.sum(w * y0 * y0))})


def statistic_sums(chunk: Chunk, state: object, previous: object, beta0: Array) -> dict:
    """The sums of :func:`level_statistics` alone (a gather, with nothing kept)."""
    return level_statistics(chunk, None, beta0)[1]


def _statistics(chunk: Chunk, stats: LevelStatistics | None, beta0: Array
                ) -> LevelStatistics:
    """The kept statistics, or (partitions not persisted) recomputed from the rows."""
    return level_statistics(chunk, None, beta0)[0] if stats is None else stats


def _eliminated(d0: Array, lam_a: float) -> Array:
    """d = diag(D_A^{-1}) at lam_A."""
    return 1.0 / (d0 + 1.0 / lam_a)


def lmm_pieces(chunk: Chunk, stats: LevelStatistics | None, previous: object,
               beta0: Array, lam_a: float) -> dict:
    """The partition's pieces of the profiled deviance at lam_A (module docstring)."""
    st = _statistics(chunk, stats, beta0)
    d = _eliminated(st.d0, lam_a)
    d2 = d * d
    if sparse.issparse(st.E):
        G, T = (g.toarray() for g in scaled_gram_pair(st.E, d, d2))
    else:
        G, T = scaled_gram(st.E, d), scaled_gram(st.E, d2)
    return {
        "G": G, "T": T, "e": st.E.T @ (d * st.r_a), "t": st.E.T @ (d2 * st.r_a),
        "logdet": -float(np.sum(np.log(d))), "trace": float(np.sum(d)),
        "rr": float(np.sum(d * st.r_a**2)), "rr2": float(np.sum(d2 * st.r_a**2)),
    }


def _effects_of_a(st: LevelStatistics, d: Array, x_b: Array) -> Array:
    """A's conditional modes v_A = D_A^{-1} (r_A - E x_B)."""
    return d * (st.r_a - np.asarray(st.E @ x_b).ravel())


def lmm_level_report(chunk: Chunk, stats: LevelStatistics | None, beta0: Array,
                     lam_a: float, x_b: Array, K: Array) -> dict:
    """A's effects of the partition at the estimates: labels, v_A and diag(D^{-1}) on
    them, d + d^2 e_l' K e_l with K = S^{-1} less its fixed-effects correction
    (:mod:`.partitioned_lmm`); ``x_b`` is the solution for y0 (its beta less beta0)."""
    st = _statistics(chunk, stats, beta0)
    d = _eliminated(st.d0, lam_a)
    EK = st.E @ K
    forms = (np.asarray(st.E.multiply(EK).sum(axis=1)).ravel() if sparse.issparse(st.E)
             else np.einsum("lj,lj->l", st.E, EK))
    return {"labels": chunk.a_labels, "v": _effects_of_a(st, d, x_b),
            "diag": d + d * d * forms}


def lmm_row_report(chunk: Chunk, stats: LevelStatistics | None, beta0: Array,
                   lam_a: float, x_b: Array) -> pd.DataFrame:
    """The partition's rows at the estimates, indexed by their labels: fitted values
    (= the linear predictor with the offset), response residuals y - mu and
    sqrt(w) (y - mu), the Pearson and deviance residuals of a Gaussian response."""
    pb = chunk.problem
    st = _statistics(chunk, stats, beta0)
    v_a = _effects_of_a(st, _eliminated(st.d0, lam_a), x_b)
    eta = chunk.system.linear_predictor(chunk.user_delta(x_b, v_a)) + pb.X @ beta0 + pb.offset
    resid = pb.y - eta
    return pd.DataFrame({"fitted": eta, "linear_predictor": eta, "resid": resid,
                         "pearson": np.sqrt(pb.weights) * resid}, index=chunk.index)
