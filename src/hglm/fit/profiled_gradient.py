"""The gradient of the profiled deviance of a linear mixed model
(:mod:`.profiled_deviance`).

The gradient is cheap.  With lam_k = theta_k^2, S_k = v_k' Lambda_k^{-1} v_k (the term's
share of the penalty) and H_k = tr(M^{-1} Lambda_k^{-1}) for M = C (REML) or D (ML), the
derivative of log|Lambda M| in lam_k is (q_k - H_k) / lam_k and that of r^2 is
-S_k / lam_k (the minimum's envelope), so

    d(-2 l) / d lam_k = (q_k - H_k - S_k / sigma^2) / lam_k,  sigma^2 = r^2 / (n - p or n).

For REML, H_k is the random term's leverage sum of EQL (the engine's weighted diagonal
sums): the zero of this gradient is EQL's fixed point lam_k sigma^2 = S_k sigma^2 /
(q_k - H_k), which is why EQL of an LMM is REML.  For ML, D^{-1} is the random block of
C^{-1} less B (C^{-1}_xx)^{-1} B' with B = C^{-1}_zx, from p solves.

The gradient in
Lambda's entries: with T1 = [X, Z Lambda], C_{:,b} = T1'WZ Lambda + (0, I), so
M^{-1}_{b,:} T1'WZ = (I - M^{-1}_bb) Lambda^{-1} (M = C for REML; D for ML, where the
same holds in the random block), and, r = y - X beta - Z Lambda b and g_l = Z_l'Wr,

    d log|M| / d Lambda_ab = 2 [(m I - sum_l M^{-1}_ll) Lambda^{-1}]_ba,
    d r^2 / d Lambda_ab    = -2 sum_l g_la b_lb          (the minimum's envelope),

from the per-level blocks M^{-1}_ll.  Where a diagonal of Lambda is below
VECTOR_GRADIENT_FLOOR (near the boundary, where Lambda^{-1} is ill-conditioned): for the
only random term, whose Z'WZ is block-diagonal over its levels, (I - M^{-1}_bb)
Lambda^{-1} = M^{-1}_{b,x} X'WZ + M^{-1}_bb Lambda'Z'WZ (the first part for REML alone),
per level C^{-1}_{l,x} (X'WZ)_l + M^{-1}_ll Lambda' (Z'WZ)_ll, which needs no Lambda^{-1}
and holds at a singular Lambda; with other terms, by central differences of the
objective.
"""

from __future__ import annotations

import numpy as np

from ..engine import LevelBlocks
from .differences import value_gradient
from .profiled_state import ProfiledState
from .theta import THETA_FLOOR, VECTOR_GRADIENT_FLOOR, inverse_trace, level_trace

Array = np.ndarray


