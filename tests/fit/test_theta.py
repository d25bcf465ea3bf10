"""lme4's flat theta and the spherical form of vector-valued terms (hglm.fit.theta)."""

from __future__ import annotations

import numpy as np
import pytest

from hglm.engine import Grouped, transformed_blocks
from hglm.fit.theta import (
    ThetaLayout,
    check_vector_terms,
    effects_scale,
    effects_variances,
    factors_key,
    inverse_trace,
    level_trace,
)
from hglm.spec import KnownPrecision, RandomTermModel, Unstructured, get_link
from hglm.spec.families import random_family

from .glmm_problems import vector_problem


def test_layout_follows_lme4s_order_and_bounds():
    pb = vector_problem(scalar_levels=5)
    layout = ThetaLayout(pb)
    assert layout.size == 4 and layout.vector == [True, False]
    assert [(sl.start, sl.stop) for sl in layout.slices] == [(0, 3), (3, 4)]
    # Lambda = [[a, 0], [b, c]]: theta = (a, b, c), the diagonal bounded by 0
    np.testing.assert_array_equal(layout.bounded, [True, False, True, True])
    np.testing.assert_array_equal(layout.start(), [1.0, 0.0, 1.0, 1.0])
    theta = np.array([2.0, 0.5, 3.0, 0.7])
    np.testing.assert_array_equal(layout.factors(theta)[0], [[2.0, 0.0], [0.5, 3.0]])
    cov = layout.covariances_of(theta, 4.0)
    np.testing.assert_allclose(cov[0], 4.0 * np.array([[4.0, 1.0], [1.0, 9.25]]))
    np.testing.assert_allclose(cov[1], [[4.0 * 0.49]])
    assert not layout.singular(theta)
    assert layout.singular(np.array([2.0, 0.5, 0.0, 0.7]))
    assert not layout.singular(np.array([2.0, 0.0, 3.0, 0.7]))  # a zero correlation


def test_spherical_block_is_z_lambda_and_effects_map_back():
    pb = vector_problem()
    block = pb.blocks[0]
    L = np.array([[1.5, 0.0], [-0.4, 0.8]])
    (sph,) = transformed_blocks(pb.blocks, [L])
    Z = block.toarray()
    m = block.n_levels
    np.testing.assert_allclose(sph.toarray(), Z @ np.kron(np.eye(m), L))
    b = np.random.default_rng(1).normal(size=2 * m)
    u = effects_scale(b, [slice(0, 2 * m)], [L])
    np.testing.assert_allclose(u, np.kron(np.eye(m), L) @ b)
    np.testing.assert_allclose(Z @ u, sph.toarray() @ b)


def test_conditional_variances_of_u_from_the_blocks_of_b():
    rng = np.random.default_rng(2)
    L = np.array([[1.5, 0.0], [-0.4, 0.8]])
    blocks = rng.normal(size=(3, 2, 2))
    blocks = blocks @ blocks.transpose(0, 2, 1)
    out = effects_variances(np.zeros(6), [slice(0, 6)], [L], lambda sl, q: blocks)
    expected = np.concatenate([np.diag(L @ B @ L.T) for B in blocks])
    np.testing.assert_allclose(out, expected)


def test_inverse_trace_is_the_level_trace_of_a_lone_term():
    """With M_ll = Lambda' G_l Lambda + I (the only random term), the two forms of
    (m I - sum_l M^{-1}_ll) Lambda^{-1} agree; only inverse_trace inverts Lambda."""
    rng = np.random.default_rng(5)
    L = np.array([[1.2, 0.0], [0.3, 0.7]])
    gram = rng.normal(size=(4, 3, 2))
    gram = gram.transpose(0, 2, 1) @ gram
    inverse = np.linalg.inv(L.T @ gram @ L + np.eye(2))
    np.testing.assert_allclose(inverse_trace(inverse, L), level_trace(inverse, L, gram),
                               rtol=1e-12, atol=1e-14)


def test_refuses_vector_terms_with_what_is_not_supported():
    pb = vector_problem(scalar_levels=4)
    pb.terms[1].covariance = KnownPrecision(np.eye(4))
    with pytest.raises(ValueError, match="known covariance, precision or spatial"):
        check_vector_terms(pb, "EQL")
    pb = vector_problem()
    pb.terms[0] = RandomTermModel(random_family("Gamma"), None, get_link("log"),
                                  Unstructured(2))
    with pytest.raises(ValueError, match="rand_family"):
        check_vector_terms(pb, "EQL")
    pb = vector_problem()
    pb.terms[0].x_disp = np.ones((32, 1))
    with pytest.raises(ValueError, match="x_rand_disp"):
        check_vector_terms(pb, "EQL")
    pb = vector_problem()
    pb.blocks[0] = Grouped(pb.blocks[0].index, pb.blocks[0].values[:, :1], 16)
    with pytest.raises(ValueError, match="blocks"):
        check_vector_terms(pb, "EQL")


def test_factors_key_tells_lambdas_apart():
    """Equal Lambdas give equal keys, another Lambda another key; scalar terms none."""
    L = np.array([[1.0, 0.0], [0.3, 0.8]])
    assert factors_key([None, L]) == factors_key([None, L.copy()])
    assert factors_key([None, L]) != factors_key([None, 2.0 * L])
    assert factors_key([None, None]) == b""
