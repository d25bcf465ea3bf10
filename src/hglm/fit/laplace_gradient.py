"""The analytic gradient of the Laplace deviances (:mod:`.laplace`), Gaussian random
effects.

With m_i = t_i' M^{-1} t_i (t_i the row of
the inner design T1: Z, or [X, Z]), g_i = m_i W'_i, a = M^{-1} T1'g, e_i = dl_i / dlog phi_i
and, per term, S_k = v_k'v_k and H_k = tr(M^{-1}) over its effects:

    d/d lambda_k = (q_k lambda_k - S_k - H_k + a_k'v_k) / lambda_k^2,
    d/d log phi_i = -2 e_i - m_i W_i - (T1 a)_i s_i,
    d/d beta      = X'(-2 s + g - W (Z a))                       (M = D, T1 = Z),

the first terms by the mode's envelope, then tr(M^{-1} dM) at the mode, then through the
mode's own movement (d delta^ = M^{-1} d(dh/d delta), with dh/d delta moved by lambda
through v / lambda^2 and by log phi through -s).  For nAGQ0 the gradient in beta reaches
the variance parameters through beta^: with b = C^{-1} (d/d beta, 0), lambda_k gains
b_k'v_k / lambda_k^2 and log phi_i gains -(T1 b)_i s_i.

A vector-valued term is in the spherical form of :mod:`.theta`: its block of Z is
Z Lambda and its effects b are N(0, I), so the formulas above hold with lambda = 1 for
them, and the systems are rebuilt for each Lambda.  The gradient in Lambda's entries is
analytic ("ML", "nAGQ0"): moving Lambda_ab moves eta by Z E b (E the unit matrix at
(a, b), per level) at fixed b, the mode's equations by E'Z's - Lambda'Z'W Z E b, and
D^{-1} Lambda'Z'WZ = (I - D^{-1}) Lambda^{-1}, so with c = -2 s + g - W (T1 a), per level
l the term's rows of Z'c, Z's, b and a,

    d/d Lambda_ab = sum_l [(Z'c)_la b_lb + (Z's)_la a_lb]
                    + 2 [(m I - sum_l D^{-1}_ll) Lambda^{-1}]_ba;

for nAGQ0, beta^'s movement adds the same with c -= W (T1 b) and a += b_v (b as above).
Below VECTOR_GRADIENT_FLOOR, when the vector term is the only random term, Z'WZ is
block-diagonal over its levels and (m I - sum_l D^{-1}_ll) Lambda^{-1} = sum_l D^{-1}_ll
Lambda' (Z'WZ)_ll, which needs no Lambda^{-1} and holds at a singular Lambda (a singular
fit's optimum is on that boundary).  For REML, and near the boundary with other terms,
the gradient is by central differences of the objective.
"""

from __future__ import annotations

import numpy as np

from ..engine import LevelBlocks, inverse_diag_blocks
from .densities import ResponseDerivatives
from .laplace_state import LaplaceState
from .pirls import System
from .theta import VECTOR_GRADIENT_FLOOR, inverse_trace, level_trace

Array = np.ndarray


