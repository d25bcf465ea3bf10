"""The result of an EQL fit (:func:`.eql.fit_eql`): the last round, the estimated
dispersions, and what the reports read of them: the random effects on the scale of u and,
for a vector-valued term (:mod:`.theta`), its covariance and lme4's theta."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..spec import Problem
from .theta import effects_scale, residual_scale

Array = np.ndarray


@dataclass
class EngineFit:
    """The result of :func:`fit_eql` (arrays only)."""

    problem: Problem
    fitter: object  # the EQLFitter that ran the rounds
    last: object  # its last accepted Round
    phi: Array
    lam: Array
    n_iter: int
    converged: bool
    stopped_by_criterion: bool
    criterion: float
    # lme4's isSingular on :attr:`theta` (:func:`.eql_boundary.singular`)
    singular: bool = False

    def final_weights(self) -> tuple[Array, Array]:
        """IWLS weights (w1, w2) at the final estimates with the final dispersions."""
        delta = self.last.delta
        w1, _, w2, _ = self.fitter.pirls.working(delta, self.last.eta, self.phi, self.lam)
        return w1, w2

    @property
    def beta(self) -> Array:
        return self.last.delta[: self.problem.X.shape[1]]

    @property
    def fitted_v(self) -> Array:
        """The effects as fitted (a vector term's spherical b)."""
        return self.last.delta[self.problem.X.shape[1] :]

    @property
    def v(self) -> Array:
        """The random effects u (a vector term's u_l = L b_l, level-major)."""
        return effects_scale(self.fitted_v, self.fitter.term_slices, self.last.factors)

    @property
    def covariances(self) -> list[Array]:
        """Each term's covariance of its effects per level (1 x 1: a scalar term's
        lambda; L L' of a vector term), the estimates (as ``lam``: the last round's
        next ones)."""
        return [np.array([[float(np.mean(self.lam[sl]))]]) if f is None else f @ f.T
                for sl, f in zip(self.fitter.term_slices, self.last.factors_next,
                                 strict=True)]

    @property
    def variances(self) -> Array:
        """The variance of each random effect u (a vector term's diagonal of Sigma)."""
        out = self.lam.copy()
        for sl, f in zip(self.fitter.term_slices, self.last.factors_next, strict=True):
            if f is not None:
                out[sl] = np.tile(np.sum(f**2, axis=1), (sl.stop - sl.start) // f.shape[0])
        return out

    @property
    def theta(self) -> Array:
        """lme4's theta (:mod:`.theta`): relative to sqrt(phi) for a family with one
        estimated dispersion, else absolute."""
        scale = residual_scale(self.problem, self.phi)
        layout = self.fitter.vectors.layout
        parts = [np.sqrt(c[:1, 0]) if f is None else cov.theta(f)
                 for c, f, cov in zip(self.covariances, self.last.factors_next,
                                      layout.covariances, strict=True)]
        return np.concatenate(parts) / np.sqrt(scale)
