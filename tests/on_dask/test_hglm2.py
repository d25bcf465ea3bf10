"""hglm2 on a Dask DataFrame: the same fit as on the pandas frame (to 1e-8 at a tight
conv), whatever the partitions and the order of the rows, and the named refusals."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask", reason="dask is not installed (pip install hglm[dask])")
dd = pytest.importorskip("dask.dataframe", reason="dask.dataframe is not installed")

import hglm  # noqa: E402
from hglm.results.partitioned_result import PartitionedHGLMResult  # noqa: E402

from .crossed import crossed  # noqa: E402

CONV = 1e-14


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    n, G, H = 2400, 120, 100
    rng, g, h, x = crossed(2, n, G, H)
    b = rng.normal(0, 0.7, G)[g] + rng.normal(0, 0.4, H)[h]
    df = pd.DataFrame({"x": x, "g": [f"G{i:03d}" for i in g], "h": h,
                       "w": rng.uniform(0.5, 2, n), "off": rng.normal(0, 0.1, n),
                       "trt": rng.choice(["b", "a", "c"], n)})
    df["yg"] = 1 + 0.5 * x + b + rng.normal(size=n)
    df["yp"] = rng.poisson(np.exp(0.2 + 0.3 * x + b + df["off"]))
    m = rng.integers(1, 6, n)
    df["s"] = rng.binomial(m, 1 / (1 + np.exp(-(0.2 + 0.3 * x + b))))
    df["f"] = m - df["s"]
    df.loc[rng.choice(n, 40, replace=False), "x"] = np.nan
    df["z"] = rng.normal(size=n)
    df["yh"] = df["yg"] + rng.normal(size=n) * np.exp(0.4 * df["z"])
    return df


def _both(df: pd.DataFrame, formula: str, n_parts: int = 4, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mem = hglm.hglm2(formula, data=df, conv=CONV, **kw)
        with dask.config.set(scheduler="sync"):
            dist = hglm.hglm2(formula, data=dd.from_pandas(df, npartitions=n_parts),
                              conv=CONV, **kw)
    dist.data_index = df.index
    return mem, dist


def _agree(mem, dist, rtol: float = 1e-8) -> None:
    assert isinstance(dist, PartitionedHGLMResult)
    np.testing.assert_allclose(dist.fixef, mem.fixef, rtol=rtol)
    np.testing.assert_allclose(dist.se_fixef, mem.se_fixef, rtol=rtol)
    if mem.var_fix is not None:
        assert dist.var_fix == pytest.approx(mem.var_fix, rel=rtol)
    np.testing.assert_allclose(dist.var_ranef, mem.var_ranef, rtol=rtol)
    # the random effects by label (lazy; their order may differ)
    ranef, se_ranef = dist.ranef.compute(), dist.se_ranef.compute()
    np.testing.assert_allclose(ranef[mem.ranef.index], mem.ranef, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(se_ranef[mem.ranef.index], mem.se_ranef, rtol=rtol)
    # by position: the in-memory fit's table, row for row
    pd.testing.assert_frame_equal(dist.ranef_frame().compute().sort_index(),
                                  mem.ranef_frame(), check_index_type=False, check_dtype=False,
                                  rtol=1e-7, atol=1e-8)
    assert dist.df_resid == mem.df_resid
    n = mem.n_obs
    assert dist.n_obs == n
    rows = pd.DataFrame({"fitted": dist.fitted.compute(), "hat": dist.hat_values.compute()})
    expected = pd.DataFrame({"fitted": mem.fitted, "hat": mem.hat_values[:n]},
                            index=dist.data_index[mem.design.rows])
    rows = rows.loc[expected.index]
    np.testing.assert_allclose(rows["fitted"], expected["fitted"], rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(rows["hat"], expected["hat"], rtol=1e-6)


def test_gaussian_crossed_weights_nan_rows(frame: pd.DataFrame) -> None:
    mem, dist = _both(frame, "yg ~ x + trt + (1|g) + (1|h)", weights="w", calc_like=True)
    _agree(mem, dist)
    for key, value in mem.likelihood.items():
        assert dist.likelihood[key] == pytest.approx(value, rel=1e-9)
    assert "MEAN MODEL" in str(dist.summary())


def test_poisson_offset(frame: pd.DataFrame) -> None:
    _agree(*_both(frame, "yp ~ x + (1|g)", family="poisson", offset="off"))


def test_binomial_counts_crossed(frame: pd.DataFrame) -> None:
    _agree(*_both(frame, "cbind(s, f) ~ x + (1|g) + (1|h)", family="binomial"))


def test_poisson_gamma(frame: pd.DataFrame) -> None:
    _agree(*_both(frame, "yp ~ x + (1|g)", family="poisson",
                  rand_family=hglm.Gamma(link="log")))


@pytest.fixture(scope="module")
def small_counts() -> pd.DataFrame:
    """20 groups of 8 Poisson counts (tests/fit/test_start.py's)."""
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(20), 8)
    x = rng.normal(size=g.shape[0])
    y = rng.poisson(np.exp(2.3 + 0.1 * x + 0.3 * rng.normal(size=20)[g]))
    return pd.DataFrame({"y": y.astype(float), "x": x, "g": [f"g{i:02d}" for i in g]})


