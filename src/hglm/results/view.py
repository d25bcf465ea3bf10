"""What the presentations of a fitted HGLM (summary, plots, export) read of it.

:class:`HGLMView` is the protocol they take; :class:`~hglm.results.hglm_result.HGLMResult`
satisfies it and calls them, so that they depend on no result class and the result class
depends on them, never the other way round.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

from ..fit import EngineFit
from ..spec import Names, RandomFamily, ResponseFamily

Array = np.ndarray


class HGLMView(Protocol):
    """A fitted HGLM as its summary, plots and export read it (see ``HGLMResult`` for the
    meaning of each member); ``_engine`` is the EQL engine's state behind it."""

    names: Names
    method: str
    family: ResponseFamily
    rand_families: list[RandomFamily]
    n_obs: int
    fixef: pd.Series
    se_fixef: pd.Series
    n_iter: int
    converged: bool
    singular: bool
    df_resid: int
    deviances: Array
    fitted: Array
    disp_fitted: Array
    var_fix: float | None
    var_ranef: Array
    disp_coef: pd.DataFrame | None
    rand_disp_coef: list[pd.DataFrame]
    likelihood: dict[str, float] | None
    car_rho: float | None
    car_tau: float | None
    sar_rho: float | None
    sar_tau: float | None
    disp_fit: HGLMView | None
    _engine: EngineFit

    @property
    def hat_values(self) -> Array: ...

    @property
    def resid(self) -> Array: ...

    def fixef_table(self) -> pd.DataFrame: ...

    def ranef_frame(self) -> pd.DataFrame: ...

    @property
    def varcorr(self) -> pd.DataFrame: ...
