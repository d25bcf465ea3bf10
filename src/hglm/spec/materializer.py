"""formulaic's pandas materializer with R's model-matrix conventions.

Two of R's rules that formulaic does otherwise (R's ``model.matrix``):

* column names: a factor's column is the factor's name followed by its level, with no
  separator (``period2``, ``factor(period)2``, ``DrugB``, ``Time:Drugb``, ``poly(x, 2)1``
  for a matrix-valued term; formulaic writes ``period[T.2]``); an expression is named as
  R deparses it (``I(x^2)``, ``I(seed == "O73")``, see :func:`~.r_syntax.r_name`) and a
  level as R labels it (``factor(x)2`` for 2.0, ``bTRUE``, see
  :func:`~.levels.level_label`).  Contrasts other than treatment coding (``C(f, contr.sum)``)
  keep formulaic's names, ``C(f, contr.sum)[S.a]``.
* a logical (boolean) variable is a factor with levels FALSE and TRUE: one column
  ``bTRUE`` beside an intercept, two columns ``bFALSE`` and ``bTRUE`` without.

The names are made while formulaic encodes, so the ModelSpec it records holds them, and
the encoding applied to new data (``ModelSpec.get_model_matrix``, with formulaic's
stateful transforms such as ``scale``) gives the same columns.  The materializer is
registered under the name :data:`NAME`, which a ModelSpec records; it is never formulaic's
default for any input type.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from formulaic.materializers import PandasMaterializer
from interface_meta import override

from .levels import level_label
from .r_syntax import r_name

NAME = "hglm_r"
"""The name a formulaic ModelSpec records for :class:`RMaterializer`."""

_LEVEL_FORMATS = ("{name}[{field}]", "{name}[T.{field}]")
"""formulaic's name formats of columns named by a level: dummy and treatment coding, and
the columns of a matrix-valued expression."""


class RMaterializer(PandasMaterializer):
    """formulaic's pandas materializer with R's column names and R's logical factors."""

    REGISTER_NAME = NAME

    @override
    def _is_categorical(self, values: Any) -> bool:
        if pd.api.types.is_bool_dtype(getattr(values, "dtype", None)):
            return True
        return super()._is_categorical(values)

    @override
    def _flatten_encoded_evaled_factor(self, name: str, values: Any) -> dict[str, Any]:
        name = r_name(name)
        metadata = getattr(values, "__formulaic_metadata__", None)
        if not isinstance(values, dict) or metadata is None:
            return super()._flatten_encoded_evaled_factor(name, values)
        if metadata.get_format() not in _LEVEL_FORMATS:
            return super()._flatten_encoded_evaled_factor(name, values)
        return {
            name + level_label(level): column
            for level, column in values.items()
            if not (isinstance(level, str) and level.startswith("__"))
        }
