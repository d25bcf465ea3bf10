"""lmer on a Dask DataFrame (distributed.marginal): the pandas fit's estimates to 1e-8
(logLik, fixef, SEs, theta, sigma, ranef by label), ML and REML, crossed and nested,
whatever the partitions and the order of the rows, from Parquet with persist=False and on
worker processes; the named refusals."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask", reason="dask is not installed (pip install hglm[dask])")
dd = pytest.importorskip("dask.dataframe", reason="dask.dataframe is not installed")

import hglm  # noqa: E402
from hglm.results import PartitionedMarginalResult  # noqa: E402
from hglm.results.confint import LMMProfile  # noqa: E402

from .crossed import crossed  # noqa: E402


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    n, G, H = 1800, 90, 40
    rng, g, h, x = crossed(5, n, G, H)
    df = pd.DataFrame({"x": x, "g": [f"G{i:02d}" for i in g], "h": h,
                       "w": rng.uniform(0.5, 2, n), "off": rng.normal(0, 0.1, n)})
    df["y"] = (20 + 0.5 * x + rng.normal(0, 0.7, G)[g] + rng.normal(0, 0.4, H)[h]
               + rng.normal(size=n))
    # classes nested in schools: the class (the partitioning term) within one school
    df["school"] = [f"S{i:02d}" for i in g // 6]
    df["yn"] = (5 + 0.3 * x + rng.normal(0, 0.5, 15)[g // 6] + rng.normal(0, 0.6, G)[g]
                + rng.normal(size=n))
    df.loc[rng.choice(n, 30, replace=False), "x"] = np.nan
    return df


def _quietly(fit, *args, **kw):
    """``fit(*args, **kw)`` on Dask's synchronous scheduler, its dropped-rows warning
    (the NaN rows of x) silenced."""
    with warnings.catch_warnings(), dask.config.set(scheduler="sync"):
        warnings.filterwarnings("ignore", ".*rows dropped")
        return fit(*args, **kw)


def _fit(data, formula: str, reml: bool, **kw):
    return _quietly(hglm.lmer, formula, data=data, REML=reml, **kw)


def _agree(mem, dist, rtol: float = 1e-8) -> None:
    assert isinstance(dist, PartitionedMarginalResult)
    assert dist.n_obs == mem.n_obs
    assert dist.loglik == pytest.approx(mem.loglik, rel=1e-10)
    assert dist.deviance == pytest.approx(mem.deviance, rel=1e-10)
    np.testing.assert_allclose(dist.fixef, mem.fixef, rtol=rtol)
    np.testing.assert_allclose(dist.se_fixef, mem.se_fixef, rtol=rtol)
    np.testing.assert_allclose(dist.theta, mem.theta, rtol=rtol)
    assert dist.sigma == pytest.approx(mem.sigma, rel=rtol)
    key = ["grpvar", "term", "grp"]
    left, right = mem.ranef.set_index(key), dist.ranef.compute().set_index(key)
    assert sorted(left.index) == sorted(right.index)
    right = right.loc[left.index]
    np.testing.assert_allclose(right["condval"], left["condval"], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(right["condsd"], left["condsd"], rtol=rtol)
    # by position: the in-memory fit's table, row for row
    pd.testing.assert_frame_equal(dist.ranef.compute().sort_index(), mem.ranef,
                                  check_dtype=False, check_index_type=False, rtol=1e-7,
                                  atol=1e-9)
    pd.testing.assert_frame_equal(dist.varcorr, mem.varcorr, rtol=rtol)


@pytest.mark.parametrize("reml", [True, False])
def test_crossed_weights_offset_nan_rows(frame: pd.DataFrame, reml: bool) -> None:
    formula = "y ~ x + (1|g) + (1|h)"
    mem = _fit(frame, formula, reml, weights="w", offset="off")
    dist = _fit(dd.from_pandas(frame, npartitions=4), formula, reml, weights="w",
                offset="off")
    _agree(mem, dist)
    assert dist.n_iter == mem.n_iter
    rows = pd.DataFrame({"fitted": dist.fitted.compute(),
                         "resid": dist.residuals("pearson", scaled=True).compute()})
    rows = rows.loc[frame.index[mem.design.rows]]
    np.testing.assert_allclose(rows["fitted"], mem.fitted, rtol=1e-10)
    np.testing.assert_allclose(rows["resid"], mem.residuals("pearson", scaled=True),
                               rtol=1e-7, atol=1e-9)
    text = str(dist.summary())
    assert "Number of obs: 1770, groups:  g, 90; h, 40" in text
    assert str(mem.summary()).split("Scaled residuals")[0] == text.split("Scaled residuals")[0]


@pytest.mark.parametrize("reml", [True, False])
def test_nested(frame: pd.DataFrame, reml: bool) -> None:
    formula = "yn ~ x + (1|school) + (1|g)"
    mem = _fit(frame, formula, reml)
    _agree(mem, _fit(dd.from_pandas(frame, npartitions=3), formula, reml))


def test_independent_slopes(frame: pd.DataFrame) -> None:
    """(x || g): the intercepts of g are eliminated per partition, its slopes (a second
    term on the partitioning factor) are solved on the client with h's effects."""
    formula = "y ~ x + (x||g) + (1|h)"
    mem = _fit(frame, formula, True)
    _agree(mem, _fit(dd.from_pandas(frame, npartitions=3), formula, True))


