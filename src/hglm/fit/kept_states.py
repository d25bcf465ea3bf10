"""The states of a deviance kept for the last few points asked for: an optimizer asks for
the objective and then the gradient at the same x, and a difference Hessian returns to its
centre, so each x is evaluated once.  What a state holds that can be formed again (a
factorization: 10 MB at InstEval's order) is let go before the next evaluation forms its
own, so that the kept states hold one such part at most."""

from __future__ import annotations

from typing import Any

import numpy as np

Array = np.ndarray

KEPT_STATES = 4


class KeptStates:
    """A deviance's ``state(x)`` (evaluated by the subclass's ``_evaluate``, kept for the
    last KEPT_STATES x) and ``objective(x)``; ``n_eval`` counts the evaluations."""

    n_eval: int = 0
    _kept: tuple = ()

    def state(self, x: Array) -> Any:
        """Everything at ``x``; a trial point far out may overflow the weights: its
        objective is then inf (no warning)."""
        x = np.array(x, dtype=float)
        for st in self._kept:
            if np.array_equal(st.x, x):
                return st
        self.n_eval += 1
        for kept in self._kept:
            self._release(kept)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            st = self._evaluate(x)
        self.keep(st)
        return st

    def objective(self, x: Array) -> float:
        return self.state(x).objective

    def keep(self, st: Any) -> None:
        """Put ``st`` first among the kept states."""
        self._kept = (st, *self._kept[: KEPT_STATES - 1])

    def _release(self, st: Any) -> None:
        """Drop the parts of ``st`` that are formed again when asked for (none here)."""

    def _evaluate(self, x: Array) -> Any:
        raise NotImplementedError
