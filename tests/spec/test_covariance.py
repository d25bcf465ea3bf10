"""Tests of ``hglm.spec.covariance``: random terms with a known covariance or precision.

* A fit with Precision(A^{-1}) equals the fit with the dense covariance A (fixef, variance
  components, ranef, standard errors, likelihoods) on a small simulated pedigree, in
  both interfaces; ancestors without records are kept as random effects in hglm2.
* A sparse covariance with small connected components is inverted block by block.
* Errors name the argument.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import hglm

from .test_precision import _raises_naming, tabular_A

# --- fits: Precision(A^-1) against the dense covariance A -------------------------------


@pytest.fixture(scope="module")
def pedigree_model() -> dict:
    rng = np.random.default_rng(5)
    n_animals = 120
    sire, dam = np.full(n_animals, -1), np.full(n_animals, -1)
    for i in range(20, n_animals):
        sire[i] = rng.integers(0, 10)
        dam[i] = rng.integers(10, i)
    labels = np.array([f"a{j:03d}" for j in range(n_animals)])
    ped = hglm.pedigree_precision(labels, np.where(sire >= 0, labels[np.maximum(sire, 0)], None),
                                  np.where(dam >= 0, labels[np.maximum(dam, 0)], None))
    assert ped.labels == list(labels)
    A = tabular_A(sire, dam)
    u = np.linalg.cholesky(A) @ rng.normal(0.0, 1.2, n_animals)
    g = np.repeat(np.arange(n_animals), 3)
    n = g.size
    x = rng.normal(size=n)
    y = 1.0 + 0.5 * x + u[g] + rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    Z = np.eye(n_animals)[g]
    return {"ped": ped, "A": A, "X": X, "Z": Z, "y": y, "labels": labels,
            "df": pd.DataFrame({"y": y, "x": x, "animal": labels[g]})}


TIGHT = {"conv": 1e-14, "maxit": 500, "calc_like": True}


def _assert_same_fit(a, b, rtol=1e-8) -> None:
    np.testing.assert_allclose(a.fixef.to_numpy(), b.fixef.to_numpy(), rtol=rtol)
    np.testing.assert_allclose(a.se_fixef.to_numpy(), b.se_fixef.to_numpy(), rtol=rtol)
    np.testing.assert_allclose(a.var_fix, b.var_fix, rtol=rtol)
    np.testing.assert_allclose(a.var_ranef, b.var_ranef, rtol=rtol)
    scale = np.abs(b.ranef.to_numpy()).max()
    np.testing.assert_allclose(a.ranef.to_numpy(), b.ranef.to_numpy(), rtol=0,
                               atol=rtol * scale)
    np.testing.assert_allclose(a.se_ranef.to_numpy(), b.se_ranef.to_numpy(), rtol=rtol)
    for key in ("pvh", "pbvh", "cAIC"):
        np.testing.assert_allclose(a.likelihood[key], b.likelihood[key], rtol=rtol)
    assert a.df_resid == b.df_resid


def test_precision_fit_equals_dense_covariance(pedigree_model) -> None:
    m = pedigree_model
    kw = {"y": m["y"], "X": m["X"], "Z": m["Z"], **TIGHT}
    dense = hglm.hglm(**kw, rand_cov=[m["A"]])
    prec = hglm.hglm(**kw, rand_cov=[m["ped"]])
    _assert_same_fit(prec, dense)
    np.testing.assert_allclose(prec.likelihood["hlik"], dense.likelihood["hlik"], rtol=1e-8)
    # the solver in use is the sparse one, and the reported random-row sums agree
    assert type(prec._engine.fitter.system).__name__ == "SparseSystem"
    n = m["y"].shape[0]
    np.testing.assert_allclose(prec.hat_values[:n], dense.hat_values[:n], rtol=1e-8)
    np.testing.assert_allclose(prec.hat_values[n:].sum(), dense.hat_values[n:].sum(),
                               rtol=1e-8)
    np.testing.assert_allclose(prec.deviances[n:].sum(), dense.deviances[n:].sum(),
                               rtol=1e-8)
    # a sparse Q given directly, and a dense array wrapped in Precision, are the same
    direct = hglm.hglm(**kw, rand_cov=[hglm.Precision(m["ped"].matrix.toarray())])
    _assert_same_fit(direct, dense)


def test_precision_with_a_second_term_and_vcov(pedigree_model) -> None:
    m = pedigree_model
    rng = np.random.default_rng(0)
    herd = np.eye(6)[rng.integers(0, 6, m["y"].shape[0])]
    Z = np.hstack([m["Z"], herd])
    kw = {"y": m["y"], "X": m["X"], "Z": Z, "rand_c": [120, 6], "vcovmat": True, **TIGHT}
    dense = hglm.hglm(**kw, rand_cov=[m["A"], None])
    prec = hglm.hglm(**kw, rand_cov=[m["ped"], None])
    _assert_same_fit(prec, dense)
    np.testing.assert_allclose(prec.vcov, dense.vcov, rtol=0, atol=1e-8)


def test_precision_eql1_equals_dense(pedigree_model) -> None:
    """EQL1 of a Poisson model with pedigree effects: the sparse-precision path and the
    dense Z L path give the same fit (the correction's K is the same matrix)."""
    m = pedigree_model
    rng = np.random.default_rng(7)
    u = np.linalg.cholesky(m["A"]) @ rng.normal(0.0, 0.5, m["A"].shape[0])
    y = rng.poisson(np.exp(m["X"] @ np.array([0.2, 0.3]) + m["Z"] @ u)).astype(float)
    kw = {"y": y, "X": m["X"], "Z": m["Z"], "family": "poisson", "fix_disp": 1.0,
          "method": "EQL1", "conv": 1e-12, "maxit": 500}
    dense = hglm.hglm(**kw, rand_cov=[m["A"]])
    prec = hglm.hglm(**kw, rand_cov=[m["ped"]])
    assert dense.method == prec.method == "EQL1"
    np.testing.assert_allclose(prec.fixef.to_numpy(), dense.fixef.to_numpy(), rtol=1e-7,
                               atol=1e-8)
    np.testing.assert_allclose(prec.var_ranef, dense.var_ranef, rtol=1e-7)
    eql = hglm.hglm(**{**kw, "method": "EQL"}, rand_cov=[m["ped"]])
    assert abs(eql.fixef.iloc[0] - prec.fixef.iloc[0]) > 1e-4  # the correction acts


def test_hglm2_pedigree_keeps_ancestors(pedigree_model) -> None:
    """Only some animals have records: the dense path drops the others (A restricted to
    the observed levels); a labelled precision keeps them as random effects, whose BLUPs
    are A_uo A_oo^{-1} u_o, with the same fixed point."""
    m = pedigree_model
    keep = m["df"]["animal"].isin(m["labels"][30:])
    df = m["df"][keep].reset_index(drop=True)
    A_frame = pd.DataFrame(m["A"], index=m["labels"], columns=m["labels"])
    dense = hglm.hglm2("y ~ x + (1|animal)", data=df, cov={"animal": A_frame}, **TIGHT)
    prec = hglm.hglm2("y ~ x + (1|animal)", data=df, cov={"animal": m["ped"]}, **TIGHT)
    assert len(dense.ranef) == 90 and len(prec.ranef) == 120
    observed = [f"(Intercept)|animal:{lab}" for lab in m["labels"][30:]]
    assert list(prec.ranef.index[:90]) == observed
    np.testing.assert_allclose(prec.fixef.to_numpy(), dense.fixef.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(prec.var_fix, dense.var_fix, rtol=1e-8)
    np.testing.assert_allclose(prec.var_ranef, dense.var_ranef, rtol=1e-8)
    np.testing.assert_allclose(prec.ranef.to_numpy()[:90], dense.ranef.to_numpy(),
                               atol=1e-8)
    np.testing.assert_allclose(prec.se_ranef.to_numpy()[:90], dense.se_ranef.to_numpy(),
                               rtol=1e-8)
    for key in ("pvh", "pbvh", "cAIC"):
        np.testing.assert_allclose(prec.likelihood[key], dense.likelihood[key], rtol=1e-8)
    lab_obs, lab_anc = m["labels"][30:], m["labels"][:30]
    A_oo = A_frame.loc[lab_obs, lab_obs].to_numpy()
    blup = A_frame.loc[lab_anc, lab_obs].to_numpy() @ np.linalg.solve(
        A_oo, dense.ranef.to_numpy())
    np.testing.assert_allclose(prec.ranef.to_numpy()[90:], blup, atol=1e-8)
    # predictions for an ancestor without records use its BLUP
    pred = prec.predict(pd.DataFrame({"x": [0.0], "animal": [lab_anc[0]]}), type="link")
    np.testing.assert_allclose(pred, prec.fixef.iloc[0] + prec.ranef.iloc[90], rtol=1e-12)
    # a DataFrame precision (labels from its index) is the same
    Q_frame = pd.DataFrame(m["ped"].matrix.toarray(), index=m["labels"], columns=m["labels"])
    framed = hglm.hglm2("y ~ x + (1|animal)", data=df, cov={"animal": hglm.Precision(Q_frame)},
                        **TIGHT)
    np.testing.assert_allclose(framed.ranef.to_numpy(), prec.ranef.to_numpy(), atol=1e-10)


def test_sparse_block_diagonal_covariance_is_not_densified(pedigree_model, monkeypatch) -> None:
    """A scipy.sparse covariance with small connected components (here families of 4
    unrelated to each other) is inverted block-wise and fitted by the sparse solver,
    with the dense path's estimates."""
    m = pedigree_model
    rng = np.random.default_rng(3)
    blocks = []
    for _ in range(30):
        B = rng.normal(size=(4, 6))
        S = B @ B.T / 6 + 0.5 * np.eye(4)
        blocks.append(S)
    A_sparse = sparse.block_diag(blocks, format="csr")
    kw = {"y": m["y"], "X": m["X"], "Z": m["Z"], **TIGHT}
    dense = hglm.hglm(**kw, rand_cov=[A_sparse.toarray()])

    def no_toarray(self, *a, **k):
        raise AssertionError("the sparse covariance was densified")

    prec_fit = None
    with monkeypatch.context() as mp:
        mp.setattr(type(A_sparse), "toarray", no_toarray)
        prec_fit = hglm.hglm(**kw, rand_cov=[A_sparse])
    assert type(prec_fit._engine.fitter.system).__name__ == "SparseSystem"
    _assert_same_fit(prec_fit, dense)


def test_sparse_connected_covariance_takes_the_dense_path(pedigree_model) -> None:
    """A banded covariance is one component whose inverse is dense: the dense path."""
    m = pedigree_model
    A_sparse = sparse.diags([np.full(119, 0.4), np.ones(120), np.full(119, 0.4)], [-1, 0, 1])
    fit = hglm.hglm(y=m["y"], X=m["X"], Z=m["Z"], rand_cov=[A_sparse], conv=1e-10)
    assert type(fit._engine.fitter.system).__name__ == "AugmentedSystem"


# --- errors ----------------------------------------------------------------------------------


def _bad(Q: np.ndarray) -> dict:
    nonsym = Q.copy()
    nonsym[0, 1] += 0.1
    w, V = np.linalg.eigh(Q)
    w[0] = -0.5
    return {"symmetric": nonsym, "positive definite": (V * w) @ V.T, "size": Q[:-1, :-1]}


@pytest.mark.parametrize("what", ["symmetric", "positive definite", "size"])
def test_bad_precision(pedigree_model, what) -> None:
    m = pedigree_model
    bad = hglm.Precision(sparse.csr_matrix(_bad(m["ped"].matrix.toarray())[what]))
    msg = _raises_naming("rand_cov[0]", hglm.hglm, y=m["y"], X=m["X"], Z=m["Z"],
                         rand_cov=[bad])
    assert (what if what != "size" else "120") in msg
    labelled = hglm.Precision(bad.matrix, m["labels"][: bad.matrix.shape[0]])
    msg = _raises_naming("cov['animal']", hglm.hglm2, "y ~ x + (1|animal)", data=m["df"],
                         cov={"animal": labelled})


def test_precision_argument_errors(pedigree_model) -> None:
    m = pedigree_model
    _raises_naming("rand_cov[0]", hglm.hglm, y=m["y"], X=m["X"], Z=m["Z"],
                   rand_cov=[m["ped"]], rand_family=hglm.Gamma(link="log"))
    _raises_naming("x_rand_disp[0]", hglm.hglm, y=m["y"], X=m["X"], Z=m["Z"],
                   rand_cov=[m["ped"]], x_rand_disp=[np.ones((120, 2)) * [1, 0]
                                                    + np.arange(120)[:, None] * [0, 1]])
    unknown = hglm.Precision(m["ped"].matrix, [f"z{j}" for j in range(120)])
    _raises_naming("cov['animal']", hglm.hglm2, "y ~ x + (1|animal)", data=m["df"],
                   cov={"animal": unknown})
    with pytest.raises(ValueError, match="bigrr"):
        hglm.hglm(y=m["y"], X=m["X"], Z=m["Z"], rand_cov=[m["ped"]], bigrr=True)
