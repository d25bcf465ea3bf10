"""fit.partitioned: EQL over partitions of the rows reaches the in-memory fit's fixed
point (fit_eql), whatever the partitions; the partitions run in this process here
(:class:`ListPartitions`), on Dask in tests/distributed."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hglm.engine import Indicator
from hglm.fit import Options, PartitionedModel, fit_eql, fit_partitioned
from hglm.fit.partition_chunk import Chunk
from hglm.spec import Problem, RandomTermModel
from hglm.spec.families import random_family, response_family
from hglm.spec.links import LINKS


class ListPartitions:
    """fit.partitioned.Partitions on a list of chunks, in this process."""

    def __init__(self, chunks: list[Chunk]) -> None:
        self.chunks = chunks

    def advance(self, fn, states, *args, previous=None):
        n = len(self.chunks)
        states = [None] * n if states is None else states
        extra = [{}] * n if previous is None else [{"previous": p} for p in previous]
        outs = [fn(c, s, *args, **kw)
                for c, s, kw in zip(self.chunks, states, extra, strict=True)]
        return [o[0] for o in outs], [o[1] for o in outs]

    def gather(self, fn, states, *args, previous=None):
        n = len(self.chunks)
        states = [None] * n if states is None else states
        previous = [None] * n if previous is None else previous
        return [fn(c, s, p, *args)
                for c, s, p in zip(self.chunks, states, previous, strict=True)]

    def share(self, value):
        return value

    def frames(self, fn, states, *args):
        return [fn(c, s, *args) for c, s in zip(self.chunks, states, strict=True)]

    def __len__(self) -> int:
        return len(self.chunks)

    def total(self, fn, states, *args):
        pieces = self.gather(fn, states, *args)
        return {key: sum(p[key] for p in pieces) for key in pieces[0]}


def _problem(family: str, seed: int = 3, n: int = 900, levels_a: int = 60, levels_b: int = 9):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, levels_a, n), rng.integers(0, levels_b, n)
    x = rng.normal(size=n)
    eta = 0.2 + 0.4 * x + rng.normal(0, 0.6, levels_a)[a] + rng.normal(0, 0.4, levels_b)[b]
    y = {"poisson": lambda: rng.poisson(np.exp(eta)),
         "gaussian": lambda: eta + rng.normal(size=n),
         "binomial": lambda: rng.binomial(1, 1 / (1 + np.exp(-eta)))}[family]()
    term = RandomTermModel(random_family("gaussian"), None, LINKS["log"])
    pb = Problem(
        np.asarray(y, dtype=float), np.column_stack([np.ones(n), x]),
        [Indicator.from_codes(b, None, levels_b), Indicator.from_codes(a, None, levels_a)],
        [term, term], response_family(family), rng.uniform(0.5, 2.0, n),
        rng.normal(0, 0.1, n), None, LINKS["log"], None,
    )
    return pb, a, b


def _by_label(reports: list[dict], labels: list[str], key: str) -> np.ndarray:
    """The partitions' reports of A's effects placed in the order of ``labels``."""
    out = np.full(len(labels), np.nan)
    position = {lab: i for i, lab in enumerate(labels)}
    for rep in reports:
        out[[position[lab] for lab in rep["labels"]]] = rep[key]
    return out


def _partitioned(pb: Problem, a: np.ndarray, b: np.ndarray, n_parts: int):
    chunks = []
    for part in range(n_parts):
        rows = np.flatnonzero(a % n_parts == part)
        own, codes = np.unique(a[rows], return_inverse=True)
        blocks = [Indicator.from_codes(b[rows], None, pb.blocks[0].n_levels),
                  Indicator.from_codes(codes, None, own.shape[0])]
        local = replace(pb, y=pb.y[rows], X=pb.X[rows], blocks=blocks,
                        weights=pb.weights[rows], offset=pb.offset[rows])
        chunks.append(Chunk(local, 1, [str(v) for v in own], part == 0, rows))
    model = PartitionedModel(
        pb.y.shape[0], pb.X.shape[1], [b.n_levels for b in pb.blocks], pb.terms, pb.family,
        pb.fix_disp, 1, np.ones(2),
    )
    return model, ListPartitions(chunks)


@pytest.mark.parametrize("family", ["gaussian", "poisson", "binomial"])
@pytest.mark.parametrize("n_parts", [1, 4])
def test_partitioned_eql_reaches_the_in_memory_fixed_point(family: str, n_parts: int) -> None:
    pb, a, b = _problem(family)
    options = Options(conv=1e-14)
    whole = fit_eql(pb, options)
    model, parts = _partitioned(pb, a, b, n_parts)
    fit, _ = fit_partitioned(model, parts, options)
    np.testing.assert_allclose(fit.beta, whole.beta, rtol=1e-8)
    np.testing.assert_allclose(fit.phi, whole.phi[0], rtol=1e-8)
    np.testing.assert_allclose(fit.lam, [whole.lam[0], whole.lam[-1]], rtol=1e-8)
    np.testing.assert_allclose(fit.other_effects()[0], whole.v[:9], rtol=1e-7, atol=1e-9)
    se = np.sqrt(np.diag(fit.last.s_inverse)[-2:])
    np.testing.assert_allclose(se, np.sqrt(whole.last.factor.diag_inverse()[:2]), rtol=1e-7)
    assert fit.converged
    assert fit.last.observation_leverage_sum == pytest.approx(
        whole.last.observation_leverage_sum, rel=1e-8
    )