def test_invariant_to_partitions_and_row_order(frame: pd.DataFrame) -> None:
    formula = "y ~ x + (1|g) + (1|h)"
    shuffled = frame.sample(frac=1.0, random_state=1)
    fits = [_fit(dd.from_pandas(df, npartitions=k), formula, True)
            for df, k in ((frame, 1), (frame, 8), (shuffled, 3))]
    for fit in fits[1:]:
        np.testing.assert_allclose(fit.fixef, fits[0].fixef, rtol=1e-10)
        np.testing.assert_allclose(fit.theta, fits[0].theta, rtol=1e-10)
        assert fit.loglik == pytest.approx(fits[0].loglik, rel=1e-12)


def test_start_wald_and_the_profiled_ml_deviance(frame: pd.DataFrame) -> None:
    """``start`` in lme4's order; the pieces that confint's likelihood profile reads (a
    profile on Dask costs one pass per evaluation: checked here by its ML optimum)."""
    formula = "yn ~ x + (1|school) + (1|g)"
    mem = _fit(frame, formula, True, start=[0.5, 0.5])
    dist = _fit(dd.from_pandas(frame, npartitions=2), formula, True, start=[0.5, 0.5])
    _agree(mem, dist)
    pd.testing.assert_frame_equal(dist.confint(method="wald"), mem.confint(method="wald"),
                                  rtol=1e-8)
    theta = mem.theta[np.argsort(mem.term_order)]
    with dask.config.set(scheduler="sync"):
        split = LMMProfile(dist._fit.deviance, theta)
    whole = LMMProfile(mem._fit.deviance, theta)
    assert split.minimum == pytest.approx(whole.minimum, rel=1e-10)
    # the same deviance to the last bit on both paths; the optimum's gradient by central
    # differences determines the estimates to ~1e-9 (5.5e-10 seen)
    np.testing.assert_allclose(split.estimates, whole.estimates, rtol=1e-8)


def test_persist_false_from_parquet(frame: pd.DataFrame, tmp_path) -> None:
    formula = "y ~ x + (1|g) + (1|h)"
    mem = _fit(frame, formula, True)
    with dask.config.set(scheduler="sync"):
        dd.from_pandas(frame, npartitions=3).shuffle(on="g").to_parquet(tmp_path / "by_g")
    with warnings.catch_warnings(), dask.config.set(scheduler="sync"):
        warnings.filterwarnings("ignore", ".*rows dropped")
        read = hglm.hglm2(formula, data=dd.read_parquet(tmp_path / "by_g"), method="REML",
                          persist=False)
    _agree(mem, read)
    assert read.n_iter == mem.n_iter


def test_processes_cluster(frame: pd.DataFrame) -> None:
    """Worker processes: the chunks, level statistics and pieces are pickled."""
    distributed = pytest.importorskip("dask.distributed", reason="distributed is not installed")
    formula = "y ~ x + (1|g) + (1|h)"
    mem = _fit(frame, formula, True)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster), warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*rows dropped")
        dist = hglm.lmer(formula, data=dd.from_pandas(frame, npartitions=2))
        fitted = dist.fitted.compute()
        _agree(mem, dist)  # ranef: computed on the workers holding the partitions
    assert fitted.shape == (mem.n_obs,)


