"""Tests of ``hglm.spec.precision``: known precisions (``hglm.Precision``) and pedigrees
(``hglm.pedigree_precision``).

* A^{-1} by Henderson's rules with inbreeding against the dense inverse of A computed by
  the tabular method, on small pedigrees (inbreeding, unknown parents, founders not
  listed, rows in any order).
* Errors name the argument.

Fits with a known precision are tested with the other known covariances
(``test_covariance.py``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import hglm


def tabular_A(sire: np.ndarray, dam: np.ndarray) -> np.ndarray:
    """The numerator relationship matrix by the tabular method (parents before
    offspring, -1 unknown): a_ij = (a_j,s(i) + a_j,d(i)) / 2, a_ii = 1 + a_s(i),d(i) / 2."""
    n = sire.shape[0]
    A = np.zeros((n, n))
    for i in range(n):
        for j in range(i):
            a = 0.0
            if sire[i] >= 0:
                a += 0.5 * A[j, sire[i]]
            if dam[i] >= 0:
                a += 0.5 * A[j, dam[i]]
            A[i, j] = A[j, i] = a
        both = sire[i] >= 0 and dam[i] >= 0
        A[i, i] = 1.0 + (0.5 * A[sire[i], dam[i]] if both else 0.0)
    return A


def random_pedigree(rng, n, founders, p_known=0.85, selfing=False):
    sire = np.full(n, -1)
    dam = np.full(n, -1)
    for i in range(founders, n):
        if rng.uniform() < p_known:
            sire[i] = rng.integers(0, i)
        if rng.uniform() < p_known:
            dam[i] = rng.integers(0, i)
            if not selfing and dam[i] == sire[i]:
                dam[i] = -1
    return sire, dam


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_pedigree_precision_equals_tabular_inverse(seed) -> None:
    rng = np.random.default_rng(seed)
    n = 70
    sire, dam = random_pedigree(rng, n, 6, selfing=seed == 3)
    A = tabular_A(sire, dam)
    ids = np.arange(1, n + 1)
    perm = rng.permutation(n)  # rows in any order
    ped = hglm.pedigree_precision(ids[perm], (sire + 1)[perm], (dam + 1)[perm])
    idx = np.array([int(lab) for lab in ped.labels]) - 1
    Q = ped.matrix.toarray()
    np.testing.assert_allclose(Q, np.linalg.inv(A)[np.ix_(idx, idx)], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ped.inbreeding.to_numpy(), np.diag(A)[idx] - 1.0, atol=1e-13)
    assert ped.inbreeding.max() > 0.1  # the test pedigrees are inbred
    assert sparse.issparse(ped.matrix)


def test_pedigree_unknown_codes_and_founders() -> None:
    """Unknown parents as NA, None, 0, "0" or ""; parents not listed as animals are
    added as founders, first, in order of appearance."""
    frame = pd.DataFrame({
        "animal": ["c1", "c2", "c3", "g1"],
        "sire": ["s1", "s1", None, "c1"],
        "dam": ["d1", "0", np.nan, "c2"],
    })
    ped = hglm.pedigree_precision(frame)
    assert ped.labels == ["s1", "d1", "c1", "c2", "c3", "g1"]
    # tabular A in the labels' order (parents first)
    sire = np.array([-1, -1, 0, 0, -1, 2])
    dam = np.array([-1, -1, 1, -1, -1, 3])
    np.testing.assert_allclose(ped.matrix.toarray(), np.linalg.inv(tabular_A(sire, dam)),
                               atol=1e-12)
    assert ped.inbreeding["g1"] == pytest.approx(0.125)  # half-sib mating
    numeric = hglm.pedigree_precision([1, 2, 3], [0, 0, 1], [0, 0, 2])
    assert numeric.labels == ["1", "2", "3"]
    floats = hglm.pedigree_precision([1, 2, 3], [np.nan, np.nan, 1.0], [0.0, 0.0, 2.0])
    assert floats.labels == ["1", "2", "3"]
    np.testing.assert_allclose(floats.matrix.toarray(), numeric.matrix.toarray())


def test_pedigree_deep_inbreeding() -> None:
    """Repeated full-sib mating: F follows F_t = (1 + 2 F_{t-1} + F_{t-2}) / 4."""
    animals, sires, dams = ["m0", "f0"], [0, 0], [0, 0]
    for t in range(1, 9):
        animals += [f"m{t}", f"f{t}"]
        sires += [f"m{t - 1}"] * 2
        dams += [f"f{t - 1}"] * 2
    ped = hglm.pedigree_precision(animals, sires, dams)
    F = [0.0, 0.0]  # founders, and their offspring
    for _ in range(2, 9):
        F.append((1 + 2 * F[-1] + F[-2]) / 4)
    np.testing.assert_allclose(ped.inbreeding[[f"m{t}" for t in range(9)]].to_numpy(), F,
                               atol=1e-12)


def _raises_naming(argument: str, call, *args, **kw) -> str:
    with pytest.raises(ValueError) as info:
        call(*args, **kw)
    msg = str(info.value)
    assert re.search(rf"(?<![\w.]){re.escape(argument)}(?![\w])", msg), msg
    return msg


def test_pedigree_errors() -> None:
    _raises_naming("animal", hglm.pedigree_precision, [1, 2, 2], [0, 0, 1], [0, 0, 1])
    _raises_naming("animal", hglm.pedigree_precision, [1, None], [0, 0], [0, 0])
    _raises_naming("sire", hglm.pedigree_precision, [1, 2], [0, 0, 0], [0, 0])
    _raises_naming("sire", hglm.pedigree_precision, [1, 2], [0, 2], [0, 0])
    msg = _raises_naming("sire", hglm.pedigree_precision, [1, 2, 3], [3, 1, 2], [0, 0, 0])
    assert "loop" in msg
    _raises_naming("sire", hglm.pedigree_precision, [1, 2])


def test_precision_container() -> None:
    Q = np.array([[2.0, -1.0, 0.0], [-1.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
    frame = pd.DataFrame(Q, index=["a", "b", "c"], columns=["a", "b", "c"])
    shuffled = frame.iloc[[2, 0, 1], [1, 2, 0]]
    P = hglm.Precision(shuffled)
    assert P.labels == ["c", "a", "b"]
    np.testing.assert_allclose(P.matrix.toarray(), frame.loc[P.labels, P.labels].to_numpy())
    assert "3 x 3" in repr(P)
    with pytest.raises(ValueError, match="labels"):
        hglm.Precision(Q, labels=["a", "b"])
    with pytest.raises(ValueError, match="unique"):
        hglm.Precision(Q, labels=["a", "a", "b"])
