"""Export a marginal-likelihood fit to plain Python objects (``MarginalResult.to_dict``,
and ``to_json`` through it).

Schema ``hglm.marginal/1``: ``method``, ``nAGQ``, ``reml``, ``family`` ({name, link}),
``formula``, ``nobs``, ``fixef`` and ``se_fixef`` ({name: value}), ``vcov`` (p x p list
of lists, X's column order), ``theta``, ``sigma``, ``disp_coef`` ({name: value} of a
residual-dispersion model, or null), ``varcorr`` (one {grp, var1, var2,
vcov, sdcor} per row, missing labels null), ``ranef`` (one {grpvar, term, grp, condval,
condsd} per level), ``loglik``, ``aic``, ``bic``, ``deviance``, ``reml_criterion`` (null
but for linear mixed models), ``df_resid``, ``n_params``, ``n_eval``, ``converged``,
``singular``, ``message``.  Numbers are Python floats and ints; NaN and infinities are
null.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .export import json_number, series_dict
from .marginal_view import MarginalView

SCHEMA = "hglm.marginal/1"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts: numbers through ``json_number``, labels as str, missing values None."""
    out = []
    for row in frame.to_dict("records"):
        out.append({k: None if pd.isna(v) else (str(v) if isinstance(v, str) else json_number(v))
                    for k, v in row.items()})
    return out


def marginal_dict(fit: MarginalView) -> dict[str, Any]:
    """Every estimate of a marginal-likelihood fit as a JSON-safe dict, in the layout of
    schema ``hglm.marginal/1`` (module docstring).

    Parameters
    ----------
    fit : MarginalResult

    Returns
    -------
    dict
    """
    return {
        "schema": SCHEMA,
        "method": fit.method,
        "nAGQ": fit.nAGQ,
        "reml": fit.reml,
        "family": {"name": fit.family.name, "link": fit.family.link.name},
        "formula": fit.formula,
        "nobs": fit.n_obs,
        "fixef": series_dict(fit.fixef),
        "se_fixef": series_dict(fit.se_fixef),
        "vcov": [[json_number(x) for x in row] for row in fit.vcov.to_numpy()],
        "theta": [json_number(x) for x in fit.theta],
        "sigma": json_number(fit.sigma),
        "disp_coef": None if fit.disp_coef is None else series_dict(fit.disp_coef),
        "varcorr": _records(fit.varcorr),
        "ranef": _records(fit.ranef),
        "loglik": json_number(fit.loglik),
        "aic": json_number(fit.aic),
        "bic": json_number(fit.bic),
        "deviance": json_number(fit.deviance),
        "reml_criterion": json_number(fit.reml_criterion) if fit.is_lmm else None,
        "df_resid": fit.df_resid,
        "n_params": fit.n_params,
        "n_eval": fit.n_iter,
        "converged": fit.converged,
        "singular": fit.singular,
        "message": fit.message,
    }
