"""Random effects with a known covariance lambda * A (issue 4): ``rand_cov=[A]`` in the matrix
interface and ``hglm2(..., cov={"group": A})``.

The fast tests use a small simulated model (15 levels); the slow ones refit R's QTLMAS
animal model with one random effect per recorded animal: since Z = Z0 L (columns Z1..Z2025
of QTLMAS.csv.gz), the relationship matrix of the 1,000 recorded animals is
A_obs = Z Z', and y = mu + a + e with a ~ N(0, lambda A_obs) is the same model as R's
``hglm(y, X, Z)``, so it must reach the fixed point of qtlmas_polygenic's tight block.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from shared import load_data, load_ref

import hglm

from .cases import indicators

# --- a small simulated model -----------------------------------------------------------

N_LEVELS, PER_LEVEL = 15, 6


def relationship(q: int, seed: int) -> np.ndarray:
    """A positive-definite 'relationship' matrix with unit diagonal and correlations."""
    rng = np.random.default_rng(seed)
    B = rng.normal(size=(q, 3 * q)) / np.sqrt(3 * q)
    A = B @ B.T + 0.5 * np.eye(q)
    d = np.sqrt(np.diag(A))
    return A / np.outer(d, d)


@pytest.fixture(scope="module")
def small() -> dict:
    rng = np.random.default_rng(11)
    labels = np.array([f"id{j:02d}" for j in range(N_LEVELS)])  # sorted order = this order
    A = relationship(N_LEVELS, 12)
    u = np.linalg.cholesky(A) @ rng.normal(0.0, np.sqrt(1.5), N_LEVELS)
    g = rng.permutation(np.repeat(np.arange(N_LEVELS), PER_LEVEL))
    n = g.shape[0]
    x = rng.normal(size=n)
    y = 2.0 + 0.7 * x + u[g] + rng.normal(0.0, 1.0, n)
    df = pd.DataFrame({"y": y, "x": x, "animal": labels[g]})
    X = np.column_stack([np.ones(n), x])
    Z = indicators(df["animal"])
    return {"df": df, "A": A, "labels": labels, "X": X, "Z": Z, "y": y}


@pytest.fixture(scope="module")
def small_fit(small) -> hglm.HGLMResult:
    return hglm.hglm(
        y=small["y"], X=small["X"], Z=small["Z"], rand_cov=[small["A"]], conv=1e-14,
        maxit=500,
    )


def test_matrix_and_formula_paths_agree(small, small_fit) -> None:
    """cov= with a DataFrame indexed by the labels (rows/columns shuffled, plus two
    relatives without records, which are dropped) and with an array in sorted level order
    give the matrix interface's fit."""
    A, labels = small["A"], small["labels"]
    extra = ["zz_parent1", "zz_parent2"]
    # two unobserved relatives, correlated with the observed levels: the joint matrix is
    # [[A, A c], [c'A, c'A c + I]] (positive definite), whose observed block is A
    c = np.random.default_rng(1).uniform(0.0, 0.5, size=(N_LEVELS, 2))
    big = np.block([[A, A @ c], [c.T @ A, c.T @ A @ c + np.eye(2)]])
    A_df = pd.DataFrame(big, index=[*labels, *extra], columns=[*labels, *extra])
    order = np.random.default_rng(0).permutation(N_LEVELS + 2)
    A_df = A_df.iloc[order, order]
    fits = [
        hglm.hglm2("y ~ x + (1|animal)", data=small["df"], cov={"animal": A_df}, conv=1e-14,
                   maxit=500),
        hglm.hglm2("y ~ x + (1|animal)", data=small["df"], cov={"animal": A}, conv=1e-14,
                   maxit=500),
    ]
    for fit in fits:
        np.testing.assert_allclose(fit.fixef.to_numpy(), small_fit.fixef.to_numpy(), rtol=1e-10)
        np.testing.assert_allclose(fit.var_fix, small_fit.var_fix, rtol=1e-10)
        np.testing.assert_allclose(fit.var_ranef, small_fit.var_ranef, rtol=1e-10)
        np.testing.assert_allclose(fit.ranef.to_numpy(), small_fit.ranef.to_numpy(),
                                   rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fit.se_ranef.to_numpy(), small_fit.se_ranef.to_numpy(),
                                   rtol=1e-10)
        # one effect per observed level, named by the level labels in sorted order
        assert len(fit.ranef) == N_LEVELS
        assert all(lab in name for lab, name in zip(labels, fit.ranef.index, strict=True))


def test_ranef_is_L_v(small, small_fit) -> None:
    """ranef on the original (correlated) scale: u = L v with A = L L' (Cholesky)."""
    L = np.linalg.cholesky(small["A"])
    np.testing.assert_allclose(small_fit.ranef.to_numpy(), L @ small_fit._engine.v,
                               rtol=0, atol=1e-12)