@pytest.mark.parametrize("rand_family", [hglm.Gamma("identity"), hglm.InverseGamma("log"),
                                         hglm.Gamma("inverse")])
def test_non_canonical_random_links_take_the_in_memory_steps(
        small_counts: pd.DataFrame, rand_family: hglm.Family) -> None:
    """Newton's steps in v, then one by the expected information, and step halving where
    a step leaves u > 0 or mu > 0: the Poisson(identity) pairs that diverged at round 1
    with the expected information's steps alone agree with the pandas fit to rounding."""
    mem, dist = _both(small_counts, "y ~ x + (1|g)", n_parts=3,
                      family=hglm.Poisson("identity"), rand_family=rand_family)
    assert dist.n_iter == mem.n_iter
    _agree(mem, dist, rtol=1e-10)


def test_invariant_to_partitions_and_row_order(frame: pd.DataFrame) -> None:
    formula = "yp ~ x + (1|g) + (1|h)"
    fits = []
    shuffled = frame.sample(frac=1.0, random_state=5)
    with warnings.catch_warnings(), dask.config.set(scheduler="sync"):
        warnings.simplefilter("ignore", UserWarning)
        for df, n_parts in ((frame, 1), (frame, 3), (frame, 8), (shuffled, 3)):
            fits.append(hglm.hglm2(formula, data=dd.from_pandas(df, npartitions=n_parts),
                                   family="poisson", conv=CONV))
    for fit in fits[1:]:
        np.testing.assert_allclose(fit.fixef, fits[0].fixef, rtol=1e-9)
        np.testing.assert_allclose(fit.var_ranef, fits[0].var_ranef, rtol=1e-9)
        first = fits[0].ranef.compute()
        np.testing.assert_allclose(fit.ranef.compute()[first.index], first,
                                   rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"disp": "~ 0 + z"}, "disp: with a Dask DataFrame the dispersion model needs an "
                               "intercept"),
        ({"disp": "~ z + (1|h)"}, "disp: random effects in the dispersion model"),
        ({"disp": "~ z", "link_disp": "identity"}, "link_disp: 'identity' with a dispersion"),
        ({"rand_disp": "~ z"}, "rand_disp: random-effect dispersion models"),
        ({"persist": "no"}, "persist: must be True or False"),
        ({"disp": "~ z", "fix_disp": 1.0}, "fix_disp: holds the residual dispersion fixed"),
        ({"cov": {"g": np.eye(3)}}, "cov: known covariances"),
        ({"method": "EQL1"}, "method: 'EQL1' .* not supported with a Dask"),
        ({"method": "ML", "family": "Gamma"}, r"family: Gamma\(inverse\) by ML"),
        ({"weights": np.ones(10)}, "weights: with a Dask DataFrame give a column name"),
        ({"startval": [1.0]}, "startval: starting values"),
    ],
)
def test_refusals(frame: pd.DataFrame, kwargs: dict, match: str) -> None:
    ddf = dd.from_pandas(frame, npartitions=2)
    with pytest.raises(ValueError, match=match), warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*rows dropped")
        hglm.hglm2("yg ~ x + (1|g)", data=ddf, **kwargs)


