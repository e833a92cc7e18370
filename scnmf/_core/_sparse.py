"""Parallel numba kernels for sparse products and β-terms evaluated only at nonzeros.

Every kernel walks the compressed rows of a CSR matrix (or the columns of a CSC one,
which is the CSR of the transpose), so memory stays O(nnz + (n + m)·k). Work is split
over rows (resp. columns) so each output row has a single writer: no atomics, and
results do not depend on scheduling.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import scipy.sparse as sp


@nb.njit(parallel=True, cache=True, fastmath=False)
def _csr_matmul(indptr, indices, data, B, out):  # pragma: no cover - numba
    n = out.shape[0]
    k = B.shape[1]
    for i in nb.prange(n):
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            x = data[p]
            for c in range(k):
                out[i, c] += x * B[j, c]


@nb.njit(parallel=True, cache=True, fastmath=True)
def _csr_kl_numerator(indptr, indices, data, W, Ht, eps, with_loss, out):  # pragma: no cover
    """out[i] = Σ_j x_ij / max(wh_ij, eps) · Ht[j]; returns Σ_nz (x log(x / wh) − x)."""
    n = W.shape[0]
    k = W.shape[1]
    partial = np.zeros(n)
    for i in nb.prange(n):
        acc = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            # Accumulate in the data's precision so the k-term dot product vectorises.
            wh = W[i, 0] * Ht[j, 0]
            for c in range(1, k):
                wh += W[i, c] * Ht[j, c]
            if wh < eps:
                wh = eps
            x = data[p]
            ratio = x / wh
            for c in range(k):
                out[i, c] += ratio * Ht[j, c]
            if with_loss:
                acc += x * np.log(ratio) - x
        partial[i] = acc
    return partial.sum()


@nb.njit(parallel=True, cache=True, fastmath=False)
def _csr_kl_loss(indptr, indices, data, W, Ht, eps):  # pragma: no cover - numba
    n = W.shape[0]
    k = W.shape[1]
    partial = np.zeros(n)
    for i in nb.prange(n):
        acc = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            wh = 0.0
            for c in range(k):
                wh += W[i, c] * Ht[j, c]
            if wh < eps:
                wh = eps
            x = data[p]
            acc += x * np.log(x / wh) - x
        partial[i] = acc
    return partial.sum()


def _as_dtype(A: np.ndarray, dtype) -> np.ndarray:
    return np.ascontiguousarray(A, dtype=dtype)


def spmm(X, B: np.ndarray) -> np.ndarray:
    """``X @ B`` for CSR ``X`` (parallel) or a dense ``X`` (BLAS)."""
    if not sp.issparse(X):
        return X @ B
    X = X.tocsr() if X.format != "csr" else X
    out = np.zeros((X.shape[0], B.shape[1]), dtype=X.dtype)
    _csr_matmul(X.indptr, X.indices, X.data, _as_dtype(B, X.dtype), out)
    return out


def spmm_t(X, A: np.ndarray, X_csc=None) -> np.ndarray:
    """``Xᵀ @ A``; pass ``X_csc`` (the CSC form of ``X``) to avoid converting on every call."""
    if not sp.issparse(X):
        return X.T @ A
    Xc = X_csc if X_csc is not None else X.tocsc()
    out = np.zeros((Xc.shape[1], A.shape[1]), dtype=Xc.dtype)
    _csr_matmul(Xc.indptr, Xc.indices, Xc.data, _as_dtype(A, Xc.dtype), out)
    return out


def kl_numerator(X_compressed, W: np.ndarray, Ht: np.ndarray, eps: float, with_loss: bool = True):
    """Fused KL pass over a compressed matrix.

    For CSR ``X`` (cells × genes) with ``W`` (n × k) and ``Ht`` (m × k) this returns
    ``((X ⊘ WH) Hᵀ, Σ_nz x log(x/wh) − x)``. Passing the CSC form with the roles of ``W``
    and ``Ht`` swapped gives ``((X ⊘ WH)ᵀ W, …)``, the numerator of the H update.
    """
    out = np.zeros((W.shape[0], W.shape[1]), dtype=X_compressed.dtype)
    partial = _csr_kl_numerator(
        X_compressed.indptr,
        X_compressed.indices,
        X_compressed.data,
        _as_dtype(W, X_compressed.dtype),
        _as_dtype(Ht, X_compressed.dtype),
        eps,
        with_loss,
        out,
    )
    return out, float(partial)


def kl_nonzero_loss(X_csr, W: np.ndarray, Ht: np.ndarray, eps: float) -> float:
    """Σ over the nonzeros of CSR ``X`` of ``x log(x / max(wh, eps)) − x``."""
    return float(
        _csr_kl_loss(
            X_csr.indptr,
            X_csr.indices,
            X_csr.data,
            _as_dtype(W, X_csr.dtype),
            _as_dtype(Ht, X_csr.dtype),
            eps,
        )
    )
