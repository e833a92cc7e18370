"""Initial factors: NNDSVD (Boutsidis & Gallopoulos 2008) and its variants, random, custom.

Orientation: ``X`` n × m (cells × genes) ≈ ``W`` (n × k) ``H`` (k × m).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .._backends.dask import dask_summary, is_dask

InitName = Literal["nndsvd", "nndsvda", "nndsvdar", "random", "custom"]
INIT_NAMES: tuple[str, ...] = ("nndsvd", "nndsvda", "nndsvdar", "random", "custom")


def _mean(X) -> float:
    if is_dask(X):
        total = dask_summary(X)["sum"]
    else:
        total = X.sum(dtype=np.float64)
    return float(total) / (X.shape[0] * X.shape[1])


def _nndsvd(X, k: int, random_state: int | None) -> tuple[np.ndarray, np.ndarray]:
    if is_dask(X):
        from .ops_dask import dask_randomized_svd

        U, S, Vt = dask_randomized_svd(X, k, random_state=random_state)
    else:
        from sklearn.utils.extmath import randomized_svd

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
        Rank k.
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
    if init not in INIT_NAMES:
        raise ValueError(f"Unknown init {init!r}; use one of {list(INIT_NAMES)}.")
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
