"""The general sparse solver (``hglm.engine.sparse``, with the selected inverse of
``hglm.engine.selected_inverse``) against a dense solve/inverse and
against the structured solver (``hglm.engine.augmented``) on random designs: one factor, two
crossed, nested, a slope, a dense Z block, a precision term and a pedigree precision.

For T1 = [X, Z], weights (w1, w2) and precision terms Q_k, the dense reference is
C = T1' diag(w1) T1 + blockdiag(P_k) with P_k = diag(w2_k) or W2_k^(1/2) Q_k W2_k^(1/2).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from hglm.engine import selected_inverse
from hglm.engine.augmented import AugmentedSystem
from hglm.engine.blocks import as_block
from hglm.engine.factor import NotPositiveDefiniteError
from hglm.engine.sparse import SparseSystem

N, P = 80, 3


def groups(rng, levels):
    g = np.concatenate([np.arange(levels), rng.integers(0, levels, N - levels)])
    return rng.permutation(g)


def one_hot(g, levels, values=None):
    out = np.zeros((g.shape[0], levels))
    out[np.arange(g.shape[0]), g] = 1.0 if values is None else values
    return out


def random_precision(rng, q, density=0.15):
    B = sparse.random(q, q, density=density, random_state=int(rng.integers(1 << 30)))
    return (B @ B.T + sparse.identity(q)).tocsc()


def layout_one(rng):
    return [one_hot(groups(rng, 9), 9)], [None]


def layout_two_crossed(rng):
    return [one_hot(groups(rng, 5), 5), one_hot(groups(rng, 11), 11)], [None, None]


def layout_nested(rng):
    a = groups(rng, 4)
    ab = a * 3 + rng.integers(0, 3, N)
    return [one_hot(a, 4), one_hot(ab, 12)], [None, None]


def layout_slope(rng):
    g = groups(rng, 6)
    return [one_hot(g, 6), one_hot(g, 6, rng.normal(size=N))], [None, None]


def layout_dense(rng):
    return [rng.normal(size=(N, 4)), one_hot(groups(rng, 7), 7)], [None, None]


def layout_dense_only(rng):
    return [rng.normal(size=(N, 5))], [None]


def layout_precision(rng):
    return [one_hot(groups(rng, 10), 10), one_hot(groups(rng, 4), 4)], [
        random_precision(rng, 10), None]


def layout_precision_unobserved(rng):
    # levels 10..14 have no observations: their effects are tied to the rest through Q
    Z = one_hot(groups(rng, 10), 15)
    return [Z, rng.normal(size=(N, 2))], [random_precision(rng, 15, 0.2), None]


def layout_two_precisions(rng):
    return [one_hot(groups(rng, 8), 8), one_hot(groups(rng, 6), 6)], [
        random_precision(rng, 8), random_precision(rng, 6, 0.3)]


LAYOUTS = [layout_one, layout_two_crossed, layout_nested, layout_slope, layout_dense,
           layout_dense_only, layout_precision, layout_precision_unobserved,
           layout_two_precisions]


def problem(layout, seed):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(N), rng.normal(size=(N, P - 1))])
    Zs, Qs = layout(rng)
    widths = [Z.shape[1] for Z in Zs]
    w1 = rng.uniform(0.3, 3.0, N)
    # per term: a constant weight for precision terms (1/lambda), varying for the rest
    w2 = np.concatenate([
        np.full(w, rng.uniform(0.5, 2.0)) if Q is not None else rng.uniform(0.3, 3.0, w)
        for w, Q in zip(widths, Qs, strict=True)
    ])
    T = np.hstack([X, *Zs])
    C = T.T @ (w1[:, None] * T)
    start = P
    logdet_q = 0.0
    for w, Q in zip(widths, Qs, strict=True):
        sl = slice(start, start + w)
        s = np.sqrt(w2[start - P : start - P + w])
        if Q is None:
            C[sl, sl] += np.diag(s**2)
        else:
            C[sl, sl] += s[:, None] * Q.toarray() * s[None, :]
            logdet_q += np.linalg.slogdet(Q.toarray())[1]
        start += w
    return {"X": X, "Zs": Zs, "Qs": Qs, "w1": w1, "w2": w2, "T": T, "C": C,
            "widths": widths, "logdet_q": logdet_q}


@pytest.fixture(params=[0, 1])
def supernodes(request, monkeypatch):
    """Run every test with the default split and with every supernode done densely."""
    if request.param:
        monkeypatch.setattr(selected_inverse, "DENSE_SUPERNODE_PAIRS", 0)
    return request.param


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda f: f.__name__[7:])
def test_against_dense(layout, seed, supernodes) -> None:
    pb = problem(layout, seed)
    system = SparseSystem(pb["X"], [as_block(Z) for Z in pb["Zs"]], pb["Qs"])
    f = system.factorize(pb["w1"], pb["w2"])
    C, T = pb["C"], pb["T"]
    Cinv = np.linalg.inv(C)
    b = np.random.default_rng(seed).normal(size=C.shape[0])
    np.testing.assert_allclose(f.solve(b), np.linalg.solve(C, b), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(f.diag_inverse(), np.diag(Cinv), rtol=1e-9)
    np.testing.assert_allclose(f.rows_quadform(), np.einsum("ij,jk,ik->i", T, Cinv, T),
                               rtol=1e-9)
    np.testing.assert_allclose(f.logdet(), np.linalg.slogdet(C)[1] - pb["logdet_q"],
                               rtol=1e-11)
    np.testing.assert_allclose(f.logdet_random_block(),
                               np.linalg.slogdet(C[P:, P:])[1] - pb["logdet_q"], rtol=1e-11)
    index = np.array([0, P, C.shape[0] - 1])
    np.testing.assert_allclose(f.inverse_block(index), Cinv[np.ix_(index, index)],
                               rtol=1e-9, atol=1e-12)
    # leverage sums: sum w2 diag(C^-1) per ordinary term, tr(C^-1 P_k) per precision term
    slices, start = [], 0
    for w in pb["widths"]:
        slices.append(slice(start, start + w))
        start += w
    expected = []
    for sl, Q in zip(slices, pb["Qs"], strict=True):
        block = Cinv[P + sl.start : P + sl.stop, P + sl.start : P + sl.stop]
        if Q is None:
            expected.append(np.sum(pb["w2"][sl] * np.diag(block)))
        else:
            s = np.sqrt(pb["w2"][sl])
            expected.append(np.trace(block @ (s[:, None] * Q.toarray() * s[None, :])))
    np.testing.assert_allclose(f.weighted_diag_sums(pb["w2"], slices), expected, rtol=1e-9)
    hat = f.random_leverages(pb["w2"])
    for sl, Q, e in zip(slices, pb["Qs"], expected, strict=True):
        np.testing.assert_allclose(np.sum(hat[sl]), e, rtol=1e-9)
        if Q is None:
            np.testing.assert_allclose(hat[sl], pb["w2"][sl] * np.diag(Cinv)[P + sl.start :
                                                                          P + sl.stop],
                                       rtol=1e-9)
    # the leverages of all rows add up to p + q
    total = np.sum(pb["w1"] * f.rows_quadform()) + np.sum(hat)
    np.testing.assert_allclose(total, C.shape[0], rtol=1e-9)


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("layout", [layout_one, layout_two_crossed, layout_nested,
                                    layout_slope, layout_dense, layout_dense_only],
                         ids=lambda f: f.__name__[7:])
def test_against_structured_solver(layout, seed) -> None:
    """Without precision terms both solvers factor the same T'WT."""
    pb = problem(layout, seed)
    blocks = [as_block(Z) for Z in pb["Zs"]]
    fs = SparseSystem(pb["X"], blocks).factorize(pb["w1"], pb["w2"])
    sysa = AugmentedSystem(pb["X"], blocks)
    fa = sysa.factorize(pb["w1"], pb["w2"])
    b = np.random.default_rng(seed).normal(size=P + sum(pb["widths"]))
    np.testing.assert_allclose(fs.solve(b), fa.solve(b), rtol=1e-9, atol=1e-11)
    # a matrix of right-hand sides is solved column by column
    B = np.random.default_rng(seed + 1).normal(size=(b.size, 3))
    by_column = np.column_stack([fa.solve(B[:, j]) for j in range(3)])
    np.testing.assert_allclose(fa.solve(B), by_column, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(fs.solve(B), by_column, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(fs.diag_inverse(), fa.diag_inverse(), rtol=1e-9)
    np.testing.assert_allclose(fs.rows_quadform(), fa.rows_quadform(), rtol=1e-9)
    np.testing.assert_allclose(fs.logdet(), fa.logdet(), rtol=1e-11)
    np.testing.assert_allclose(fs.logdet_random_block(), fa.logdet_random_block(), rtol=1e-11)
    ss = SparseSystem(pb["X"], blocks)
    eta = ss.linear_predictor(b)
    np.testing.assert_allclose(eta, sysa.linear_predictor(b), rtol=1e-12)
    z1, z2 = np.random.default_rng(1).normal(size=N), np.zeros(len(pb["w2"]))
    np.testing.assert_allclose(ss.rhs(pb["w1"], z1, pb["w2"], z2),
                               sysa.rhs(pb["w1"], z1, pb["w2"], z2), rtol=1e-12)
    # T1'y and T'Wz against the dense T = [X, Z] (user order)
    T = pb["T"]
    z2 = np.random.default_rng(2).normal(size=len(pb["w2"]))
    twz = T.T @ (pb["w1"] * z1) + np.r_[np.zeros(P), pb["w2"] * z2]
    for system in (ss, sysa):
        np.testing.assert_allclose(system.linear_predictor(b), T @ b, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(system.t1_rmatvec(z1), T.T @ z1, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(system.rhs(pb["w1"], z1, pb["w2"], z2), twz, rtol=1e-12,
                                   atol=1e-12)


def test_pattern_reused_across_factorizations() -> None:
    """The symbolic analysis and the inverse plan are built once; later factorizations
    with other weights (including exact zeros of w1) reuse them."""
    pb = problem(layout_precision_unobserved, 4)
    system = SparseSystem(pb["X"], [as_block(Z) for Z in pb["Zs"]], pb["Qs"])
    system.factorize(pb["w1"], pb["w2"]).diag_inverse()
    plan = system.inverse_plan
    w1 = pb["w1"].copy()
    w1[:5] = 0.0
    f = system.factorize(w1, 2.0 * pb["w2"])
    T = pb["T"]
    prior = pb["C"] - T.T @ (pb["w1"][:, None] * T)  # blockdiag(P_k), linear in w2
    C = T.T @ (w1[:, None] * T) + 2.0 * prior
    np.testing.assert_allclose(f.diag_inverse(), np.diag(np.linalg.inv(C)), rtol=1e-9)
    assert system.inverse_plan is plan


def test_pedigree_precision_exact_cancellation() -> None:
    """A pedigree's A^{-1} has fill that cancels exactly: the selected inverse still
    closes on the symbolic pattern."""
    import hglm

    rng = np.random.default_rng(2)
    n_animals = 60
    sire = np.zeros(n_animals, dtype=int)
    dam = np.zeros(n_animals, dtype=int)
    for i in range(10, n_animals):
        sire[i] = rng.integers(1, 6)
        dam[i] = rng.integers(6, i + 1)
    Q = hglm.pedigree_precision(np.arange(1, n_animals + 1), sire, dam).matrix
    g = rng.integers(0, n_animals, 100)
    X = np.ones((100, 1))
    Z = one_hot(g, n_animals)
    system = SparseSystem(X, [as_block(Z)], [Q])
    w1, w2 = np.full(100, 1.3), np.full(n_animals, 0.8)
    f = system.factorize(w1, w2)
    C = np.hstack([X, Z]).T @ (w1[:, None] * np.hstack([X, Z]))
    C[1:, 1:] += 0.8 * Q.toarray()
    np.testing.assert_allclose(f.diag_inverse(), np.diag(np.linalg.inv(C)), rtol=1e-9)


def test_not_positive_definite() -> None:
    X = np.ones((6, 1))
    Z = one_hot(np.array([0, 0, 1, 1, 2, 2]), 3)
    Q = sparse.csc_matrix(np.diag([1.0, -1.0, 1.0]))
    system = SparseSystem(X, [as_block(Z)], [Q])
    with pytest.raises(NotPositiveDefiniteError):
        system.factorize(np.ones(6), np.full(3, 10.0))
