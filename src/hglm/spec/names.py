"""The labels of a model's pieces, supplied by the interface that built the model."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Names:
    """Labels of the model's pieces, supplied by the interface that built the model.

    Attributes
    ----------
    fixed : list of str
        One per column of X.
    random : list of str
        One per random effect (column of Z), terms in order.
    terms : list of str
        One label per random term (e.g. "(1|ID)" or "Random1").
    disp : list of str or None
        Columns of the residual-dispersion design (None: intercept only).
    rand_disp : list of list of str or None
        Columns of each random term's dispersion design.
    response : str
    """

    fixed: list[str]
    random: list[str]
    terms: list[str]
    disp: list[str] | None = None
    rand_disp: list[list[str] | None] = field(default_factory=list)
    response: str = "y"