class LaplaceGradient:
    """The gradient of :class:`.laplace.LaplaceDeviance` (module docstring), on its
    ``params``, ``pb``, ``kind``, ``modes``, ``inner``, ``z_system``, ``density`` and
    ``slices``, and its methods ``factor``, ``derivatives`` and ``_joint_factor`` of a
    state."""

    def _curvature_terms(self, factor: object, system: System,
                         deriv: ResponseDerivatives) -> tuple[Array, Array, Array, Array]:
        """m = diag(T1 M^{-1} T1'), g = m W', a = M^{-1} T1'g and T1 a."""
        m = factor.rows_quadform()
        g = m * deriv.dcurvature
        a = factor.solve(system.t1_rmatvec(g))
        return m, g, a, system.linear_predictor(a)

    def _gradient(self, st: LaplaceState) -> Array:
        """The analytic gradient at ``st`` (module docstring)."""
        par, q = self.params, self.z_system.q
        deriv = self.derivatives(st)
        v = st.mode.delta[self.modes.p :]
        s, W = deriv.score, deriv.curvature
        factor = self.factor(st)
        m, g, a, t1a = self._curvature_terms(factor, self.inner, deriv)
        traces = factor.weighted_diag_sums(np.ones(q), self.slices)
        moved = self._per_term(a[self.inner.p :], v)
        sizes = par.sizes
        d_lam = (sizes * st.lam - self._per_term(v, v) - traces + moved) / st.lam**2
        d_logphi = -m * W - t1a * s if par.n_disp else None
        del m
        if self.kind != "REML":
            # c and a_v: for the vector terms' Lambda (module docstring)
            c, a_v = -2.0 * s + g - W * t1a, a[self.inner.p :]
            d_beta = self.pb.X.T @ c
        if self.kind == "nAGQ0":
            joint = self.modes.system
            b = self._joint_factor(st).solve(np.concatenate([d_beta, np.zeros(q)]))
            d_lam = d_lam + self._per_term(b[joint.p :], v) / st.lam**2
            tb = joint.linear_predictor(b)
            if par.n_disp:
                d_logphi -= tb * s
            c, a_v = c - W * tb, a_v + b[joint.p :]
        grad = np.zeros(par.size)
        grad[par.sd_slice] = par.sd_gradient(st.x, d_lam)
        if par.n_beta:
            grad[par.beta_slice] = d_beta
        if self.kind != "REML" and par.vector_entries.size:
            vector = self._vector_gradient(st, c, s, a_v)
            if vector is not None:
                grad[par.sd_slice] += vector
                st.vector_gradient = True
        if par.n_disp:
            d_logphi -= 2.0 * self.density.dispersion_score(deriv.mu, st.phi)
            grad[par.disp_slice] = par.disp_design.T @ d_logphi
        return grad

    def _vector_gradient(self, st: LaplaceState, c: Array, s: Array,
                         a: Array) -> Array | None:
        """The ML gradient in the vector terms' entries of x (module docstring); None
        when a diagonal of some Lambda is below VECTOR_GRADIENT_FLOOR and the term is
        not the only one."""
        par = self.params
        out = np.zeros(par.n_cov)
        v = st.mode.delta[self.modes.p :]
        for k, L in enumerate(par.factors(st.x)):
            if L is None:
                continue
            sl, size, block = self.slices[k], L.shape[0], self.pb.blocks[k]
            count = (sl.stop - sl.start) // size
            X = self._log_det_term(st, k, L)
            if X is None:
                return None
            zc = block.rmatvec(c).reshape(count, size)
            zs = block.rmatvec(s).reshape(count, size)
            d_lambda = (zc.T @ v[sl].reshape(count, size) + zs.T @ a[sl].reshape(count, size)
                        + 2.0 * X.T)
            out[par.layout.slices[k]] = par.layout.covariances[k].theta(d_lambda)
        # a diagonal is on the log scale: d/d log Lambda_jj = Lambda_jj d/d Lambda_jj
        log_scale = par.log_scale
        out[log_scale] *= par.covariance(st.x)[log_scale]
        return out

    def _log_det_term(self, st: LaplaceState, k: int, L: Array) -> Array | None:
        """sum_l (D^{-1} Lambda'Z'WZ)_ll over the levels l of vector term k (the part
        of d log|D| / d Lambda, module docstring): (m I - sum_l D^{-1}_ll) Lambda^{-1};
        below VECTOR_GRADIENT_FLOOR, for the only random term (Z'WZ block-diagonal),
        sum_l D^{-1}_ll Lambda' (Z'WZ)_ll, which needs no Lambda^{-1} and holds at a
        singular Lambda, and None with other terms."""
        sl, size = self.slices[k], L.shape[0]
        count = (sl.stop - sl.start) // size
        inverse = inverse_diag_blocks(self.factor(st), sl.start, size, count)
        if np.min(np.diag(L)) < VECTOR_GRADIENT_FLOOR:
            if len(self.pb.blocks) > 1:
                return None
            gram = LevelBlocks.weighted_gram(self.pb.blocks[k],
                                             self.derivatives(st).curvature).blocks
            return level_trace(inverse, L, gram)
        return inverse_trace(inverse, L)

    def _per_term(self, a: Array, v: Array) -> Array:
        """a_k'v_k for each term k."""
        return np.array([float(a[sl] @ v[sl]) for sl in self.slices])
