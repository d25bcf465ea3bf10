"""A Dask DataFrame as the partitions of a fit: categories made known, the formula
(and the residual-dispersion formula) encoded per partition by the formula layer, the
rows partitioned by the grouping factor of the largest random term, the chunks of
``fit.partition_chunk`` persisted, or, with ``persist=False``, rebuilt from the source at
every pass.

The encoding is checked on the client on the first partition (a stateful transform,
whose state would differ between partitions, is refused) and every partition's fixed
design must have the same columns (a level that the categories do not know is refused,
never encoded as missing).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, replace
from typing import Any

import dask
import numpy as np
import pandas as pd
from dask import delayed

from .._warn import warn
from ..engine import Indicator
from ..fit import Chunk, PartitionedModel
from ..spec import (
    EngineHooks,
    Independent,
    ModelDesign,
    Names,
    Problem,
    ResponseFamily,
    assemble,
    check_prior_weights,
    design_from_lme4,
    disp_model_matrix,
    dispersion_columns,
    response_vector,
)
from .partitions import DaskPartitions, light_state

MAX_M = 4000
"""The largest Schur complement (p + levels of the terms not partitioned on) by default."""


@dataclass
class PartitionedFrame:
    """What :func:`partition_frame` built; ``a_positions[i]``: where partition i's
    levels of the partitioning term are in ``levels[model.a_term]``."""

    parts: DaskPartitions
    model: PartitionedModel
    names: Names
    design: ModelDesign
    levels: list[list[str]]
    n_dropped: int
    problem: Problem
    a_positions: list[np.ndarray]


def partition_frame(
    ddf: Any,
    formula: str,
    *,
    weights: str | None,
    offset: str | None,
    family: ResponseFamily,
    controls: dict,
    engine: EngineHooks,
    max_m: int | None = None,
    disp: str | None = None,
    persist: bool = True,
) -> PartitionedFrame:
    """The partitions of ``ddf`` for the formula (see the module docstring).

    Raises
    ------
    ValueError
        For weights or offset not given as column names, a stateful transform, a level
        unknown to the categories, more than ``max_m`` (default :data:`MAX_M`) columns
        in the Schur complement, a dispersion model with random terms, without an
        intercept or with a link other than log, or, with ``persist=False``, rows not
        partitioned by the partitioning term, or ``persist`` not a bool.
    """
    if not isinstance(persist, bool):
        raise ValueError(f"persist: must be True or False, got {persist!r}")
    for name, value in (("weights", weights), ("offset", offset)):
        if value is not None and not isinstance(value, str):
            raise ValueError(
                f"{name}: with a Dask DataFrame give a column name (an array cannot be "
                "matched to the partitions' rows)"
            )
    ddf = _known_categories(ddf, formula, (weights, offset, disp))
    build = partial_design(formula, weights, offset, family.name == "binomial", disp)
    designs, labels = _local_designs(ddf, build, persist)
    first = designs[0].compute()
    ref = first[0]
    problem, names = _reference(ref, first[3], controls, engine)
    numeric = [_numeric_group(ddf.dtypes, t.columns) for t in ref.random]
    levels = [_merged(lv, num) for lv, num in zip(zip(*labels, strict=True), numeric, strict=True)]
    a_term = int(np.argmax([len(lv) for lv in levels]))
    if not _disjoint([lab[a_term] for lab in labels]):
        if not persist:
            raise ValueError(
                f"persist: with persist=False every pass reads the partitions again, and "
                f"the levels of {ref.random[a_term].label} are spread over several "
                "partitions (a shuffle at every pass); write the data partitioned by "
                f"{', '.join(ref.random[a_term].columns)} first (ddf.shuffle(on=...)"
                ".to_parquet(...)) or use persist=True"
            )
        ddf = ddf.shuffle(on=list(ref.random[a_term].columns))
        designs, labels = _local_designs(ddf, build, persist)
    _check_size(ref, levels, a_term, MAX_M if max_m is None else max_m)
    chunks, info = _chunks(designs, ref, first[3], problem, levels, a_term, persist)
    n = int(sum(i["n"] for i in info))
    model = PartitionedModel(
        n, ref.X.shape[1], [len(lv) for lv in levels], problem.terms, problem.family,
        problem.fix_disp, a_term, np.sum([i["norm2"] for i in info], axis=0) / n,
        *_disp_metric(first[3], info),
    )
    random_names = [name_prefix(t) + lab for t, lv in zip(ref.random, levels, strict=True)
                    for lab in lv]
    names = replace(names, fixed=list(ref.X.columns), random=random_names)
    _check_rank(np.sum([i["xtx"] for i in info], axis=0), names.fixed)
    n_dropped = int(sum(i["dropped"] for i in info))
    if n_dropped:
        warn(f"{n_dropped} of {n + n_dropped} rows dropped because of missing values",
             UserWarning)
    parts = DaskPartitions(chunks, persist, None if persist else light_state)
    position = {lab: i for i, lab in enumerate(levels[a_term])}
    a_positions = [np.array([position[lab] for lab in own[a_term]], dtype=np.int64)
                   for own in labels]
    return PartitionedFrame(parts, model, names, ref, levels, n_dropped, problem, a_positions)


def name_prefix(term: Any) -> str:
    """What a term's effect names put before the level's label."""
    return term.names[0][: len(term.names[0]) - len(term.levels[0])]


def _disp_metric(x_disp: pd.DataFrame | None, info: list[dict]) -> tuple:
    """X_d'X_d summed over the partitions and the intercept's column (none: one phi)."""
    if x_disp is None:
        return None, 0
    gram = np.sum([i["xdtxd"] for i in info], axis=0)
    _check_rank(gram, list(x_disp.columns), "x_disp", "disp: the dispersion design")
    return gram, list(x_disp.columns).index("(Intercept)")


def _reference(
    ref: ModelDesign, x_disp: pd.DataFrame | None, controls: dict, engine: EngineHooks
) -> tuple[Problem, Names]:
    """The model's description (families, links, names) from the first partition's
    design, checked: its fixed design may lack a level (a column of zeros there), so X's
    rank is checked on the sums of all partitions instead (:func:`_check_rank`)."""
    _refuse_stateful(ref)
    if x_disp is not None:
        _check_disp(x_disp, controls)
    problem, names = assemble(
        ref.y, np.ones((ref.y.shape[0], 1)), ref.random, rand_c=None, family=controls["family"],
        rand_family=controls["rand_family"], x_disp=x_disp, link_disp=controls["link_disp"],
        x_rand_disp=None, link_rand_disp=controls["link_rand_disp"], rand_cov=None,
        rand_cov_labels=None, weights=ref.weights, offset=ref.offset,
        fix_disp=controls["fix_disp"],
        random_labels=([nm for t in ref.random for nm in t.names],
                       [t.label for t in ref.random]),
        engine=engine,
    )
    _refuse_structured(problem.terms, [t.label for t in ref.random])
    return problem, names


def _check_disp(x_disp: pd.DataFrame, controls: dict) -> None:
    """A dispersion model the partitioned fit takes: an intercept and the log link (its
    state is the coefficients, log phi_i = x_i'gamma)."""
    if "(Intercept)" not in x_disp.columns:
        raise ValueError("disp: with a Dask DataFrame the dispersion model needs an "
                         "intercept; drop the '0 +' or '- 1'")
    if controls["link_disp"] != "log":
        raise ValueError(f"link_disp: {controls['link_disp']!r} with a dispersion model is "
                         "not supported with a Dask DataFrame yet (log only); fit a pandas "
                         "DataFrame")


def _chunks(
    designs: list, ref: ModelDesign, x_disp: pd.DataFrame | None, problem: Problem,
    levels: list[list[str]], a_term: int, persist: bool,
) -> tuple[list, list[dict]]:
    """The chunks built from the partitions' designs (persisted, or left to be rebuilt
    at every pass) and their sizes."""
    maps = [None if k == a_term else {lab: i for i, lab in enumerate(lv)}
            for k, lv in enumerate(levels)]
    disp_columns = None if x_disp is None else list(x_disp.columns)
    encoding = (list(ref.X.columns), _categories(ref), disp_columns)
    shared = delayed((problem, encoding, maps, a_term), traverse=False)
    outs = [delayed(_chunk, nout=2, pure=False)(d, shared, i == 0) for i, d in enumerate(designs)]
    if persist:
        outs = dask.persist(*outs)
    info = dask.compute(*[o[1] for o in outs])
    return [o[0] for o in outs], list(info)


def partial_design(
    formula: str, weights: str | None, offset: str | None, binomial: bool,
    disp: str | None = None,
):
    """The formula layer applied to one partition (pandas) -> (design, row labels, rows
    dropped, the dispersion design or None), or None for a partition without complete
    rows."""

    def build(frame: pd.DataFrame) -> tuple | None:
        if len(frame) == 0:
            return None
        try:
            design = _quiet_design(formula, frame, weights, offset, binomial, disp)
        except ValueError:
            if frame.dropna().empty:
                return None
            raise
        x_disp = None
        if disp is not None:
            x_disp, spec, random = disp_model_matrix(disp, frame, design.rows)
            if random:
                raise ValueError("disp: random effects in the dispersion model (a double "
                                 "HGLM) are not supported with a Dask DataFrame; fit a "
                                 "pandas DataFrame")
            _refuse_state(spec, "disp")
        return design, frame.index[design.rows], design.n_dropped, x_disp

    return build


def _quiet_design(
    formula: str, frame: pd.DataFrame, weights: str | None, offset: str | None, binomial: bool,
    disp: str | None,
) -> ModelDesign:
    """The formula layer's design of one partition, without its warning of the rows
    dropped (the client counts them over all partitions)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*rows dropped because of missing values")
        return design_from_lme4(formula, frame, weights=weights, offset=offset,
                                binomial=binomial, extra_columns=dispersion_columns(disp, None))


def _local_designs(ddf: Any, build: Any, persist: bool) -> tuple[list, list]:
    """Each non-empty partition's design (persisted, or to be rebuilt from the source)
    and its levels of each term."""
    designs = [delayed(build, pure=False)(part) for part in ddf.to_delayed()]
    if persist:
        designs = dask.persist(*designs)
    labels = dask.compute(*[delayed(_labels)(d) for d in designs])
    kept = [(d, lab) for d, lab in zip(designs, labels, strict=True) if lab is not None]
    if not kept:
        raise ValueError("data: no complete rows (every row has a missing value)")
    return [d for d, _ in kept], [lab for _, lab in kept]


def _labels(built: tuple | None) -> list[list[str]] | None:
    return None if built is None else [t.levels for t in built[0].random]


def _chunk(built: tuple, shared: tuple, owner: bool) -> tuple[Chunk, dict]:
    """A partition's chunk: its rows as a problem with the model of ``shared``'s
    problem, every term but A on all its levels."""
    template, (columns, categories, disp_columns), maps, a_term = shared
    design, index, dropped, x_disp = built
    if list(design.X.columns) != columns or _categories(design) != categories:
        raise ValueError(
            f"data: a partition's fixed-effect columns {list(design.X.columns)} (factor "
            f"levels {_categories(design)}) differ from the first partition's {columns} "
            f"({categories}): a factor's levels are not known to every partition; give the "
            "column a categorical dtype with all its levels (ddf.categorize())"
        )
    y, _ = response_vector(design.y, template.family)
    n = y.shape[0]
    w = np.ones(n) if design.weights is None else np.asarray(design.weights, dtype=float)
    check_prior_weights(w)
    offset = np.zeros(n) if design.offset is None else np.asarray(design.offset, dtype=float)
    blocks, norm2 = [], []
    for k, term in enumerate(design.random):
        codes = term.codes
        if maps[k] is not None:
            codes = np.array([maps[k][lab] for lab in term.levels], dtype=np.int64)[codes]
        n_levels = len(term.levels) if maps[k] is None else len(maps[k])
        blocks.append(Indicator.from_codes(codes, term.values, n_levels))
        norm2.append(float(np.sum(blocks[-1].values ** 2)))
    if x_disp is not None and list(x_disp.columns) != disp_columns:
        raise ValueError(
            f"disp: a partition's dispersion columns {list(x_disp.columns)} differ from the "
            f"first partition's {disp_columns}: give the factor a categorical dtype with "
            "all its levels (ddf.categorize())"
        )
    xd = None if x_disp is None else x_disp.to_numpy(dtype=float)
    problem: Problem = replace(template, y=y, X=design.X.to_numpy(dtype=float),
                               blocks=blocks, weights=w, offset=offset, x_disp=xd)
    chunk = Chunk(problem, a_term, list(design.random[a_term].levels), owner, index)
    X = problem.X
    info = {"n": n, "norm2": np.array(norm2), "dropped": dropped, "xtx": X.T @ X}
    if xd is not None:
        info["xdtxd"] = xd.T @ xd
    return chunk, info


def _check_rank(
    xtx: np.ndarray, columns: list[str], argument: str = "X",
    what: str = "the fixed-effect design",
) -> None:
    """A design of full rank, from X'X summed over the partitions."""
    scale = np.sqrt(np.maximum(np.diag(xtx), 1e-300))
    eig = np.linalg.eigvalsh(xtx / np.outer(scale, scale))
    if np.any(np.diag(xtx) == 0) or eig[0] <= 1e-10 * eig[-1]:
        raise ValueError(
            f"{argument}: {what} (columns {columns}) is not of full rank over all "
            "partitions; drop or merge the redundant columns or levels"
        )


def _categories(design: ModelDesign) -> dict[str, list]:
    """The levels of each factor of the fixed design (formulaic's encoder state)."""
    state = getattr(design.fixed_spec, "encoder_state", None) or {}
    return {name: list(info.get("categories", [])) for name, (_, info) in state.items()
            if info.get("categories") is not None}


def _merged(per_partition: tuple, numeric: bool) -> list[str]:
    """The union of the partitions' level labels, sorted as the formula layer sorts."""
    union = set().union(*per_partition)
    return sorted(union, key=float) if numeric else sorted(union)


def _numeric_group(dtypes: pd.Series, columns: tuple[str, ...]) -> bool:
    """A single numeric column: its levels sort as numbers."""
    return len(columns) == 1 and pd.api.types.is_numeric_dtype(dtypes[columns[0]]) and not (
        pd.api.types.is_bool_dtype(dtypes[columns[0]])
    )


def _disjoint(per_partition: list[list[str]]) -> bool:
    """Whether no level is in two partitions."""
    total = sum(len(x) for x in per_partition)
    return len(set().union(*per_partition)) == total


def _check_size(ref: ModelDesign, levels: list[list[str]], a_term: int, max_m: int) -> None:
    """m = p + the levels of the other terms, at most ``max_m``."""
    others = {k: len(lv) for k, lv in enumerate(levels) if k != a_term}
    m = ref.X.shape[1] + sum(others.values())
    if m <= max_m:
        return
    big = max(others, key=others.get)
    raise ValueError(
        f"data: the Dask fit partitions the rows by {ref.random[a_term].label} "
        f"({len(levels[a_term])} levels) and solves for the fixed effects and the other "
        f"terms' {sum(others.values())} effects together (m = {m} > max_m = {max_m}); "
        f"{ref.random[big].label} has {others[big]} levels: fit a model with fewer levels "
        "in the other terms, fit in memory (a pandas DataFrame), or raise max_m"
    )


def _refuse_structured(terms: list, labels: list[str]) -> None:
    """Terms whose effects are not independent (CAR/SAR, known covariances, correlated
    effects) stay in memory."""
    for term, label in zip(terms, labels, strict=True):
        if term.family.spatial is not None or not isinstance(term.covariance, Independent):
            raise ValueError(
                f"rand_family: {label} has correlated effects (a CAR/SAR, known or "
                "unstructured covariance), which a Dask DataFrame does not support yet; fit "
                "a pandas DataFrame"
            )


def _refuse_stateful(design: ModelDesign) -> None:
    """A transform whose state comes from the data (center, scale, splines) would be
    computed per partition: refused."""
    for spec in [design.fixed_spec] + [t.covariate_spec for t in design.random]:
        _refuse_state(spec)


def _refuse_state(spec: Any, argument: str = "formula") -> None:
    state = getattr(spec, "transform_state", None)
    if state:
        raise ValueError(
            f"{argument}: the stateful transform(s) {sorted(state)} would be evaluated on "
            "each partition separately; with a Dask DataFrame compute the column "
            "beforehand (e.g. ddf['x_c'] = ddf.x - ddf.x.mean())"
        )


def _known_categories(ddf: Any, formula: str, extra: tuple) -> Any:
    """The frame with its text and categorical columns named in the formula as
    categoricals of known categories (the same levels in every partition)."""
    text = formula + " " + " ".join(e for e in extra if e)
    used = [c for c in ddf.columns if re.search(rf"(?<![\w.]){re.escape(str(c))}(?![\w.])", text)]
    to_known = []
    for c in used:
        dtype = ddf[c].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            if not ddf[c].cat.known:
                ddf = ddf.assign(**{c: ddf[c].cat.as_known()})
        elif pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            to_known.append(c)
    if not to_known:
        return ddf
    # text levels sorted as the formula layer sorts a pandas column's distinct values
    uniques = dask.compute(*[ddf[c].dropna().unique() for c in to_known])
    return ddf.astype({
        c: pd.CategoricalDtype(sorted(u)) for c, u in zip(to_known, uniques, strict=True)
    })