def test_dispersion_model(frame: pd.DataFrame) -> None:
    """disp= with covariates: the gamma GLM's sums over the partitions, phi_i on them."""
    mem, dist = _both(frame, "yh ~ x + (1|g) + (1|h)", disp="~ z + trt", calc_like=True)
    _agree(mem, dist)
    assert dist.n_iter == mem.n_iter  # the in-memory steps (log link: X_d'X_d norms)
    np.testing.assert_allclose(dist.disp_coef, mem.disp_coef, rtol=1e-8)
    assert dist.var_fix is None
    phi = dist.disp_fitted.compute().loc[dist.data_index[mem.design.rows]]
    np.testing.assert_allclose(phi, mem.disp_fitted, rtol=1e-8)
    for key, value in mem.likelihood.items():
        assert dist.likelihood[key] == pytest.approx(value, rel=1e-9)


@pytest.fixture(scope="module")
def parquet(frame: pd.DataFrame, tmp_path_factory) -> str:
    """The frame written as Parquet files, one range of g's levels per file."""
    path = tmp_path_factory.mktemp("by_g")
    parts = frame.groupby(frame["g"].str[1:].astype(int) // 40)
    dd.concat([dd.from_pandas(p, npartitions=1) for _, p in parts]).to_parquet(path)
    return str(path)


def test_persist_false_reads_every_pass_and_agrees(parquet: str) -> None:
    fits = []
    with warnings.catch_warnings(), dask.config.set(scheduler="sync"):
        warnings.simplefilter("ignore", UserWarning)
        for persist in (True, False):
            fits.append(hglm.hglm2("yh ~ x + (1|g) + (1|h)", data=dd.read_parquet(parquet),
                                   disp="~ z", persist=persist))
    kept, read = fits
    assert read.n_iter == kept.n_iter
    np.testing.assert_allclose(read.fixef, kept.fixef, rtol=1e-12)
    np.testing.assert_allclose(read.disp_coef, kept.disp_coef, rtol=1e-12)
    np.testing.assert_allclose(read.var_ranef, kept.var_ranef, rtol=1e-12)
    pd.testing.assert_frame_equal(read.ranef_frame().compute().sort_index(),
                                  kept.ranef_frame().compute().sort_index(),
                                  rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(read.hat_values.compute(), kept.hat_values.compute(),
                               rtol=1e-10)


def test_persist_false_needs_rows_partitioned_by_the_term(frame: pd.DataFrame) -> None:
    ddf = dd.from_pandas(frame, npartitions=3)
    with pytest.raises(ValueError, match=r"persist: .*\(1\|g\) are spread"), \
            dask.config.set(scheduler="sync"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        hglm.hglm2("yg ~ x + (1|g)", data=ddf, persist=False)


def test_persist_is_for_a_dask_frame(frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="persist: applies to a Dask DataFrame only"):
        hglm.hglm2("yg ~ x + (1|g)", data=frame, persist=False)


def test_hglm_formulas_refused(frame: pd.DataFrame) -> None:
    ddf = dd.from_pandas(frame, npartitions=2)
    with pytest.raises(ValueError, match="data: a Dask DataFrame is fitted by hglm2"):
        hglm.hglm(fixed="yg ~ x", random="~ 1|g", data=ddf)


def test_stateful_transform_refused(frame: pd.DataFrame) -> None:
    ddf = dd.from_pandas(frame, npartitions=2)
    with pytest.raises(ValueError, match="stateful transform"), dask.config.set(
        scheduler="sync"
    ):
        hglm.hglm2("yg ~ scale(x) + (1|g)", data=ddf)


def test_too_many_levels_in_the_other_terms(frame: pd.DataFrame, monkeypatch) -> None:
    monkeypatch.setattr("hglm.distributed.frame.MAX_M", 50)
    ddf = dd.from_pandas(frame, npartitions=2)
    with pytest.raises(ValueError, match=r"\(1\|h\) has 100 levels.*raise max_m"), \
            dask.config.set(scheduler="sync"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        hglm.hglm2("yg ~ x + (1|g) + (1|h)", data=ddf)


def test_processes_cluster(frame: pd.DataFrame, parquet: str) -> None:
    """A LocalCluster with worker processes: chunks and states are pickled (with
    persist=False the light states travel to the client and back).  At the default
    conv: the partitioned fit takes the in-memory fit's steps."""
    distributed = pytest.importorskip("dask.distributed", reason="distributed is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mem = hglm.hglm2("yp ~ x + (1|g)", data=frame, family="poisson", offset="off")
        mem_disp = hglm.hglm2("yh ~ x + (1|g)", data=frame, disp="~ z")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        dist = hglm.hglm2("yp ~ x + (1|g)", data=dd.from_pandas(frame, npartitions=2),
                          family="poisson", offset="off")
        read = hglm.hglm2("yh ~ x + (1|g)", data=dd.read_parquet(parquet), disp="~ z",
                          persist=False)
    assert dist.n_iter == mem.n_iter
    np.testing.assert_allclose(dist.fixef, mem.fixef, rtol=1e-8)
    np.testing.assert_allclose(dist.var_ranef, mem.var_ranef, rtol=1e-8)
    assert read.n_iter == mem_disp.n_iter
    np.testing.assert_allclose(read.fixef, mem_disp.fixef, rtol=1e-8)
    np.testing.assert_allclose(read.disp_coef, mem_disp.disp_coef, rtol=1e-8)


def test_gamma_response_and_a_level_missing_from_the_first_partition(
    frame: pd.DataFrame,
) -> None:
    df = frame.assign(yy=np.exp(0.1 * frame["yg"])).sort_values("trt", kind="stable")
    mem, dist = _both(df, "yy ~ x + trt + (1|g)", n_parts=3,
                      family=hglm.Gamma(link="log"))
    _agree(mem, dist)


def test_not_converged_warns(frame: pd.DataFrame) -> None:
    ddf = dd.from_pandas(frame, npartitions=2)
    with pytest.warns(hglm.ConvergenceWarning, match="EQL is not converged"), \
            dask.config.set(scheduler="sync"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*rows dropped")
        fit = hglm.hglm2("yp ~ x + (1|g)", data=ddf, family="poisson", maxit=2)
    assert not fit.converged


def test_progress_lines(frame: pd.DataFrame) -> None:
    lines: list[str] = []
    with dask.config.set(scheduler="sync"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        hglm.hglm2("yp ~ x + (1|g)", data=dd.from_pandas(frame, npartitions=2),
                   family="poisson", verbose=lines.append)
    assert lines and lines[0].startswith("iteration    1") and "lambda=" in lines[0]


def test_spatial_term_refused(frame: pd.DataFrame) -> None:
    levels = sorted(frame["h"].unique())
    nbr = np.eye(len(levels), k=1) + np.eye(len(levels), k=-1)
    ddf = dd.from_pandas(frame, npartitions=2)
    with pytest.raises(ValueError, match=r"rand_family: \(1\|h\) has correlated effects"), \
            dask.config.set(scheduler="sync"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        hglm.hglm2("yp ~ x + (1|h)", data=ddf, family="poisson",
                   rand_family=hglm.CAR(nbr))


def test_a_level_unknown_to_a_partition_is_refused(frame: pd.DataFrame) -> None:
    """factor() of a numeric column encodes each partition's own levels: refused by name
    rather than mis-encoded.  Here k is nested in g and the partitions are by k (so by
    g, as given): each partition sees one level of k."""
    df = frame.assign(k=frame["g"].str[1:].astype(int) // 40)
    ddf = dd.concat([dd.from_pandas(part, npartitions=1) for _, part in df.groupby("k")])
    with pytest.raises(ValueError, match="fixed-effect columns .* differ .* categorical"), \
            dask.config.set(scheduler="sync"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        hglm.hglm2("yg ~ x + factor(k) + (1|g)", data=ddf)


def test_a_first_partition_without_complete_rows(frame: pd.DataFrame) -> None:
    head = frame.iloc[:50].assign(yp=np.nan)
    parts = [dd.from_pandas(head, npartitions=1), dd.from_pandas(frame.iloc[50:], npartitions=2)]
    with warnings.catch_warnings(), dask.config.set(scheduler="sync"):
        warnings.simplefilter("ignore", UserWarning)
        dist = hglm.hglm2("yp ~ x + (1|g)", data=dd.concat(parts), family="poisson")
        mem = hglm.hglm2("yp ~ x + (1|g)", data=frame.iloc[50:], family="poisson")
    np.testing.assert_allclose(dist.fixef, mem.fixef, rtol=1e-8)
    assert dist.n_obs == mem.n_obs