@pytest.mark.parametrize(
    ("formula", "kwargs", "match"),
    [
        ("y ~ x + (1 + x|g)", {}, "rand_family: .*unstructured covariance.*Dask"),
        ("y ~ x + (1|g)", {"disp": "~ x"}, "disp: a residual-dispersion model"),
        ("y ~ x + (1|g)", {"rand_family": "Gamma"}, "rand_family: .*Gaussian random"),
        ("y ~ x + (1|g)", {"persist": "no"}, "persist: must be True or False"),
    ],
)
def test_refusals(frame: pd.DataFrame, formula: str, kwargs: dict, match: str) -> None:
    ddf = dd.from_pandas(frame, npartitions=2)
    with pytest.raises(ValueError, match=match), warnings.catch_warnings(), \
            dask.config.set(scheduler="sync"):
        warnings.filterwarnings("ignore", ".*rows dropped")
        hglm.hglm2(formula, data=ddf, method="REML", **kwargs)


def test_one_term_and_what_only_a_pandas_fit_has(frame: pd.DataFrame) -> None:
    """One term (m = p: the client's system is the fixed effects' alone); predict and
    simulate are refused by name."""
    mem = _fit(frame, "y ~ x + (1|g)", True)
    dist = _fit(dd.from_pandas(frame, npartitions=2), "y ~ x + (1|g)", True)
    _agree(mem, dist)
    with pytest.raises(ValueError, match="refit: a REML fit on a Dask DataFrame"):
        hglm.anova(dist, mem)
    with pytest.raises(NotImplementedError, match="predict: not available"):
        dist.predict()
    with pytest.raises(NotImplementedError, match="simulate"):
        dist.simulate()


# --- glmer: the Laplace fit of binomial and Poisson GLMMs ----------------------------


@pytest.fixture(scope="module")
def counts() -> pd.DataFrame:
    n, G, H = 1200, 70, 25
    rng, g, h, x = crossed(11, n, G, H)
    df = pd.DataFrame({"x": x, "g": [f"G{i:02d}" for i in g], "h": h,
                       "trials": rng.integers(1, 6, n), "off": rng.normal(0, 0.2, n)})
    eta = -0.2 + 0.5 * x + rng.normal(0, 0.7, G)[g] + rng.normal(0, 0.4, H)[h]
    df["s"] = rng.binomial(df["trials"], 1 / (1 + np.exp(-eta)))
    df["f"] = df["trials"] - df["s"]
    df["prop"] = df["s"] / df["trials"]
    df["c"] = rng.poisson(np.exp(0.3 + 0.3 * x + df["off"] + rng.normal(0, 0.5, G)[g]))
    df.loc[rng.choice(n, 20, replace=False), "x"] = np.nan
    return df


def _glmer(data, formula: str, family: str, **kw):
    return _quietly(hglm.glmer, formula, data=data, family=family, **kw)


