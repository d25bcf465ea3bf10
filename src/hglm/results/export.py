"""Export a fitted HGLM to plain Python objects and JSON.

:func:`to_dict` (also ``HGLMResult.to_dict()``) returns a dict that ``json.dumps``
accepts as is; :func:`to_json` (also ``HGLMResult.to_json()``) writes it.  Every number
is a Python float or int; NaN and infinite values become ``None`` (JSON ``null``).

Schema (``"schema": "hglm.fit/1"``)
-----------------------------------
====================  =================================================================
key                   value
====================  =================================================================
``schema``            ``"hglm.fit/1"``; changes when the layout changes
``hglm_version``      version of the library that made the fit
``method``            ``"EQL"`` or ``"EQL1"``
``family``            ``{"name": ..., "link": ...}`` of the response (R's names, e.g.
                      ``{"name": "binomial", "link": "logit"}``)
``random_terms``      list of ``{"term": label, "family": name, "link": name,
                      "n_levels": q_k}``, one per random term, in order
``link_disp``         link of the residual-dispersion model (``"log"``)
``n_obs``             number of observations n
``n_ranef``           number of random effects q
``fixef``             ``{name: estimate}`` in the column order of X
``se_fixef``          ``{name: standard error}``, same names
``ranef``             list of ``{"term", "name", "estimate", "std_error"}``, one per
                      random effect (u scale), terms in order (``fit.ranef_frame()``)
``var_fix``           residual dispersion (number), or ``null`` when it has a model with
                      covariates
``var_ranef``         list of the random-effect dispersions, one per term
``disp_coef``         ``{row: {"estimate", "std_error"}}``: the residual-dispersion model
                      on its link scale; ``null`` with ``fix_disp``
``fix_disp``          the fixed residual dispersion, or ``null`` when estimated
``rand_disp_coef``    list (one per random term, as ``random_terms``) of
                      ``{row: {"estimate", "std_error"}}``
``likelihood``        ``{"hlik", "pvh", "pbvh", "cAIC"}`` with ``calc_like=True``, else
                      ``null``
``n_iter``            number of EQL iterations
``converged``         true or false
``singular``          true or false: lme4's isSingular (a boundary fit)
``df_resid``          the deviance degrees of freedom of the p-values
``car_rho``, ...      ``car_rho``, ``car_tau``, ``sar_rho``, ``sar_tau``: numbers for
                      spatial models, else ``null``
``disp_fit``          for a double HGLM, the fitted dispersion model in this same
                      schema; else ``null``
====================  =================================================================

Example
-------
>>> import json
>>> d = json.loads(fit.to_json())            # doctest: +SKIP
>>> d["fixef"]["week"], d["var_ranef"][0]    # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np
import pandas as pd

from .._version import __version__
from .view import HGLMView

SCHEMA = "hglm.fit/1"


def json_number(x: Any) -> float | int | bool | None:
    """A JSON-safe scalar: numpy scalars to Python, NaN/inf and None to None."""
    if x is None:
        return None
    if isinstance(x, bool | np.bool_):
        return bool(x)
    if isinstance(x, int | np.integer):
        return int(x)
    value = float(x)
    return value if math.isfinite(value) else None


def series_dict(s: pd.Series) -> dict[str, float | None]:
    """A named Series as a JSON-safe dict (:func:`json_number` values)."""
    return {str(k): json_number(v) for k, v in s.items()}


def _coef_table(frame: pd.DataFrame | None) -> dict[str, dict[str, float | None]] | None:
    if frame is None:
        return None
    return {
        str(row): {"estimate": json_number(r["estimate"]), "std_error": json_number(r["std_error"])}
        for row, r in frame.iterrows()
    }


def _random_terms(fit: HGLMView) -> list[dict[str, Any]]:
    frame = fit.ranef_frame()
    counts = frame["term"].value_counts()
    return [
        {
            "term": str(term),
            "family": fam.name,
            "link": fam.link.name,
            "n_levels": int(counts.get(term, 0)),
        }
        for term, fam in zip(fit.names.terms, fit.rand_families, strict=True)
    ]


def to_dict(fit: HGLMView) -> dict[str, Any]:
    """Every estimate of a fit as a JSON-safe dict (schema in the module docstring).

    Parameters
    ----------
    fit : HGLMResult
        A fitted model.

    Returns
    -------
    dict
        Plain Python objects only (str, int, float, bool, None, list, dict); NaN and
        infinite numbers are None.
    """
    problem = fit._engine.problem
    ranef = [
        {
            "term": str(r.term),
            "name": str(r.name),
            "estimate": json_number(r.estimate),
            "std_error": json_number(r.std_error),
        }
        for r in fit.ranef_frame().itertuples(index=False)
    ]
    likelihood = (
        None if fit.likelihood is None
        else {str(k): json_number(v) for k, v in fit.likelihood.items()}
    )
    return {
        "schema": SCHEMA,
        "hglm_version": __version__,
        "method": str(fit.method),
        "family": {"name": fit.family.name, "link": fit.family.link.name},
        "random_terms": _random_terms(fit),
        "link_disp": problem.link_disp.name,
        "n_obs": int(fit.n_obs),
        "n_ranef": len(ranef),
        "fixef": series_dict(fit.fixef),
        "se_fixef": series_dict(fit.se_fixef),
        "ranef": ranef,
        "var_fix": json_number(fit.var_fix),
        "var_ranef": [json_number(v) for v in np.asarray(fit.var_ranef, dtype=float)],
        "disp_coef": _coef_table(fit.disp_coef),
        "fix_disp": json_number(problem.fix_disp),
        "rand_disp_coef": [_coef_table(t) for t in fit.rand_disp_coef],
        "likelihood": likelihood,
        "n_iter": int(fit.n_iter),
        "converged": bool(fit.converged),
        "singular": bool(fit.singular),
        "df_resid": int(fit.df_resid),
        "car_rho": json_number(fit.car_rho),
        "car_tau": json_number(fit.car_tau),
        "sar_rho": json_number(fit.sar_rho),
        "sar_tau": json_number(fit.sar_tau),
        "disp_fit": None if fit.disp_fit is None else to_dict(fit.disp_fit),
    }


def to_json(
    fit: HGLMView, path: str | os.PathLike[str] | None = None, indent: int | None = 2
) -> str:
    """The fit as JSON text (schema in the module docstring), optionally written to a file.

    Parameters
    ----------
    fit : HGLMResult
        A fitted model.
    path : str or path-like, optional
        File to write (UTF-8, with a final newline); nothing is written when None.
    indent : int or None
        Indentation of ``json.dumps`` (None: one line).

    Returns
    -------
    str
        The JSON text (strict JSON: no NaN or Infinity tokens).
    """
    return json_text(to_dict(fit), path, indent)


def json_text(
    data: dict[str, Any], path: str | os.PathLike[str] | None = None, indent: int | None = 2
) -> str:
    """``data`` (plain objects, as :func:`to_dict` gives) as strict JSON text, the one
    writer of :func:`to_json` and ``MixedModelResult.to_json``: ``json.dumps`` with
    ``allow_nan=False`` and ``indent``, written to ``path`` (UTF-8, a final newline) unless
    it is None."""
    text = json.dumps(data, indent=indent, allow_nan=False)
    if path is not None:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    return text
