"""The augmented system of the blocks Z T from that of Z: weighted products by congruence.

A vector-valued term in the spherical form (lme4's; ``hglm.fit.theta``) has the block
Z Lambda: row i of level l is z_i' Lambda.  With T the block-diagonal matrix holding
I_m kron Lambda_k on the columns of each such term (the identity elsewhere), the weighted
products of :class:`~.augmented.AugmentedSystem` at the blocks Z T are congruences of
those at Z for the same observation weights w1:

    D_l(T) = Lambda_A' D0_l Lambda_A,   E(T) = T_A' E0 T_B,   F0(T) = T_B' F0 T_B,

with T_A and T_B the parts of T on the eliminated term A and on B.  An outer
optimisation over Lambda at fixed w1 (the profiled deviance of a linear mixed model)
therefore forms the products once, by a pass over the n rows, and then costs
O(m q^3 + nnz(E) q + m_B^2 q) per Lambda.  The general sparse solver has no such
products: its system is built again from the blocks Z T.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from .augmented import AugmentedSystem
from .blocks import Block, Grouped, Indicator
from .factor import System
from .level_blocks import LevelBlocks
from .sparse import SparseSystem

Array = np.ndarray


def transformed_blocks(blocks: list[Block], factors: list[Array | None]) -> list[Block]:
    """The blocks of Z T: a Grouped block times its ``factors`` entry (q x q), the blocks
    whose entry is None as they are."""
    return [b if f is None else b.times(f)
            for b, f in zip(blocks, factors, strict=True)]


def transformed_system(system: System, factors: list[Array | None], w1: Array,
                       products: tuple | None = None) -> System:
    """The system of the blocks Z T (:func:`transformed_blocks`) for factorizations at
    the observation weights ``w1``.

    Parameters
    ----------
    system : System
        The system of Z; an :class:`AugmentedSystem` keeps its weighted products at
        ``w1`` (formed on first use) for every later call.
    factors : list of ndarray or None
        Lambda of each term (q x q, for a Grouped block); None leaves a term as it is.
    w1 : ndarray
        The observation weights of the factorizations of the returned system.
    products : tuple, optional
        ``kept_products(system, w1)`` when the caller holds them (no look at w1).

    Returns
    -------
    System
        An AugmentedSystem whose products at ``w1`` are the congruences of the module
        docstring (factorizing it at other weights forms them afresh), or a SparseSystem
        built from Z T.
    """
    blocks = transformed_blocks(system.blocks, factors)
    if not isinstance(system, AugmentedSystem):
        return SparseSystem(system.X, blocks)
    F0, D0, E, _ = system.held_products(w1) if products is None else products
    out = AugmentedSystem(system.X, blocks, scaled_weights=True)
    t_a = None if system.a_term is None else factors[system.a_term]
    t_b = _b_transform(system, factors)
    if t_b is not None:
        F0 = t_b.T @ (t_b.T @ F0).T
        F0 = 0.5 * (F0 + F0.T)
        E = None if E is None else E @ t_b
    if t_a is not None:
        blocks_a = np.matmul(t_a.T, np.matmul(D0.blocks, t_a))
        D0 = LevelBlocks(0.5 * (blocks_a + blocks_a.transpose(0, 2, 1)))
        E = _left_transform(E, t_a)
    out.keep_products(w1, F0, D0, E)
    return out


def kept_products(system: System, w1: Array) -> tuple | None:
    """The weighted products (F0, D0, E, scale) of an :class:`AugmentedSystem` at ``w1``
    for :func:`gram_matvec` and :func:`transformed_system`, F0 sparse when large
    (:meth:`AugmentedSystem.held_products`); None for another system."""
    return system.held_products(w1) if isinstance(system, AugmentedSystem) else None


def gram_matvec(system: AugmentedSystem, products: tuple, x: Array) -> Array:
    """T1'W1T1 x (T1 = [X, Z], x in user order) from the weighted products
    :func:`kept_products` = (F0, D0, E, scale), without a pass over the rows: in the
    [A | B] order, (D0 x_A + E x_B, E' x_A + F0 x_B)."""
    F0, D0, E, _ = products
    out = np.empty_like(x)
    x_b = x[system.perm_b]
    out[system.perm_b] = F0 @ x_b
    if E is not None:
        x_a = x[system.perm_a]
        out[system.perm_a] = D0.matvec(x_a) + E @ x_b
        out[system.perm_b] += E.T @ x_a
    return out


def _b_transform(system: AugmentedSystem, factors: list[Array | None]) -> sparse.csr_matrix | None:
    """T_B in the B order of ``system`` (m x m, sparse); None when it is the identity."""
    in_b = [k for k, b in enumerate(system.blocks)
            if k != system.a_term and isinstance(b, Indicator | Grouped)]
    if all(factors[k] is None for k in in_b):
        return None
    parts = [_kron_identity(g.block.n_levels, factors[k]) if factors[k] is not None
             else sparse.identity(g.span.stop - g.span.start)
             for k, g in zip(in_b, system.groups, strict=True)]
    parts.append(sparse.identity(system.m - system.dense_start))
    return sparse.block_diag(parts, format="csr")


def _kron_identity(count: int, factor: Array) -> sparse.csr_matrix:
    """I_count kron factor as a sparse matrix."""
    q = factor.shape[0]
    return LevelBlocks(np.broadcast_to(factor, (count, q, q))).csr()


def _left_transform(E: Array | sparse.csr_matrix, factor: Array) -> Array | sparse.csr_matrix:
    """(I kron factor)' E for E with q = factor's order rows per level."""
    if sparse.issparse(E):
        return (_kron_identity(E.shape[0] // factor.shape[0], factor).T @ E).tocsr()
    q = factor.shape[0]
    return np.matmul(factor.T, E.reshape(-1, q, E.shape[1])).reshape(E.shape)
