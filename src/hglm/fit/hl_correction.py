"""The HL(1,1) correction of EQL (R's EQL1, DESIGN.md "EQL1") and R's round structure
for it.

From the third round on (the first under ``fix_disp``) the working response of the
observations is shifted by -c, computed at the state the previous round ended in.  An
EQL1 round is R's: its first IWLS step is uncorrected, the later ones subtract the
shift, and it stops by R's rule sum(d eta^2) < 1e-7 sum(eta^2) (EQL1_INNER_TOL).  The
first step moves away from the corrected solution and the corrected steps return to
within that tolerance, so R's EQL1 fixed point lies about 1e-4 (relative) from the
solution of the corrected equations; this structure reproduces it
(cancer_car_eql1_legacy to 1e-9).
"""

from __future__ import annotations

import numpy as np

from ..engine import System
from ..spec import Problem
from .pirls import PenalizedIRLS, ResponseShift, random_effects_system

Array = np.ndarray

# R's stopping rule of the IWLS inside an EQL1 round: the EQL1 fixed point depends on it
EQL1_INNER_TOL = 1e-7


class EQL1Correction:
    """The shifts of the EQL1 rounds of one problem.

    Parameters
    ----------
    problem : Problem
    pirls : PenalizedIRLS
        The problem's penalized IRLS, whose working weights the shift is computed from.
    """

    def __init__(self, problem: Problem, pirls: PenalizedIRLS) -> None:
        self.pb = problem
        self.pirls = pirls
        self.z_system, self.shift_system = self._correction_systems()
        self._shift: tuple[Array, Array] | None = None

    def _correction_systems(self) -> tuple[System, System]:
        """The Z-only systems of the correction: the fitted design (the
        pseudo-responses' compensation W2^-1 Z'W1 c) and the design K is built from,
        which differs for CAR/SAR terms (their design before the eigen-rotation)."""
        fitted = random_effects_system(self.pb)
        if all(t.shift_block is None for t in self.pb.terms):
            return fitted, fitted
        blocks = [
            b if t.shift_block is None else t.shift_block
            for b, t in zip(self.pb.blocks, self.pb.terms, strict=True)
        ]
        return fitted, random_effects_system(self.pb, blocks)

    def use_blocks(self, blocks: list) -> None:
        """Correct on other blocks of Z (a vector term's Z Lambda at another Lambda;
        problems with vector terms have no CAR/SAR term)."""
        self.z_system = self.shift_system = random_effects_system(self.pb, blocks)

    def corrects(self, rounds_before: int) -> bool:
        """Whether the round after ``rounds_before`` rounds is corrected: EQL1 corrects
        from the third round on (from the first under fix_disp)."""
        return self.pb.fix_disp is not None or rounds_before >= 2

    def round_shift(
        self, rounds_before: int, delta: Array, phi: Array, lam: Array
    ) -> ResponseShift | None:
        """The shift of the round after ``rounds_before`` rounds, starting at ``delta``:
        the one computed when the round that ended at this very array did (with its
        dispersions); otherwise (the first round, or after a rejected extrapolation) the
        shift at ``delta`` now.  None when the round is not corrected."""
        if not self.corrects(rounds_before):
            return None
        if self._shift is not None and self._shift[0] is delta:
            c = self._shift[1]
        else:
            c = self._shift_at(delta, self.pirls.linear_predictor(delta), phi, lam)
        return ResponseShift(c, self.z_system, EQL1_INNER_TOL)

    def round_ended(
        self, rounds_done: int, delta: Array, eta_lin: Array, phi: Array, lam: Array
    ) -> None:
        """Keep the next round's shift, at the state ``delta`` this round ended in (with
        this round's dispersions), when the next round is corrected."""
        if self.corrects(rounds_done):
            self._shift = (delta, self._shift_at(delta, eta_lin, phi, lam))

    def _shift_at(self, delta: Array, eta_lin: Array, phi: Array, lam: Array) -> Array:
        """The HL(1,1) shift c at ``delta`` with dispersions (phi, lam)."""
        w1, _, w2, _ = self.pirls.working(delta, eta_lin, phi, lam)
        mu = self.pb.family.clip_mu(self.pirls.mean(eta_lin)[0])
        return self._hl_shift(mu, w1, w2)

    def _hl_shift(self, mu: Array, w1: Array, w2: Array) -> Array:
        """The HL(1,1) shift c of the working response (DESIGN.md, "EQL1").

        With K = Z (Z'W1Z + W2)^{-1} Z' and P_i = K_ii W1_i,
        c_i = (P_i W1_i^-2 W1'_i mu'_i - sum_j P_j W1_j^-1 W1'_j mu'_j K_ji) / 2, where
        W1' = dW1/dmu = -W1 (2 g''/g' + V'/V) and mu' = dmu/deta = 1/g'.  Z is each
        term's design as given (``shift_block``: a CAR/SAR term before its rotation),
        paired with the W2 of the fitted effects, as in R's hglm.
        """
        fam = self.pb.family
        g1 = fam.link.deta_dmu(mu)
        dw1 = -w1 * (2.0 * fam.link.d2eta_dmu2(mu) / g1 + fam.dvariance(mu) / fam.variance(mu))
        zs = self.shift_system
        factor = zs.factorize(w1, w2)
        P = factor.rows_quadform() * w1
        a = P / w1 * dw1 / g1
        Ka = zs.z_matvec(factor.solve(zs.z_rmatvec(a)))
        return 0.5 * (P / w1**2 * dw1 / g1 - Ka)
