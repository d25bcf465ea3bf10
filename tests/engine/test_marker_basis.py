"""The n x n basis of a marker design and the way back to the markers, against the dense
q-dimensional augmented system."""

from __future__ import annotations

import numpy as np

from hglm.engine import MarkerBasis, bigrr_leverages, marker_leverages, weighted_gram


def _problem(n: int = 12, q: int = 40, seed: int = 3) -> tuple:
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, q))
    Z -= Z.mean(axis=0)  # centred: G is singular, as for scale(Z)
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    return Z, X, rng.uniform(0.2, 2.0, q), rng.uniform(0.1, 0.3, n)


def test_weighted_gram_is_z_diag_w_z() -> None:
    Z, _, w, _ = _problem()
    np.testing.assert_allclose(weighted_gram(Z, w), (Z * w) @ Z.T, rtol=1e-12)
    np.testing.assert_allclose(weighted_gram(Z, None), Z @ Z.T, rtol=1e-12)


def test_design_reproduces_g_and_markers_invert_it() -> None:
    """L L' = G, and u = w Z' G^+ L v gives Z u = L v for any v."""
    Z, _, w, _ = _problem()
    basis = MarkerBasis(Z, w)
    L = basis.design
    np.testing.assert_allclose(L @ L.T, basis.G, atol=1e-10 * np.abs(basis.G).max())
    assert int(np.sum(~basis.positive)) == 1  # the centred columns' null direction
    v = np.random.default_rng(1).standard_normal(Z.shape[0])
    v[~basis.positive] = 0.0
    np.testing.assert_allclose(Z @ basis.markers(v), L @ v, atol=1e-10)


def test_marker_leverages_are_the_augmented_hat_diagonal() -> None:
    """h_j = w2_j (C^{-1})_jj for C = T'WT of the q-dimensional system, W2 = 1/(lambda w)."""
    Z, X, w, w1 = _problem()
    lam = 0.7
    n, q = Z.shape
    p = X.shape[1]
    T1 = np.hstack([X, Z])
    C = T1.T @ (w1[:, None] * T1)
    C[p:, p:] += np.diag(1.0 / (lam * w))
    expected = np.diag(np.linalg.inv(C))[p:] / (lam * w)
    got = marker_leverages(Z, w, weighted_gram(Z, w), X, w1, lam)
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_bigrr_leverages_take_the_svd_coordinates_in_the_symmetric_root() -> None:
    """R's bigRR leverages from the transformed augmented system: the reliabilities
    I - C22 / lambda of n effects on the design G^{1/2} (Gaussian weights w1), read with
    marker j's coordinates t_j = w_j diag(g^{-1/2}) U' z_j in the basis U diag(sqrt(g)) of
    the SVD G = U diag(g) U': 1 - h_j = t_j' (I - C22 / lambda) t_j / w_j."""
    Z, X, w, w1 = _problem()
    lam = 0.7
    n, p = X.shape
    G = weighted_gram(Z, w)
    U, g, _ = np.linalg.svd(G)
    g[-1] = 0.0  # the centred columns' null direction
    root = (U * np.sqrt(g)) @ U.T
    T1 = np.hstack([X, root])
    C = T1.T @ (w1[:, None] * T1)
    C[p:, p:] += np.eye(n) / lam
    reliability = np.eye(n) - np.linalg.inv(C)[p:, p:] / lam
    inv_root = np.r_[1.0 / np.sqrt(g[:-1]), 0.0]
    t = inv_root[:, None] * (U.T @ Z) * w
    expected = 1.0 - np.einsum("ij,ij->j", t, reliability @ t) / w
    got = bigrr_leverages(Z, w, G, X, w1, lam)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    exact = marker_leverages(Z, w, G, X, w1, lam)
    assert np.max(np.abs(got - exact)) > 1e-3  # not the hat diagonal
