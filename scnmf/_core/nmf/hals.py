"""Hierarchical alternating least squares for Frobenius NMF (Cichocki & Phan 2009).

Orientation: ``X`` n × m (cells × genes) ≈ ``W`` (n × k) ``H`` (k × m).

Each column update is an exact minimisation, so the loss never increases. The products
X Hᵀ and Xᵀ W cost O(nnz · k) while one sweep over the columns costs O((n + m) k²); as in
accelerated HALS (Gillis & Glineur 2012) the cheap sweeps are repeated on the same
products until they stop paying off.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import scipy.sparse as sp

from .._backends import _sparse
from .._backends._threads import single_threaded_blas
from .beta import frobenius_from_products, squared_norm
from .mu import Callback
from .result import NMFResult, has_converged


@nb.njit(parallel=True, cache=True, fastmath=True)
def _sweep_rows(A, B, G, max_inner, adaptive):  # pragma: no cover - numba
    # The column-by-column HALS pass touches each row of A independently (the update of
    # A[i, l] reads only row i), so rows run in parallel with the exact sequential result,
    # and all of a row's repeated sweeps run in one parallel region (one fork/join per
    # factor and iteration). The early stop is judged per row, so it does not depend on
    # how rows are split into blocks or threads.
    n, k = A.shape
    change = np.zeros(n)
    for i in nb.prange(n):
        first = 0.0
        for sweep_index in range(max_inner):
            acc = 0.0
            for col in range(k):
                curvature = G[col, col]
                if curvature <= 0:
                    continue
                dot = A[i, 0] * G[col, 0]
                for c in range(1, k):
                    dot += A[i, c] * G[col, c]  # G is symmetric: read it along rows
                new = A[i, col] + (B[i, col] - dot) / curvature
                if new < 0:
                    new = 0 * new
                diff = new - A[i, col]
                acc += diff * diff
                A[i, col] = new
            if sweep_index == 0:
                first = acc
                change[i] = acc
            elif adaptive and acc <= 1e-2 * first:
                break
    return change.sum()


def sweep(
    A: np.ndarray, B: np.ndarray, G: np.ndarray, repeats: int = 1, adaptive: bool = False
) -> float:
    """HALS passes over the columns of ``A`` for min ½‖X − A Fᵀ‖² given B = X F, G = FᵀF.

    Updates ``A`` in place (``repeats`` passes; with ``adaptive`` a row stops once its
    change falls below 1% of its first pass); returns ‖ΔA‖²_F of the first pass.
    """
    return float(
        _sweep_rows(A, np.ascontiguousarray(B, dtype=A.dtype), G.astype(A.dtype), repeats, adaptive)
    )


def max_inner_sweeps(nnz: int, n_rows: int, k: int, alpha: float = 0.5, cap: int = 10) -> int:
    """Sweeps worth repeating per product pair: 1 + α · (cost of products / cost of a sweep)."""
    product_cost = 2.0 * nnz * k + 2.0 * n_rows * k * k
    sweep_cost = 2.0 * n_rows * k * k + 1.0
    return int(min(cap, 1 + alpha * product_cost / sweep_cost))


def inner_sweeps(
    A: np.ndarray, B: np.ndarray, G: np.ndarray, max_inner: int, adaptive: bool = True
) -> None:
    """Up to ``max_inner`` sweeps; adaptively stop once the change falls below 1% of the first.

    The 1% rule is Gillis & Glineur's, applied row by row; ``adaptive=False`` runs exactly
    ``max_inner`` sweeps.
    """
    sweep(A, B, G, repeats=max_inner, adaptive=adaptive)


def hals(
    X,
    W: np.ndarray,
    H: np.ndarray,
    *,
    max_iter: int = 200,
    tol: float = 1e-4,
    max_inner: int | None = None,
    callback: Callback | None = None,
) -> NMFResult:
    """Frobenius NMF by (accelerated) HALS.

    Parameters
    ----------
    X
        n × m nonnegative data (cells × genes), ndarray or CSR; never densified.
    W, H
        Initial factors, n × k and k × m (copied).
    max_iter
        Maximum number of outer iterations (one product pair each).
    tol
        Relative-decrease stopping tolerance; ``tol=0`` runs exactly ``max_iter`` iterations.
    max_inner
        Column sweeps per factor and iteration. By default up to a number chosen from the
        cost ratio of the products and the sweeps (at most 10), stopping early once a sweep
        changes little; an explicit value runs exactly that many sweeps.
    callback
        Called as ``callback(iteration, loss)``; returning ``True`` stops the fit there.

    Returns
    -------
    NMFResult
        Factors, loss history (½‖X − WH‖², length ``n_iter + 1``), ``n_iter``, ``converged``.
    """
    W = np.array(W, dtype=X.dtype, order="C")
    Ht = np.array(H.T, dtype=X.dtype, order="C")
    n, m = X.shape
    k = W.shape[1]
    nnz = X.nnz if sp.issparse(X) else int(np.count_nonzero(X))
    adaptive = max_inner is None
    inner_W = max_inner or max_inner_sweeps(nnz, n, k)
    inner_H = max_inner or max_inner_sweeps(nnz, m, k)
    sq_norm = squared_norm(X)
    with single_threaded_blas(X):
        return _hals_loop(X, W, Ht, sq_norm, inner_W, inner_H, adaptive, max_iter, tol, callback)


def _hals_loop(X, W, Ht, sq_norm, inner_W, inner_H, adaptive, max_iter, tol, callback):
    losses: list[float] = []
    converged = False
    n_iter = 0
    for iteration in range(max_iter + 1):
        XHt = _sparse.spmm(X, Ht)
        HtH = Ht.T @ Ht
        loss = frobenius_from_products(sq_norm, W, XHt, HtH.astype(np.float64))
        losses.append(loss)
        if callback is not None and callback(iteration, loss):
            break
        if has_converged(losses, tol):
            converged = True
            break
        if iteration == max_iter:
            break
        inner_sweeps(W, XHt, HtH, inner_W, adaptive)
        XtW = _sparse.spmm_t(X, W)
        inner_sweeps(Ht, XtW, W.T @ W, inner_H, adaptive)
        n_iter = iteration + 1
    return NMFResult(
        W=W,
        H=np.ascontiguousarray(Ht.T),
        loss=np.asarray(losses),
        n_iter=n_iter,
        converged=converged,
    )
