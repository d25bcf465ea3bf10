"""fit.partitioned_pirls: the IWLS at given dispersions over partitions of the rows ends
where the in-memory PenalizedIRLS does, with its Newton steps for a random family's
non-canonical link and its step halvings (Poisson(identity) responses)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import hglm
from hglm.engine import make_system
from hglm.fit.partition_chunk import start_state
from hglm.fit.partitioned_pirls import partitioned_pirls
from hglm.fit.pirls import PenalizedIRLS
from hglm.fit.random_effects import RandomEffects
from hglm.spec import RandomTermModel
from hglm.spec.families import random_family, response_family
from hglm.spec.links import LINKS

from .test_partitioned import _partitioned, _problem

TOL = 1e-20


@pytest.mark.parametrize(("rand", "beta0", "lams", "halvings"), [
    ("gaussian", [3.0, -1.0], [0.3, 0.5], 0),
    ("Gamma(identity)", [0.3, -1.0], [1.0, 2.0], 1),
])
def test_the_mode_is_the_in_memory_one(rand: str, beta0: list, lams: list,
                                       halvings: int) -> None:
    pb, a, b = _problem("poisson")
    family = random_family("gaussian" if rand == "gaussian" else hglm.Gamma("identity"))
    term = RandomTermModel(family, None, LINKS["log"])
    pb = replace(pb, y=pb.y + 5.0, family=response_family(hglm.Poisson("identity")),
                 terms=[term, term], X=pb.X * [6.0, 1.0])
    psi = float(family.link.link(np.array(family.psi)))
    lams = np.array(lams)
    whole = PenalizedIRLS(pb, make_system(pb.X, pb.blocks, [None, None]), RandomEffects(pb),
                          TOL, accelerate=True)
    start = np.concatenate([beta0, np.full(69, psi)])
    sol = whole.solve(start, np.ones(pb.y.shape[0]), np.repeat(lams, [9, 60]))
    assert whole.halvings == halvings  # a step out of mu > 0 for Gamma(identity) effects
    model, parts = _partitioned(pb, a, b, 3)
    model = replace(model, terms=pb.terms, family=pb.family)
    x_b0 = np.concatenate([np.full(9, psi), beta0])
    states, _ = parts.advance(lambda c, s: (start_state(c, x_b0, psi), {}), None)
    states, x_b, *_ = partitioned_pirls(parts, model, states, 1.0, lams, TOL, True)
    np.testing.assert_allclose(x_b[9:], sol.delta[:2], rtol=1e-10)
    np.testing.assert_allclose(x_b[:9], sol.delta[2:11], rtol=1e-10)
