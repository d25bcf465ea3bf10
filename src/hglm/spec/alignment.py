"""Rows of pandas arguments matched by their index, as pandas matches them.

A ``Series`` or ``DataFrame`` carries row labels: ``weights=df.sample(frac=1)["w"]`` holds
the right weight for each row, in another order.  Matching such arguments by position
would silently pair rows wrongly, so arguments whose index holds the same labels as the
reference's (the data frame's, or the first pandas argument's) in another order are
reordered to it; arguments whose labels differ are refused (as statsmodels refuses them),
since no row-by-row match exists.  Arrays and lists are matched by position.
"""

from __future__ import annotations

import pandas as pd

Labelled = pd.Series | pd.DataFrame


def align_to_index(value: object, index: pd.Index, argument: str, reference: str) -> object:
    """``value`` with its rows in the order of ``index`` when it is a pandas object.

    Parameters
    ----------
    value : object
        An argument with one row per observation.
    index : pandas.Index
        The reference's row labels.
    argument, reference : str
        The names of the argument and of the reference, for the message.

    Returns
    -------
    object
        ``value`` itself (not pandas, or already in order), or reordered by label.

    Raises
    ------
    ValueError
        When its labels are not those of ``index`` (or either has duplicate labels); a
        length that differs is left to the checks of lengths.
    """
    if (
        not isinstance(value, Labelled)
        or len(value.index) != len(index)  # the length checks name it
        or value.index.equals(index)
    ):
        return value
    same_labels = (
        index.is_unique
        and value.index.is_unique
        and bool(value.index.isin(index).all())
    )
    if not same_labels:
        raise ValueError(
            f"{argument}: its index does not have the row labels of {reference}'s, so its "
            f"rows cannot be matched to them; reindex it ({argument}.loc[{reference}.index]) "
            "or pass its values (.to_numpy()) to match by position"
        )
    return value.loc[index]


def align_rows(arguments: dict[str, object]) -> dict[str, object]:
    """The matrix interface's row-wise arguments (y, X, Z, weights, offset, x_disp; None
    allowed), pandas ones reordered to the index of the first pandas one among them."""
    reference = next((name for name, v in arguments.items() if isinstance(v, Labelled)), None)
    if reference is None:
        return arguments
    index = arguments[reference].index
    return {
        name: align_to_index(value, index, name, reference) for name, value in arguments.items()
    }