def test_standard_errors_dense(small, small_fit) -> None:
    """se_ranef = sqrt(diag(L C_vv^-1 L')), se_fixef = sqrt(diag(C^-1)_beta), with
    C = T'WT, T = [[X, Z L], [0, I]] and W the weights of the last solve (DESIGN.md, step 7),
    i.e. 1/phi and 1/lambda of the final round's input, built densely here."""
    X, Z = small["X"], small["Z"]
    L = np.linalg.cholesky(small["A"])
    last = small_fit._engine.last
    w1, w2 = last.w1, last.w2
    # those weights are the fitted dispersions' (to the convergence of the fit)
    np.testing.assert_allclose(w1, 1.0 / small_fit.var_fix, rtol=1e-6)
    np.testing.assert_allclose(w2, 1.0 / small_fit.var_ranef[0], rtol=1e-6)
    T = np.hstack([X, Z @ L])
    C = T.T @ (w1[:, None] * T)
    p = X.shape[1]
    C[p:, p:] += np.diag(w2)
    Cinv = np.linalg.inv(C)
    se_u = np.sqrt(np.diag(L @ Cinv[p:, p:] @ L.T))
    np.testing.assert_allclose(small_fit.se_ranef.to_numpy(), se_u, rtol=1e-10)
    np.testing.assert_allclose(small_fit.se_fixef.to_numpy(), np.sqrt(np.diag(Cinv)[:p]),
                               rtol=1e-10)


def test_blup_with_known_covariance(small, small_fit) -> None:
    """beta and u are the GLS estimate and BLUP with G = lambda A, V = Z G Z' + phi I."""
    X, Z, y, A = small["X"], small["Z"], small["y"], small["A"]
    G = small_fit.var_ranef[0] * A
    V = Z @ G @ Z.T + small_fit.var_fix * np.eye(len(y))
    Vinv_X = np.linalg.solve(V, X)
    beta = np.linalg.solve(X.T @ Vinv_X, Vinv_X.T @ y)
    u = G @ Z.T @ np.linalg.solve(V, y - X @ beta)
    # dispersions reported one round after the (beta, v) solve: ~sqrt(conv) = 1e-7
    np.testing.assert_allclose(small_fit.fixef.to_numpy(), beta, rtol=1e-6)
    np.testing.assert_allclose(small_fit.ranef.to_numpy(), u, rtol=0,
                               atol=1e-6 * np.abs(u).max())


