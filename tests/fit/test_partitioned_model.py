"""fit.partitioned_model: the B layout of a partitioned model (the other terms' effects
first, in term order, then beta)."""

from __future__ import annotations

import numpy as np

from hglm.fit import PartitionedModel
from hglm.spec import RandomTermModel
from hglm.spec.families import random_family, response_family
from hglm.spec.links import LINKS


def _model(family: str, a_term: int) -> PartitionedModel:
    term = RandomTermModel(random_family("gaussian"), None, LINKS["log"])
    return PartitionedModel(100, 2, [5, 40, 3], [term] * 3, response_family(family), None,
                            a_term, np.ones(3))


def test_other_terms_come_first_in_term_order() -> None:
    model = _model("gaussian", 1)
    assert model.other_terms == [0, 2]
    assert model.b_slices() == [slice(0, 5), slice(5, 8)]


def test_linear_only_for_a_gaussian_identity_model() -> None:
    assert _model("gaussian", 1).is_linear
    assert not _model("poisson", 1).is_linear
