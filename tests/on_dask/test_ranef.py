"""distributed.ranef: the partitioning term's random effects stay on the partitions.
Building a Dask fit's result runs no partition's report of them; ``ranef`` (and
``se_ranef``, ``ranef_frame()``) are Dask collections whose computation runs one report
per partition and gives the pandas fit's table row for row; the summary and the export
compute them and show what the pandas fit shows."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask", reason="dask is not installed (pip install hglm[dask])")
dd = pytest.importorskip("dask.dataframe", reason="dask.dataframe is not installed")

import hglm  # noqa: E402
import hglm.distributed.ranef as ranef_module  # noqa: E402
import hglm.fit.partitioned_laplace as laplace_module  # noqa: E402
import hglm.fit.partitioned_lmm as lmm_module  # noqa: E402

from .crossed import crossed  # noqa: E402

N_PARTS = 3


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    n, G, H = 900, 60, 12
    rng, g, h, x = crossed(11, n, G, H)
    b = rng.normal(0, 0.6, G)[g] + rng.normal(0, 0.4, H)[h]
    df = pd.DataFrame({"x": x, "g": [f"G{i:02d}" for i in g], "h": h})
    df["y"] = 2 + 0.5 * x + b + rng.normal(size=n)
    df["c"] = rng.poisson(np.exp(0.3 + 0.2 * x + b))
    return df


def _counted(monkeypatch, module: object, name: str) -> list:
    """Replace ``module.name`` (a partition's report of A's effects) by a counting copy."""
    calls: list = []
    original = getattr(module, name)

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


def _fit(fn, df, formula: str, **kw):
    with warnings.catch_warnings(), dask.config.set(scheduler="sync"):
        warnings.simplefilter("ignore", UserWarning)
        mem = fn(formula, data=df, **kw)
        dist = fn(formula, data=dd.from_pandas(df, npartitions=N_PARTS), **kw)
    return mem, dist


def test_eql_ranef_is_lazy_and_the_pandas_fit(frame: pd.DataFrame, monkeypatch) -> None:
    calls = _counted(monkeypatch, ranef_module, "level_report")
    mem, dist = _fit(hglm.hglm2, frame, "y ~ x + (1|g) + (1|h)", conv=1e-12)
    assert calls == []
    for lazy in (dist.ranef, dist.se_ranef, dist.ranef_frame()):
        assert dask.is_dask_collection(lazy)
    with dask.config.set(scheduler="sync"):
        table = dist.ranef_frame().compute().sort_index()
        assert len(calls) == N_PARTS
        ranef = dist.ranef.compute()
        text, exported = str(dist.summary()), dist.to_dict()
    pd.testing.assert_frame_equal(table, mem.ranef_frame(), check_index_type=False,
                                  check_dtype=False, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ranef[mem.ranef.index], mem.ranef, rtol=1e-8, atol=1e-10)
    section = "Summary of the random effects"
    assert text.split(section, 1)[1].split("DISPERSION")[0] == str(mem.summary()).split(
        section, 1)[1].split("DISPERSION")[0]
    assert [r["name"] for r in exported["ranef"]] == list(mem.ranef.index)
    np.testing.assert_allclose([r["estimate"] for r in exported["ranef"]], mem.ranef,
                               rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(("fn", "module", "name", "kw", "column"), [
    (hglm.lmer, lmm_module, "lmm_level_report", {"REML": True}, "y"),
    (hglm.glmer, laplace_module, "laplace_level_report", {"family": "poisson"}, "c"),
])
def test_lme4_ranef_is_lazy_and_the_pandas_fit(frame: pd.DataFrame, monkeypatch, fn,
                                               module, name: str, kw: dict,
                                               column: str) -> None:
    calls = _counted(monkeypatch, module, name)
    mem, dist = _fit(fn, frame, f"{column} ~ x + (1|g) + (1|h)", **kw)
    assert calls == []
    assert dask.is_dask_collection(dist.ranef)
    with dask.config.set(scheduler="sync"):
        table = dist.ranef.compute().sort_index()
        assert len(calls) == N_PARTS
        by_group = dist.ranef_by_group
        exported = dist.to_dict()
    pd.testing.assert_frame_equal(table, mem.ranef, check_index_type=False,
                                  check_dtype=False, rtol=1e-7, atol=1e-9)
    for group, wide in mem.ranef_by_group.items():
        pd.testing.assert_frame_equal(by_group[group], wide, check_dtype=False,
                                      check_index_type=False, rtol=1e-7, atol=1e-9)
    assert [r["grp"] for r in exported["ranef"]] == list(mem.ranef["grp"])
