"""Initial factors: NNDSVD (Boutsidis & Gallopoulos 2008) and its variants, random, custom.

Orientation: ``X`` n × m (cells × genes) ≈ ``W`` (n × k) ``H`` (k × m).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .._backends import _sparse
from .._backends.dask import as_block, dask_summary, is_dask, map_row_blocks

InitName = Literal["nndsvd", "nndsvda", "nndsvdar", "random", "custom"]
INIT_NAMES: tuple[str, ...] = ("nndsvd", "nndsvda", "nndsvdar", "random", "custom")


#: Rows per block of the in-memory SVD passes (blocks are cast to float64 one at a time).
SVD_BLOCK_ENTRIES = 1 << 22


def _mean(X) -> float:
    if is_dask(X):
        total = dask_summary(X)["sum"]
    else:
        total = X.sum(dtype=np.float64)
    return float(total) / (X.shape[0] * X.shape[1])


def _in_memory_blocks(X) -> list:
    step = max(1, SVD_BLOCK_ENTRIES // max(1, X.shape[1]))
    return [X[a : a + step] for a in range(0, X.shape[0], step)]


def _map_blocks(X, fn, per_block=None, *shared) -> list:
    """``fn(block, *per_block[b], *shared)`` over row blocks, in memory or on dask."""
    if is_dask(X):
        return map_row_blocks(X, fn, per_block, *shared)
    blocks = _in_memory_blocks(X)
    per_block = per_block if per_block is not None else [()] * len(blocks)
    return [fn(b, *a, *shared) for b, a in zip(blocks, per_block, strict=True)]


def _project(block, B):  # X_b B in float64
    return _sparse.spmm(as_block(block, np.float64), B)


def _back_project(block, Q_b):  # X_bᵀ Q_b in float64
    return _sparse.spmm_t(as_block(block, np.float64), Q_b)


def _orthonormalise(Y_blocks: list) -> list:
    # CholeskyQR2 on the summed Gram: the factor stays in row blocks, and a second pass
    # restores orthogonality lost to the squared condition number of the first.
    for _ in range(2):
        gram = sum(Y.T @ Y for Y in Y_blocks)
        width = gram.shape[0]
        jitter = 1e-12 * max(np.trace(gram), 1e-300) / width
        R = np.linalg.cholesky(gram + jitter * np.eye(width)).T
        Y_blocks = [np.linalg.solve(R.T, Y.T).T for Y in Y_blocks]
    return Y_blocks


def randomized_svd(X, k: int, random_state: int | None = 0, n_oversamples: int = 10):
    """Seeded truncated SVD by row-block map/reduce (Halko, Martinsson & Tropp 2011).

    The same arithmetic runs on in-memory data (bounded row blocks) and on a row-chunked
    dask array (its chunks), so a seed gives the same factors on both up to summation order.
    Power iterations: 7 when k < 10% of the smaller dimension, else 4 (scikit-learn's rule).

    Returns
    -------
    U, S, Vt
        n × k, (k,), k × m float64 arrays.
    """
    rng = np.random.default_rng(random_state)
    n, m = X.shape
    width = min(k + n_oversamples, m, n)
    n_power_iter = 7 if k < 0.1 * min(n, m) else 4

    def back_project(Q_blocks):
        return sum(_map_blocks(X, _back_project, [(Q,) for Q in Q_blocks]))

    Q = _orthonormalise(_map_blocks(X, _project, None, rng.standard_normal((m, width))))
    for _ in range(n_power_iter):
        Z, _ = np.linalg.qr(back_project(Q))
        Q = _orthonormalise(_map_blocks(X, _project, None, Z))
    Ub, S, Vt = np.linalg.svd(back_project(Q).T, full_matrices=False)
    U = np.vstack([Qb @ Ub for Qb in Q])
    return U[:, :k], S[:k], Vt[:k]


def _nndsvd(X, k: int, random_state: int | None) -> tuple[np.ndarray, np.ndarray]:
    U, S, Vt = randomized_svd(X, k, random_state=random_state)
    n, m = X.shape
    W = np.zeros((n, k), dtype=np.float64)
    H = np.zeros((k, m), dtype=np.float64)
    # The leading singular pair of a nonnegative matrix has one sign: take absolute values.
    W[:, 0] = np.sqrt(S[0]) * np.abs(U[:, 0])
    H[0, :] = np.sqrt(S[0]) * np.abs(Vt[0, :])
    for j in range(1, k):
        x, y = U[:, j], Vt[j, :]
        xp, xn = np.maximum(x, 0), np.maximum(-x, 0)
        yp, yn = np.maximum(y, 0), np.maximum(-y, 0)
        xp_norm, yp_norm = np.linalg.norm(xp), np.linalg.norm(yp)
        xn_norm, yn_norm = np.linalg.norm(xn), np.linalg.norm(yn)
        positive_mass, negative_mass = xp_norm * yp_norm, xn_norm * yn_norm
        if positive_mass >= negative_mass:
            u, v, sigma = xp / max(xp_norm, 1e-300), yp / max(yp_norm, 1e-300), positive_mass
        else:
            u, v, sigma = xn / max(xn_norm, 1e-300), yn / max(yn_norm, 1e-300), negative_mass
        scale = np.sqrt(S[j] * sigma)
        W[:, j] = scale * u
        H[j, :] = scale * v
    tiny = 1e-6
    W[W < tiny] = 0
    H[H < tiny] = 0
    return W, H


def initialize(
    X,
    n_components: int,
    init: InitName = "nndsvda",
    random_state: int | None = 0,
    W: np.ndarray | None = None,
    H: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Initial nonnegative factors.

    Parameters
    ----------
    X
        n × m nonnegative matrix: dense, sparse (never densified) or a row-chunked dask
        array (the SVD then runs as map/reduce over its blocks).
    n_components
        Rank k ≥ 1; at most ``min(n, m)`` for the NNDSVD variants (a ``ValueError`` says
        so), any k for ``'random'`` and ``'custom'``.
    init
        ``'nndsvd'`` (zeros kept), ``'nndsvda'`` (zeros filled with the mean of X, best for MU),
        ``'nndsvdar'`` (zeros filled with small random values), ``'random'`` (scaled
        half-normal, seeded) or ``'custom'`` (``W`` and ``H`` given).
    random_state
        Seed for the randomised SVD and random fills.
    W, H
        Custom factors (``init='custom'``).

    Returns
    -------
    W, H
        n × k and k × m arrays in the dtype of ``X``.
    """
    dtype = np.dtype(X.dtype)
    n, m = X.shape
    k = int(n_components)
    if k < 1:
        raise ValueError(f"n_components must be ≥ 1; got {n_components}.")
    if init not in INIT_NAMES:
        raise ValueError(f"Unknown init {init!r}; use one of {list(INIT_NAMES)}.")
    if init.startswith("nndsvd") and k > min(n, m):
        raise ValueError(
            f"init={init!r} takes the leading {k} singular vectors, but a {n} × {m} matrix "
            f"has only {min(n, m)}: use n_components ≤ {min(n, m)}, or init='random'."
        )
    if init == "custom":
        if W is None or H is None:
            raise ValueError("init='custom' needs both W and H.")
        W = np.array(W, dtype=dtype)
        H = np.array(H, dtype=dtype)
        if W.shape != (n, k) or H.shape != (k, m):
            raise ValueError(
                f"Custom factors have shapes {W.shape} and {H.shape}; expected {(n, k)} and "
                f"{(k, m)}."
            )
        if not (np.isfinite(W).all() and np.isfinite(H).all()) or W.min() < 0 or H.min() < 0:
            raise ValueError("Custom factors must be finite and nonnegative.")
        return W, H
    rng = np.random.default_rng(random_state)
    if init == "random":
        scale = np.sqrt(_mean(X) / k)
        H = scale * np.abs(rng.standard_normal((k, m)))
        W = scale * np.abs(rng.standard_normal((n, k)))
        return W.astype(dtype), H.astype(dtype)
    W, H = _nndsvd(X, k, random_state)
    if init == "nndsvda":
        fill = _mean(X)
        W[W == 0] = fill
        H[H == 0] = fill
    elif init == "nndsvdar":
        fill = _mean(X)
        W[W == 0] = fill * rng.random(int(np.sum(W == 0))) / 100
        H[H == 0] = fill * rng.random(int(np.sum(H == 0))) / 100
    return W.astype(dtype), H.astype(dtype)