class ProfiledGradient:
    """The gradient of :class:`.profiled_deviance.ProfiledDeviance` (module docstring), on
    its ``state``, ``objective``, ``layout``, ``slices``, ``problem``, ``reml``, ``p``,
    ``dof``, ``sizes``, ``scalar``, ``vector_entries`` and its fixed effects' columns of
    C^{-1} (``fixed_columns``, ``_fixed_parts``, ``_random_blocks``)."""

    def gradient(self, theta: Array) -> Array:
        """The derivative of :meth:`objective` in theta (in a vector term's entries by
        central differences)."""
        st = self.state(theta)
        if st.gradient is None:
            st.gradient = self._analytic_gradient(st)
            if self.vector_entries.size:
                vector = self._vector_gradient(st)
                if vector is None:
                    vector = value_gradient(self.objective, st.theta, self.vector_entries)
                    self._last = st
                st.gradient += vector
        return st.gradient

    def _vector_gradient(self, st: ProfiledState) -> Array | None:
        """The gradient in the vector terms' entries of theta (module docstring); None
        when a diagonal of some Lambda is below VECTOR_GRADIENT_FLOOR."""
        out = np.zeros_like(st.theta)
        layout = self.layout
        fixed = None if self.reml or self.p == 0 else self._fixed_parts(st.factor)
        for k, L in enumerate(layout.factors(st.theta)):
            if L is None:
                continue
            near = np.min(np.diag(L)) < VECTOR_GRADIENT_FLOOR
            if near and len(self.problem.blocks) > 1:
                return None
            sl, size = self.slices[k], L.shape[0]
            blocks = self._random_blocks(st.factor, sl, size, fixed)
            count = blocks.shape[0]
            X = self._lone_trace(st.factor, L, blocks) if near else inverse_trace(blocks, L)
            g = st.score[self.p + sl.start : self.p + sl.stop].reshape(count, size)
            b = st.delta[self.p + sl.start : self.p + sl.stop].reshape(count, size)
            d_lambda = 2.0 * X.T - (2.0 * self.dof / st.r2) * (g.T @ b)
            out[layout.slices[k]] = layout.covariances[k].theta(d_lambda)
        return out

    def _lone_trace(self, factor: object, L: Array, blocks: Array) -> Array:
        """(m I - sum_l M^{-1}_ll) Lambda^{-1} for the only random term, with no inverse
        of Lambda: sum_l M^{-1}_ll Lambda' (Z'WZ)_ll (:func:`.theta.level_trace`), and
        for REML (M = C) the fixed effects' part sum_l C^{-1}_{l,x} (X'WZ)_l."""
        if self._level_products is None:
            self._level_products = self._lone_products()
        gram, cross = self._level_products
        out = level_trace(blocks, L, gram)
        if self.reml and self.p:
            B, _ = self.fixed_columns(factor)
            out += np.einsum("lip,lpm->im", B[self.p :].reshape(-1, L.shape[0], self.p), cross)
        return out

    def _lone_products(self) -> tuple[Array, Array]:
        """The only random term's (Z'WZ)_ll (m, q, q) and (X'WZ)_l (m, p, q): from the
        structured system's products (A the term, R = X: E = Z'WX dense), else by a pass
        over the rows."""
        block = self.problem.blocks[0]
        m, q = block.n_levels, block.size
        if self._products is not None and isinstance(self._products[2], np.ndarray):
            _, D0, E, _ = self._products
            return D0.blocks, E.reshape(m, q, self.p).transpose(0, 2, 1)
        cross = np.stack([block.rmatvec(self.w1 * x) for x in self.problem.X.T])
        return (LevelBlocks.weighted_gram(block, self.w1).blocks,
                cross.reshape(self.p, m, q).transpose(1, 0, 2))

    def _analytic_gradient(self, st: ProfiledState) -> Array:
        """The gradient in the scalar terms' theta (module docstring; 0 elsewhere)."""
        out = np.zeros_like(st.theta)
        if not np.any(self.scalar):
            return out
        leverage_sums = self._leverage_sums(st.factor, st.w2)
        d_lam = (self.sizes - leverage_sums - st.penalty_sums / st.sigma2) / st.lam
        # d/d theta = 2 theta d/d lam; at the floor the value does not move with theta
        scalar_theta = st.theta[self.layout.scalar_index]
        out[self.layout.scalar_index] = np.where(
            scalar_theta > THETA_FLOOR, 2.0 * scalar_theta * d_lam[self.scalar], 0.0)
        return out

    def _leverage_sums(self, factor: object, w2: Array) -> Array:
        """H_k = tr(M^{-1} Lambda_k^{-1}) per term with M = C (REML) or D (ML)."""
        sums = factor.weighted_diag_sums(w2, self.slices)
        if self.reml or self.p == 0:
            return sums
        return sums - self._fixed_correction(factor, w2)

    def _fixed_correction(self, factor: object, w2: Array) -> Array:
        """tr(Lambda_k^{-1} B_k (C^{-1}_xx)^{-1} B_k') per term, B = C^{-1}_zx: what the
        fixed effects add to the random block of C^{-1} beyond D^{-1}."""
        Bz, MBt = self._fixed_parts(factor)
        out = np.empty(len(self.slices))
        for k, (sl, t) in enumerate(zip(self.slices, self.problem.terms, strict=True)):
            Bk = Bz[sl]
            if t.precision is None:
                out[k] = float(np.einsum("j,jr,rj->", w2[sl], Bk, MBt[:, sl]))
            else:
                out[k] = float(np.trace(MBt[:, sl] @ (t.precision @ Bk))) * w2[sl.start]
        return out

