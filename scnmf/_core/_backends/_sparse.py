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


@nb.njit(parallel=True, cache=True, fastmath=False)
def _csr_matmul_t(indptr, indices, data, A, bounds, partial):  # pragma: no cover - numba
    # Xᵀ A from CSR: each fixed block of rows scatters into its own m × k buffer (small and
    # cache-resident), and the buffers are summed in order: no CSC copy, no atomics, and
    # the result does not depend on the number of threads.
    k = A.shape[1]
    for b in nb.prange(bounds.shape[0] - 1):
        buf = partial[b]
        for i in range(bounds[b], bounds[b + 1]):
            for p in range(indptr[i], indptr[i + 1]):
                j = indices[p]
                x = data[p]
                for c in range(k):
                    buf[j, c] += x * A[i, c]


@nb.njit(parallel=True, cache=True, fastmath=True)
def _csr_kl_numerator_t(
    indptr, indices, data, W, Ht, eps, groups, bounds, partial
):  # pragma: no cover
    # ``groups`` independent factorisations stacked side by side (columns g·k … g·k + k − 1
    # are fit g): each has its own model value wh at an entry, so one pass over the
    # nonzeros serves all of them.
    k = W.shape[1] // groups
    for b in nb.prange(bounds.shape[0] - 1):
        buf = partial[b]
        for i in range(bounds[b], bounds[b + 1]):
            for p in range(indptr[i], indptr[i + 1]):
                j = indices[p]
                for g in range(groups):
                    first = g * k
                    wh = W[i, first] * Ht[j, first]
                    for c in range(first + 1, first + k):
                        wh += W[i, c] * Ht[j, c]
                    if wh < eps:
                        wh = eps
                    ratio = data[p] / wh
                    for c in range(first, first + k):
                        buf[j, c] += ratio * W[i, c]


#: Row blocks for the transposed products; fixed so results are thread-count independent.
N_ROW_BLOCKS = 16
#: Cap on the entries of the per-block buffers (n_blocks × m × k).
MAX_BUFFER_ENTRIES = 1 << 26


