"""The n-dimensional (marginal) solver for Gaussian models with many random effects.

For a Gaussian response with Gaussian random effects whose dispersions are one per
term, the augmented system can be solved in the space of the n observations
(DESIGN.md, "p >> n (bigRR)"): with G_k = Z_k Z_k' computed once,

    V = W1^{-1} + sum_k lambda_k G_k,    beta = (X'V^{-1}X)^{-1} X'V^{-1} y,
    v_k = lambda_k Z_k' P y,             P = V^{-1} - V^{-1}X (X'V^{-1}X)^{-1} X'V^{-1},

which is Henderson's solution of T'WT delta = T'Wz.  The leverages follow from P:
h_i = 1 - P_ii / W1_i for the observations and h_j = 1 - lambda_k z_j' P z_j for the
random effects, whose sum over a term is q_k - lambda_k tr(P G_k).  Each EQL round
costs one n x n Cholesky factorization instead of one of order q, and gives exactly the
EQL fixed point of the q-dimensional problem (the dispersion GLM of an intercept-only
term needs only the sums).

The costs at genomic scale (n = 2,000, q = 200,000; Z alone is 3.2 GB): G = Z Z' is the
one O(n^2 q) step of the fit (numpy evaluates ``Z @ Z.T`` as a symmetric rank-k update,
without copying Z); each round then costs O(n^2).  The rounds need the BLUPs
v = lambda Z' P y only through the sum of their squares, lambda^2 y'P G P y, and the few
that fall below the deviance floor; :class:`FloorScreen` finds those without a pass over
Z in most rounds.  The BLUPs themselves (one pass over Z) and the per-effect quantities,
each random effect's own leverage and standard error (another O(n^2 q) product with Z),
are computed on first use, for the report (:class:`LazyTail`), in column chunks of Z.
"""

from __future__ import annotations

from contextlib import nullcontext
from functools import cached_property, partial

import numpy as np
from scipy import linalg

from ._blas import eigh_threads, single_thread
from .blocks import block_array
from .floor_screen import COLUMN_CHUNK, FloorScreen, column_norms
from .lazy import LazyTail
from .marginal_inverse import CholeskyInverse, Eigen, EigenInverse

Array = np.ndarray


def gram(Z: Array) -> Array:
    """Z Z' (n x n).

    numpy evaluates ``Z @ Z.T`` as one symmetric rank-k update (BLAS syrk, half the flops
    of a general product) reading Z in place, for C- and F-ordered Z and for column slices
    of either: no copy of Z is made (measured: 38 MB above the result for a 2,000 x 60,000
    Z, 0.9 GB through scipy's ``dsyrk`` wrapper on a column slice, which copies).
    """
    return Z @ Z.T


class MarginalSolver:
    """Solves the linear Gaussian augmented GLM through the n x n marginal covariance.

    Parameters
    ----------
    X : ndarray (n, p)
    blocks : list
        The random terms' columns of Z.
    y : ndarray
        Response minus offset.
    weights : ndarray
        Prior weights.
    """

    def __init__(self, X: Array, blocks: list, y: Array, weights: Array) -> None:
        self.X = X
        self.Z = [block_array(b) for b in blocks]
        self.G = [gram(Zk) for Zk in self.Z]
        self.y = y
        self.weights = weights
        self.p = X.shape[1]
        self.sizes = [Zk.shape[1] for Zk in self.Z]
        norms = [column_norms(Zk) for Zk in self.Z]
        self.empty = [nk == 0 for nk in norms]
        self.n_empty = [int(np.sum(e)) for e in self.empty]
        self.screens = [FloorScreen(Zk, nk) for Zk, nk in zip(self.Z, norms, strict=True)]
        ends = np.cumsum(self.sizes)
        self.slices = [slice(int(e - s), int(e)) for s, e in zip(self.sizes, ends, strict=True)]

    def mean_row_norm2(self) -> Array:
        """Mean of diag(Z_k Z_k') for each term, from G_k."""
        return np.array([np.trace(Gk) / Gk.shape[0] for Gk in self.G])

    def term_lambdas(self, lam: Array) -> Array:
        return np.array([lam[sl.start] for sl in self.slices])

    def _is_eigen(self, w1: Array) -> bool:
        """Whether V^{-1} comes from the eigendecomposition of G (one term, constant
        observation weights): then each round's products are O(n^2), on one thread."""
        return len(self.G) == 1 and bool(np.all(w1 == w1[0]))

    def factorize(self, w1: Array, w2: Array) -> MarginalFactor:
        """The factorization for observation weights w1 and random-row weights w2."""
        lam = 1.0 / self.term_lambdas(w2)
        if self._is_eigen(w1):
            eigen = self._eigen  # outside the rounds' single thread (eigh_threads)
            with single_thread():
                return MarginalFactor(self, EigenInverse(eigen, 1.0 / w1[0], lam[0]), w1, w2, lam)
        V = np.diag(1.0 / w1)
        for lk, Gk in zip(lam, self.G, strict=True):
            V += lk * Gk
        return MarginalFactor(self, CholeskyInverse(V), w1, w2, lam)

    @cached_property
    def _eigen(self) -> Eigen:
        """G = U diag(g) U' for a single term: with constant observation weights every
        round is then O(n^2) (the GBLUP rotation)."""
        with eigh_threads(self.G[0].shape[0]):
            g, U = np.linalg.eigh(self.G[0])
        return Eigen(U, np.maximum(g, 0.0))

    def solve(self, w1: Array, w2: Array) -> tuple[LazyTail, MarginalFactor]:
        """(beta, v) and the factor for the given weights; v, a pass over Z, is computed
        on first use."""
        factor = self.factorize(w1, w2)
        with single_thread() if isinstance(factor.vinv, EigenInverse) else nullcontext():
            factor.py = factor.p_times(self.y)
            factor.beta = factor.gls_beta(self.y)
        return LazyTail(factor.beta, factor.blups, self.p + sum(self.sizes)), factor


