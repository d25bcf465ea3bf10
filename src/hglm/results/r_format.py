"""Numbers printed as R prints them: ``format(x, digits = d)``, ``printCoefmat``'s
estimate and test columns, ``format.pval`` and the significance stars.

R's ``format`` of a numeric vector rounds every element to ``digits`` significant digits,
drops the trailing zeros, and prints all of them with the largest number of decimals any
of them then needs; it switches to scientific notation when the fixed notation would be
wider.  ``printCoefmat`` (which lme4's summaries use with ``digits = 4``) rounds the
estimates and standard errors to ``digits - 1 - floor(log10(min |x|))`` decimals first,
and the test statistics to ``digits - 1`` decimals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Array = np.ndarray

EPS_PVALUE = float(np.finfo(float).eps)
"""Below this a p-value prints as ``< 2e-16`` (R's ``.Machine$double.eps``)."""

SIGNIF_LEGEND = "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"


def _decimals_needed(x: float, digits: int) -> int:
    """Decimals that show ``x`` to ``digits`` significant digits, trailing zeros dropped."""
    if x == 0.0 or not math.isfinite(x):
        return 0
    text = f"{abs(x):.{digits - 1}e}"
    mantissa, exponent = text.split("e")
    significant = len(mantissa.replace(".", "").rstrip("0")) or 1
    return max(0, significant - 1 - int(exponent))


def _scientific(values: Sequence[float], digits: int) -> list[str]:
    """R's scientific notation with the fewest mantissa digits (at most ``digits``) that
    show every value: ``1.47e-09``."""
    finite = [v for v in values if math.isfinite(v) and v != 0.0]
    mantissa = max((_decimals_needed(float(f"{v:.{digits - 1}e}".split("e")[0]), digits)
                    for v in finite), default=0)
    out = []
    for v in values:
        if not math.isfinite(v):
            out.append(_special(v))
            continue
        m, e = f"{v:.{mantissa}e}".split("e")
        out.append(f"{m}e{int(e):+03d}")
    return out


def _special(v: float) -> str:
    return "NA" if math.isnan(v) else ("Inf" if v > 0 else "-Inf")


def format_r(values: Sequence[float] | Array, digits: int = 7) -> list[str]:
    """R's ``format(x, digits = digits)``: a common number of decimals, or scientific
    notation when that is narrower.

    Parameters
    ----------
    values : sequence of float
    digits : int
        Significant digits (R's ``digits``).

    Returns
    -------
    list of str
        One string per value, not padded.
    """
    # to 15 significant digits first: a tie such as 1527.5 (a balanced design's mean)
    # rounds the same way whichever side of it the last bits of the fit fall
    vals = [float(f"{float(v):.15g}") for v in np.asarray(values, dtype=float).ravel()]
    finite = [v for v in vals if math.isfinite(v)]
    decimals = max((_decimals_needed(v, digits) for v in finite), default=0)
    fixed = [f"{v:.{decimals}f}" if math.isfinite(v) else _special(v) for v in vals]
    sci = _scientific(vals, digits)
    if max(map(len, fixed), default=0) > max(map(len, sci), default=0):
        return sci
    return fixed


def format_coefficients(values: Array, digits: int = 4) -> list[list[str]]:
    """The estimate and standard-error columns of R's ``printCoefmat``: rounded to the
    decimals that show the smallest of them to ``digits`` significant digits, then
    formatted together.

    Parameters
    ----------
    values : ndarray (p, k)
        The columns (estimates, standard errors) side by side.
    digits : int

    Returns
    -------
    list of list of str
        One list per column.
    """
    arr = np.asarray(values, dtype=float)
    magnitudes = np.abs(arr[np.isfinite(arr) & (arr != 0)])
    smallest = 1 + (math.floor(math.log10(magnitudes.min())) if magnitudes.size else 0)
    rounded = np.round(arr, max(1, digits - smallest))
    flat = format_r(rounded.ravel(order="F"), digits)
    rows = arr.shape[0]
    return [flat[j * rows : (j + 1) * rows] for j in range(arr.shape[1])]


def format_statistics(values: Array, digits: int = 4) -> list[str]:
    """The test-statistic column of ``printCoefmat`` (t or z values)."""
    return format_r(np.round(np.asarray(values, dtype=float), max(1, min(5, digits - 1))),
                    digits)


def format_pvalues(values: Array, digits: int = 3) -> list[str]:
    """R's ``format.pval``: p-values of 1e-3 and above in fixed notation, smaller ones in
    scientific notation, each group formatted together; below machine epsilon
    ``< 2e-16``."""
    pv = np.asarray(values, dtype=float)
    out = ["NA"] * pv.size
    tiny = pv < EPS_PVALUE
    fixed = (pv >= 1e-3) & ~tiny
    for group in (fixed, ~fixed & ~tiny & np.isfinite(pv)):
        idx = np.flatnonzero(group)
        for i, text in zip(idx, format_r(pv[idx], digits), strict=True):
            out[i] = text
    for i in np.flatnonzero(tiny):
        out[i] = "< 2e-16"
    return out


def signif_stars(p: float) -> str:
    """R's significance stars of a p-value."""
    for cut, star in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return star
    return " "


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]],
               left: Sequence[bool] | None = None, indent: str = "") -> list[str]:
    """Columns padded to a common width, right-aligned (or left where ``left`` says), as
    R prints a character matrix.

    Parameters
    ----------
    header : sequence of str
        Column titles ("" for none).
    rows : sequence of sequence of str
    left : sequence of bool, optional
        Columns aligned to the left (R's row names and labels).
    indent : str
        Prefix of every line.

    Returns
    -------
    list of str
        The lines, trailing spaces removed.
    """
    left = left if left is not None else [False] * len(header)
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    lines = []
    for cells in (header, *rows):
        parts = [c.ljust(w) if lft else c.rjust(w)
                 for c, w, lft in zip(cells, widths, left, strict=True)]
        lines.append((indent + " ".join(parts)).rstrip())
    return lines


def named_vector(names: Sequence[str], values: Sequence[str], gap: int = 1,
                 width: int = 80) -> list[str]:
    """R's print of a named vector: names over values, every cell right-aligned to the
    widest of them, cells ``gap`` spaces apart, wrapped at ``width`` characters."""
    cell = max(len(s) for s in [*names, *values])
    per_line = max(1, (width + gap) // (cell + gap))
    lines = []
    for start in range(0, len(names), per_line):
        for row in (names, values):
            chunk = row[start : start + per_line]
            lines.append((" " * gap).join(s.rjust(cell) for s in chunk))
    return lines


def abbreviate(name: str, minlength: int = 6) -> str:
    """R's ``abbreviate``: lower-case vowels, then lower-case letters, dropped from the
    end (never the first character) until ``minlength`` characters remain."""
    chars = list(name.replace(" ", ""))
    for drop in ("aeiou", "abcdefghijklmnopqrstuvwxyz"):
        i = len(chars) - 1
        while len(chars) > minlength and i > 0:
            if chars[i] in drop:
                del chars[i]
            i -= 1
    return "".join(chars)