def _row_bounds(X, k: int) -> np.ndarray:
    """Row-block boundaries balanced by nonzeros."""
    n_blocks = max(1, min(N_ROW_BLOCKS, MAX_BUFFER_ENTRIES // max(1, X.shape[1] * k), X.shape[0]))
    targets = np.linspace(0, X.nnz, n_blocks + 1)
    bounds = np.searchsorted(X.indptr, targets, side="left").astype(np.int64)
    bounds[0], bounds[-1] = 0, X.shape[0]
    return np.maximum.accumulate(bounds)


def _reduce(partial: np.ndarray) -> np.ndarray:
    out = partial[0].copy()
    for block in partial[1:]:
        out += block
    return out


#: Below this ratio x / wh (float32's smallest normal number) the ratio has lost digits or
#: underflowed to zero, so x log(x / wh) is taken from the two logarithms instead.
_TINY_RATIO = float(np.finfo(np.float32).tiny)


@nb.njit(inline="always", fastmath=False)
def _kl_term(x, wh, ratio):  # pragma: no cover - numba
    """The KL term x log(x / wh) − x of one stored entry (wh > 0, floored); never −inf or NaN.

    The common case uses the ratio already computed; a ratio that underflowed (a denormal
    x, or a stored zero) takes the logarithms separately, in float64, and a stored zero
    contributes 0 (x log x → 0 as x → 0).
    """
    if ratio >= _TINY_RATIO:
        return x * np.log(ratio) - x
    if x > 0:
        x64 = np.float64(x)
        return x64 * (np.log(x64) - np.log(np.float64(wh))) - x64
    return 0.0


@nb.njit(parallel=True, cache=True, fastmath=True)
def _csr_kl_numerator(
    indptr, indices, data, W, Ht, eps, with_loss, groups, out
):  # pragma: no cover
    """out[i] = Σ_j x_ij / max(wh_ij, eps) · Ht[j]; returns Σ_nz (x log(x / wh) − x) per row.

    With ``groups`` > 1 the columns hold that many stacked fits (see
    :func:`_csr_kl_numerator_t`) and the loss is per row and fit.
    """
    n = W.shape[0]
    k = W.shape[1] // groups
    partial = np.zeros((n, groups))
    for i in nb.prange(n):
        for g in range(groups):  # the row's nonzeros stay in cache across the fits
            first = g * k
            acc = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                j = indices[p]
                # Accumulate in the data's precision so the k-term dot product vectorises.
                wh = W[i, first] * Ht[j, first]
                for c in range(first + 1, first + k):
                    wh += W[i, c] * Ht[j, c]
                if wh < eps:
                    wh = eps
                x = data[p]
                ratio = x / wh
                for c in range(first, first + k):
                    out[i, c] += ratio * Ht[j, c]
                if with_loss:
                    acc += _kl_term(x, wh, ratio)
            partial[i, g] = acc
    return partial  # summed by numpy: a parallel sum would depend on the thread count


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
            acc += _kl_term(x, wh, x / wh)
        partial[i] = acc
    return partial  # summed by numpy: a parallel sum would depend on the thread count


def canonical_csr(X, dtype=None) -> sp.csr_matrix:
    """``X`` as canonical CSR of ``dtype``: sorted indices, no duplicates, no stored zeros.

    The kernels' losses sum over *stored* entries, so a stored zero would enter x log x and a
    duplicate ‖X‖² once per copy. ``X``'s own arrays are never modified: a matrix already in
    that form (the common case, checked without copying) is returned as is, sharing them;
    otherwise the result is a copy.
    """
    dtype = np.dtype(dtype if dtype is not None else X.dtype)
    owned = False
    if not isinstance(X, sp.csr_matrix):
        # csr_array → csr_matrix shares the arrays; other formats are converted (new arrays).
        owned = X.format != "csr"
        X = sp.csr_matrix(X)
    if X.dtype != dtype:
        X, owned = X.astype(dtype), True  # copies data, indices and indptr
    if X.has_canonical_format and (X.nnz == 0 or X.data.all()):
        return X
    if not owned:
        X = X.copy()
    X.sum_duplicates()
    X.eliminate_zeros()
    return X


def _as_dtype(A: np.ndarray, dtype) -> np.ndarray:
    return np.ascontiguousarray(A, dtype=dtype)


#: Rows of a dense ``X`` converted to float64 at once by ``spmm(..., dtype=np.float64)``.
_DENSE_BLOCK_ENTRIES = 1 << 22


def spmm(X, B: np.ndarray, dtype=None) -> np.ndarray:
    """``X @ B`` for CSR ``X`` (parallel) or a dense ``X`` (BLAS).

    ``dtype=np.float64`` computes (and returns) the product of float32 data in float64: the
    products x·b are then exact and only float64 sums round (a dense ``X`` is converted in
    bounded row blocks). It costs more and is for the few evaluations that need it (a loss
    that cancels), not for every update.
    """
    dtype = np.dtype(dtype) if dtype is not None else np.dtype(X.dtype)
    if not sp.issparse(X):
        if dtype == X.dtype:
            return X @ B
        B = _as_dtype(B, dtype)
        out = np.empty((X.shape[0], B.shape[1]), dtype=dtype)
        step = max(1, _DENSE_BLOCK_ENTRIES // max(1, X.shape[1]))
        for start in range(0, X.shape[0], step):
            out[start : start + step] = np.asarray(X[start : start + step], dtype=dtype) @ B
        return out
    X = X.tocsr() if X.format != "csr" else X
    out = np.zeros((X.shape[0], B.shape[1]), dtype=dtype)
    _csr_matmul(X.indptr, X.indices, X.data, _as_dtype(B, dtype), out)
    return out


def spmm_t(X, A: np.ndarray, dtype=None) -> np.ndarray:
    """``Xᵀ @ A`` for CSR ``X`` (parallel over row blocks, no CSC copy) or dense ``X``.

    ``dtype=np.float64`` accumulates (and returns) the sum over cells in float64, so that
    summing the shares of row blocks gives the whole matrix's result up to float64 rounding.
    """
    if not sp.issparse(X):
        return X.T @ A
    X = X.tocsr() if X.format != "csr" else X
    k = A.shape[1]
    bounds = _row_bounds(X, k)
    partial = np.zeros((len(bounds) - 1, X.shape[1], k), dtype=dtype or X.dtype)
    _csr_matmul_t(X.indptr, X.indices, X.data, _as_dtype(A, X.dtype), bounds, partial)
    return _reduce(partial)


def kl_numerator(
    X_compressed, W: np.ndarray, Ht: np.ndarray, eps: float, with_loss: bool = True, groups: int = 1
):
    """Fused KL pass over a compressed matrix.

    For CSR ``X`` (cells × genes) with ``W`` (n × k) and ``Ht`` (m × k) this returns
    ``((X ⊘ WH) Hᵀ, Σ_nz x log(x/wh) − x)``, the numerator of the W update and the
    nonzero part of the KL loss. With ``groups`` > 1, ``W`` and ``Ht`` hold that many
    independent fits side by side (k/groups columns each) and the loss is a (groups,) array.
    """
    out = np.zeros((W.shape[0], W.shape[1]), dtype=X_compressed.dtype)
    partial = _csr_kl_numerator(
        X_compressed.indptr,
        X_compressed.indices,
        X_compressed.data,
        _as_dtype(W, X_compressed.dtype),
        _as_dtype(Ht, X_compressed.dtype),
        X_compressed.dtype.type(eps),
        with_loss,
        groups,
        out,
    )
    per_fit = partial.sum(axis=0)
    return out, (float(per_fit[0]) if groups == 1 else per_fit)


def kl_numerator_t(
    X_csr, W: np.ndarray, Ht: np.ndarray, eps: float, dtype=None, groups: int = 1
) -> np.ndarray:
    """``(X ⊘ WH)ᵀ W`` (m × k) for CSR ``X``, with WH evaluated only at the nonzeros.

    ``dtype`` is the accumulation and output dtype (as in :func:`spmm_t`); ``groups`` as in
    :func:`kl_numerator`.
    """
    k = W.shape[1]
    bounds = _row_bounds(X_csr, k)
    partial = np.zeros((len(bounds) - 1, X_csr.shape[1], k), dtype=dtype or X_csr.dtype)
    _csr_kl_numerator_t(
        X_csr.indptr,
        X_csr.indices,
        X_csr.data,
        _as_dtype(W, X_csr.dtype),
        _as_dtype(Ht, X_csr.dtype),
        X_csr.dtype.type(eps),
        groups,
        bounds,
        partial,
    )
    return _reduce(partial)


def kl_nonzero_loss(X_csr, W: np.ndarray, Ht: np.ndarray, eps: float) -> float:
    """Σ over the nonzeros of CSR ``X`` of ``x log(x / max(wh, eps)) − x``."""
    return float(
        _csr_kl_loss(
            X_csr.indptr,
            X_csr.indices,
            X_csr.data,
            _as_dtype(W, X_csr.dtype),
            _as_dtype(Ht, X_csr.dtype),
            X_csr.dtype.type(eps),
        ).sum()
    )