def _agree_glmer(mem, dist, frame: pd.DataFrame) -> None:
    _agree(mem, dist)
    assert dist.n_iter == mem.n_iter
    rows = pd.DataFrame({"fitted": dist.fitted.compute(),
                         "deviance": dist.residuals().compute(),
                         "pearson": dist.residuals("pearson").compute()})
    rows = rows.loc[frame.index[mem.design.rows]]
    np.testing.assert_allclose(rows["fitted"], mem.fitted, rtol=1e-8)
    np.testing.assert_allclose(rows["deviance"], mem.residuals(), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(rows["pearson"], mem.residuals("pearson"), rtol=1e-7,
                               atol=1e-9)
    text = str(dist.summary())
    assert str(mem.summary()).split("Scaled residuals")[0] == text.split("Scaled residuals")[0]
    assert str(mem.summary()).split("Random effects")[1] == text.split("Random effects")[1]


@pytest.mark.parametrize("n_parts", [1, 4])
@pytest.mark.parametrize(("formula", "kwargs"), [
    ("cbind(s, f) ~ x + (1|g) + (1|h)", {}),
    ("prop ~ x + (1|g) + (1|h)", {"weights": "trials"}),
])
def test_glmer_binomialcrossed(counts: pd.DataFrame, n_parts: int, formula: str,
                                kwargs: dict) -> None:
    mem = _glmer(counts, formula, "binomial", **kwargs)
    dist = _glmer(dd.from_pandas(counts, npartitions=n_parts), formula, "binomial", **kwargs)
    assert dist.method == "Laplace"
    _agree_glmer(mem, dist, counts)


def test_glmer_poisson_offset_row_order_and_persist_false(counts: pd.DataFrame,
                                                          tmp_path) -> None:
    formula = "c ~ x + (1|g)"  # one term: B is the fixed effects alone
    mem = _glmer(counts, formula, "poisson", offset="off")
    shuffled = counts.sample(frac=1.0, random_state=2)
    dist = _glmer(dd.from_pandas(shuffled, npartitions=3), formula, "poisson", offset="off")
    _agree_glmer(mem, dist, counts)
    with dask.config.set(scheduler="sync"):
        dd.from_pandas(counts, npartitions=3).shuffle(on="g").to_parquet(tmp_path / "by_g")
    with warnings.catch_warnings(), dask.config.set(scheduler="sync"):
        warnings.filterwarnings("ignore", ".*rows dropped")
        read = hglm.hglm2(formula, data=dd.read_parquet(tmp_path / "by_g"), family="poisson",
                          method="ML", offset="off", persist=False)
    _agree(mem, read)


def test_glmer_on_worker_processes(counts: pd.DataFrame) -> None:
    """The chunks, states and the gradient's scratch are pickled."""
    distributed = pytest.importorskip("dask.distributed", reason="distributed is not installed")
    formula = "cbind(s, f) ~ x + (1|g) + (1|h)"
    mem = _glmer(counts, formula, "binomial")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster), warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*rows dropped")
        dist = hglm.glmer(formula, data=dd.from_pandas(counts, npartitions=2),
                          family="binomial")
        assert dist.fitted.compute().shape == (mem.n_obs,)
        _agree(mem, dist)  # its deviance reads the rows, which live on the cluster


@pytest.mark.parametrize(
    ("formula", "kwargs", "match"),
    [
        ("c ~ x + (1|g)", {"nAGQ": 5}, "nAGQ: glmer on a Dask DataFrame is the Laplace"),
        ("c ~ x + (1|g)", {"nAGQ": 0}, "nAGQ: glmer on a Dask DataFrame is the Laplace"),
        ("c ~ x + (1 + x|g)", {}, "rand_family: .*unstructured covariance.*Dask"),
        ("c ~ x + (1|g)", {"family": "Gamma"}, r"family: Gamma\(inverse\) by ML"),
        ("cbind(s, f) ~ x + (1|g)", {"family": hglm.Binomial(link="probit")},
         r"family: binomial\(probit\) by ML"),
        ("prop ~ x + (1|g)", {"family": "binomial"}, "weights: a binomial response needs "
         "whole numbers"),
    ],
)
def test_glmer_refusals(counts: pd.DataFrame, formula: str, kwargs: dict, match: str) -> None:
    kwargs = {"family": "poisson", **kwargs}
    with pytest.raises(ValueError, match=match):
        _glmer(dd.from_pandas(counts, npartitions=2), formula, **kwargs)


def test_glmer_laplace_reml_and_profile_refused(counts: pd.DataFrame) -> None:
    ddf = dd.from_pandas(counts, npartitions=2)
    with pytest.raises(ValueError, match="method: Laplace-REML of a GLMM"):
        hglm.hglm2("c ~ x + (1|g)", data=ddf, family="poisson", method="REML")
    mem = _glmer(counts, "c ~ x + (1|g)", "poisson")
    dist = _glmer(ddf, "c ~ x + (1|g)", "poisson")
    pd.testing.assert_frame_equal(dist.confint(method="wald"), mem.confint(method="wald"),
                                  rtol=1e-8)
    with pytest.raises(ValueError, match="method: 'profile' intervals of a glmer fit"):
        dist.confint()