def test_identity_and_scaling(small, small_fit) -> None:
    """A = I is the ordinary model; A scaled by c divides lambda by c, nothing else."""
    kw = {"y": small["y"], "X": small["X"], "Z": small["Z"], "conv": 1e-14, "maxit": 500}
    plain = hglm.hglm(**kw)
    ident = hglm.hglm(**kw, rand_cov=[np.eye(N_LEVELS)])
    np.testing.assert_allclose(ident.fixef.to_numpy(), plain.fixef.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(ident.var_ranef, plain.var_ranef, rtol=1e-10)
    np.testing.assert_allclose(ident.ranef.to_numpy(), plain.ranef.to_numpy(), atol=1e-12)
    np.testing.assert_allclose(ident.se_ranef.to_numpy(), plain.se_ranef.to_numpy(),
                               rtol=1e-10)
    scaled = hglm.hglm(**kw, rand_cov=[4.0 * small["A"]])
    np.testing.assert_allclose(scaled.var_ranef * 4.0, small_fit.var_ranef, rtol=1e-8)
    np.testing.assert_allclose(scaled.var_fix, small_fit.var_fix, rtol=1e-8)
    np.testing.assert_allclose(scaled.fixef.to_numpy(), small_fit.fixef.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(scaled.ranef.to_numpy(), small_fit.ranef.to_numpy(),
                               rtol=0, atol=1e-8 * np.abs(small_fit.ranef).max())


# --- errors ----------------------------------------------------------------------------------


def _raises_naming(argument: str, call, **kw) -> str:
    with pytest.raises(ValueError) as info:
        call(**kw)
    msg = str(info.value)
    assert re.search(rf"(?<![\w.]){re.escape(argument)}(?![\w])", msg), msg
    return msg


def _bad_matrices(A: np.ndarray) -> dict:
    nonsym = A.copy()
    nonsym[0, 1] += 0.1
    w, V = np.linalg.eigh(A)
    w[0] = -0.5
    return {
        "symmetric": nonsym,
        "positive definite": (V * w) @ V.T,
        "size": A[:-1, :-1],
    }


@pytest.mark.parametrize("what", ["symmetric", "positive definite", "size"])
def test_bad_rand_cov(small, what) -> None:
    bad = _bad_matrices(small["A"])[what]
    msg = _raises_naming(
        "rand_cov[0]", hglm.hglm, y=small["y"], X=small["X"], Z=small["Z"], rand_cov=[bad]
    )
    if what != "size":
        assert what in msg
    else:
        assert str(N_LEVELS) in msg


@pytest.mark.parametrize("what", ["symmetric", "positive definite", "size"])
def test_bad_cov_in_hglm2(small, what) -> None:
    bad = _bad_matrices(small["A"])[what]
    with pytest.raises(ValueError, match=what if what != "size" else str(N_LEVELS)):
        hglm.hglm2("y ~ x + (1|animal)", data=small["df"], cov={"animal": bad})


@pytest.mark.parametrize("what", ["symmetric", "positive definite", "size"])
def test_bad_cov_in_hglm2_names_cov(small, what) -> None:
    bad = _bad_matrices(small["A"])[what]
    _raises_naming("cov['animal']", hglm.hglm2, formula="y ~ x + (1|animal)",
                   data=small["df"], cov={"animal": bad})


def test_wrong_size_rand_cov_message(small) -> None:
    msg = _raises_naming("rand_cov[0]", hglm.hglm, y=small["y"], X=small["X"],
                         Z=small["Z"], rand_cov=[small["A"][:-1, :-1]])
    assert not re.search(r"\by has\b", msg), msg


def test_cov_key_not_a_grouping_factor(small) -> None:
    msg = _raises_naming(
        "cov", hglm.hglm2, formula="y ~ x + (1|animal)", data=small["df"],
        cov={"sire": small["A"]},
    )
    assert "sire" in msg


def test_cov_dataframe_missing_level(small) -> None:
    labels = small["labels"]
    A_df = pd.DataFrame(small["A"], index=labels, columns=labels).iloc[1:, 1:]
    msg = _raises_naming(
        "cov['animal']", hglm.hglm2, formula="y ~ x + (1|animal)", data=small["df"],
        cov={"animal": A_df},
    )
    assert labels[0] in msg


def test_rand_cov_length_and_family(small) -> None:
    kw = {"y": small["y"], "X": small["X"], "Z": small["Z"]}
    _raises_naming("rand_cov", hglm.hglm, **kw, rand_cov=[small["A"], None])
    _raises_naming("rand_cov[0]", hglm.hglm, **kw, rand_cov=[small["A"]],
                   rand_family=hglm.Gamma(link="log"))


# --- QTLMAS with A_obs = Z Z' (slow) ------------------------------------------------------------


@pytest.fixture(scope="module")
def qtlmas() -> dict:
    df = load_data("QTLMAS.csv.gz")
    zcols = [f"Z{i}" for i in range(1, 2026)]
    Zq = df[zcols].to_numpy(dtype=float)
    return {"y": df["y"].to_numpy(dtype=float), "A": Zq @ Zq.T, "tight": load_ref(
        "qtlmas_polygenic")["tight"]}


def _check_tight(fit: hglm.HGLMResult, tight: dict) -> None:
    assert fit.converged
    np.testing.assert_allclose(fit.fixef.to_numpy(), tight["fixef"], rtol=1e-5)
    np.testing.assert_allclose(fit.var_fix, tight["varFix"], rtol=1e-5)
    np.testing.assert_allclose(fit.var_ranef, tight["varRanef"], rtol=1e-5)


@pytest.mark.slow
def test_qtlmas_known_covariance_matrix(qtlmas) -> None:
    tight = qtlmas["tight"]
    n = qtlmas["y"].shape[0]
    fit = hglm.hglm(
        y=qtlmas["y"], X=np.ones((n, 1)), Z=np.eye(n), rand_cov=[qtlmas["A"]],
        conv=tight["conv"], maxit=tight["maxit"],
    )
    _check_tight(fit, tight)


@pytest.mark.slow
def test_qtlmas_known_covariance_hglm2(qtlmas) -> None:
    tight = qtlmas["tight"]
    n = qtlmas["y"].shape[0]
    labels = [f"animal{j:04d}" for j in range(n)]
    df = pd.DataFrame({"y": qtlmas["y"], "animal": labels})
    A_df = pd.DataFrame(qtlmas["A"], index=labels, columns=labels)
    order = np.random.default_rng(1).permutation(n)  # the index order must not matter
    fit = hglm.hglm2(
        "y ~ 1 + (1|animal)", data=df, cov={"animal": A_df.iloc[order, order]},
        conv=tight["conv"], maxit=tight["maxit"],
    )
    _check_tight(fit, tight)
    assert len(fit.ranef) == n