class MarginalFactor:
    """The factorization behind :class:`MarginalSolver`; mirrors ``AugmentedFactor``.

    With V^{-1} from ``vinv``: P = V^{-1} - V^{-1}X (X'V^{-1}X)^{-1} X'V^{-1}.
    """

    def __init__(
        self,
        solver: MarginalSolver,
        vinv: CholeskyInverse | EigenInverse,
        w1: Array,
        w2: Array,
        lam: Array,
    ) -> None:
        self.solver = solver
        self.vinv = vinv
        self.w1, self.w2, self.lam = w1, w2, lam
        # P y and the GLS beta, set by MarginalSolver.solve
        self.py: Array | None = None
        self.beta: Array | None = None
        X = solver.X
        self._vinv_x = vinv.solve(X)
        self._xtvx_chol = linalg.cholesky(X.T @ self._vinv_x, lower=True)

    def gls_beta(self, y: Array) -> Array:
        return linalg.cho_solve((self._xtvx_chol, True), self._vinv_x.T @ y)

    def p_times(self, a: Array) -> Array:
        """P a."""
        return self.vinv.solve(a) - self._vinv_x @ linalg.cho_solve(
            (self._xtvx_chol, True), self._vinv_x.T @ a
        )

    @cached_property
    def _b(self) -> Array:
        """V^{-1} X L_x^{-T}, so that P = V^{-1} - B B'."""
        return linalg.solve_triangular(self._xtvx_chol, self._vinv_x.T, lower=True).T

    @cached_property
    def _diag_p(self) -> Array:
        return self.vinv.diag() - np.einsum("ij,ij->i", self._b, self._b)

    def _trace_pg(self, G: Array) -> float:
        """tr(P G) = tr(V^{-1} G) - tr(B' G B)."""
        return self.vinv.trace_with(G) - float(np.sum(self._b * (G @ self._b)))

    @cached_property
    def P(self) -> Array:
        return self.vinv.explicit - self._b @ self._b.T

    def leverages(self) -> Array:
        """Observation leverages, and each random term's mean leverage on its rows.

        An effect whose column of Z is empty has leverage exactly 1; the mean is taken over
        the other effects, so that the caller's clipping at 1 - 1e-8 acts as it does on
        the exact leverages.
        """
        eigen = isinstance(self.vinv, EigenInverse)
        with single_thread() if eigen else nullcontext():
            parts = [1.0 - self._diag_p / self.w1]
            for lk, Gk, empty in zip(self.lam, self.solver.G, self.solver.empty, strict=True):
                one_minus = lk * self._trace_pg(Gk)
                h = np.ones(empty.shape[0])
                h[~empty] = 1.0 - one_minus / max(int(np.sum(~empty)), 1)
                parts.append(h)
        return np.concatenate(parts)

    def _solved_py(self, caller: str) -> Array:
        if self.py is None or self.beta is None:
            raise RuntimeError(f"{caller}: the factor has not been solved")
        return self.py

    @cached_property
    def _g_py(self) -> list[Array]:
        py = self._solved_py("linear_predictor")
        with single_thread() if isinstance(self.vinv, EigenInverse) else nullcontext():
            return [Gk @ py for Gk in self.solver.G]

    def linear_predictor(self) -> Array:
        """X beta + Z v of the solve, without a pass over Z: Z v = sum_k lambda_k G_k P y."""
        g_py = self._g_py
        eta = self.solver.X @ self.beta
        for lk, gpy in zip(self.lam, g_py, strict=True):
            eta += lk * gpy
        return eta

    def blups(self) -> Array:
        """v_k = lambda_k Z_k' P y of every term: one pass over Z, with the library's
        threads."""
        py = self._solved_py("blups")
        return np.concatenate(
            [lk * (py @ Zk) for lk, Zk in zip(self.lam, self.solver.Z, strict=True)]
        )

    def random_deviance_sums(self, floors: Array) -> tuple[Array, Array]:
        """Each term's sum of the deviances v_j^2 of its effects, as they are and floored
        at ``floors[k]`` (DESIGN.md, EQL step 3), without the BLUPs themselves.

        sum_j v_j^2 = lambda^2 y'P G P y; the floor adds sum_j max(0, f - v_j^2), from
        the term's :class:`FloorScreen` (empty columns have v_j = 0 and add f each)."""
        py = self._solved_py("random_deviance_sums")
        raw, floored = [], []
        for k, (lk, f) in enumerate(zip(self.lam, floors, strict=True)):
            pgp = float(py @ self._g_py[k])
            short = self.solver.screens[k].shortfall(
                py, np.sqrt(f) / lk, lambda: self._screen_basis
            )
            raw.append(lk**2 * pgp)
            floored.append(lk**2 * (pgp + short) + self.solver.n_empty[k] * f)
        return np.array(raw), np.array(floored)

    @cached_property
    def _screen_basis(self) -> Array:
        """P y and its derivatives with respect to the log dispersions, up to sign and
        scale: d(Py)/d log lambda_l = -lambda_l P G_l P y and, for a common phi,
        d(Py)/d log phi = -P W1^{-1} P y (d V = dP^-1 for the GLS projector P)."""
        py = self.py
        directions = [py, self.p_times(py / self.w1)]
        directions += [self.p_times(gpy) for gpy in self._g_py]
        return np.column_stack(directions)

    @cached_property
    def _zpz(self) -> list[Array]:
        """diag(Z_k' P Z_k) for each term: O(n^2 q), in chunks of COLUMN_CHUNK columns."""
        P = self.P
        out = []
        for Zk in self.solver.Z:
            zpz = np.empty(Zk.shape[1])
            for start in range(0, Zk.shape[1], COLUMN_CHUNK):
                Zc = Zk[:, start : start + COLUMN_CHUNK]
                zpz[start : start + COLUMN_CHUNK] = np.einsum("ij,ij->j", Zc, P @ Zc)
            out.append(zpz)
        return out

    def observation_leverages(self) -> Array:
        """The n observations' leverages, 1 - P_ii / W1_i."""
        return 1.0 - self._diag_p / self.w1

    def _random_leverages(self, ceiling: float | None = None) -> Array:
        """Each random effect's own leverage, 1 - lambda_k z_j' P z_j (O(n^2 q))."""
        h = np.concatenate([1.0 - lk * zpz for lk, zpz in zip(self.lam, self._zpz, strict=True)])
        return h if ceiling is None else np.minimum(h, ceiling)

    def exact_leverages(self, ceiling: float | None = None) -> LazyTail:
        """Leverages of every row, each random effect's own, optionally capped at
        ``ceiling``: the n observations' now, the q random effects' (O(n^2 q)) on first
        use of the tail."""
        obs = self.observation_leverages()
        if ceiling is not None:
            obs = np.minimum(obs, ceiling)
        size = obs.shape[0] + sum(self.solver.sizes)
        return LazyTail(obs, partial(self._random_leverages, ceiling), size)

    def rows_quadform(self) -> Array:
        """t_i' C^{-1} t_i for the observation rows, from their leverages."""
        return (1.0 - self._diag_p / self.w1) / self.w1

    def _random_variances(self) -> Array:
        """diag(C^{-1}) on the random effects, lambda_k - lambda_k^2 z_j' P z_j."""
        return np.concatenate(
            [lk - lk**2 * zpz for lk, zpz in zip(self.lam, self._zpz, strict=True)]
        )

    def diag_inverse(self) -> LazyTail:
        """diag(C^{-1}) in (beta, v) order: the fixed effects' part now, the random
        effects' (O(n^2 q)) on first use of the tail."""
        cov_beta = linalg.cho_solve(
            (self._xtvx_chol, True), np.eye(self._xtvx_chol.shape[0])
        )
        head = np.diag(cov_beta).copy()
        return LazyTail(head, self._random_variances, head.shape[0] + sum(self.solver.sizes))

    def inverse_block(self, index: Array) -> Array:
        """The block of C^{-1} on the effects ``index`` (user order) of one random term:
        lambda I - lambda^2 Z_k' P Z_k."""
        solver, p = self.solver, self.solver.p
        for k, sl in enumerate(solver.slices):
            cols = index - p
            if cols.min() >= sl.start and cols.max() < sl.stop:
                Zk = solver.Z[k][:, cols - sl.start]
                lk = self.lam[k]
                return lk * np.eye(cols.shape[0]) - lk**2 * (Zk.T @ (self.P @ Zk))
        raise ValueError("inverse_block: the effects must belong to one random term")

    def logdet_random_block(self) -> float:
        """log det(Z'W1Z + W2) = log det W2 + log det W1 + log det V."""
        return float(np.sum(np.log(self.w2)) + np.sum(np.log(self.w1)) + self.vinv.logdet())

    def logdet(self) -> float:
        """log det(T'WT) = log det(Z'W1Z + W2) + log det(X'V^{-1}X)."""
        logdet_x = 2.0 * float(np.sum(np.log(np.diag(self._xtvx_chol))))
        return self.logdet_random_block() + logdet_x
