"""β-divergences D_β(X | WH), evaluating WH only where it is needed.

Orientation: ``X`` is n × m (cells × genes), ``W`` n × k, ``H`` k × m.

For sparse ``X`` the zero entries contribute in closed form:

* β = 2: ½‖X − WH‖² = ½(‖X‖² − 2⟨X, WH⟩ + ⟨WᵀW, HHᵀ⟩), with ⟨X, WH⟩ = Σ W ∘ (X Hᵀ);
* β = 1: Σ_nz (x log(x/wh) − x) + Σ_all wh, and Σ_all wh = (Σ_i W_i·)(Σ_j H_·j);
* other β: a zero entry contributes wh^β / β, which has no closed form; it is summed in
  row blocks of bounded size, so memory stays O(block · m) however large the data.

β = 0 (Itakura–Saito) is undefined at zero entries of X.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..._keys import EPSILON
from .._backends import _sparse

#: Target number of matrix entries materialised at once by the blocked paths.
BLOCK_ENTRIES = 1 << 22


def row_blocks(n_rows: int, n_cols: int, block_entries: int = BLOCK_ENTRIES):
    """Slices over rows such that each block holds about ``block_entries`` entries."""
    step = max(1, block_entries // max(1, n_cols))
    for start in range(0, n_rows, step):
        yield slice(start, min(n_rows, start + step))


def dense_block(X, rows: slice) -> np.ndarray:
    """Rows of ``X`` as a dense array (only ever a bounded block of a sparse matrix)."""
    block = X[rows]
    return block.toarray() if sp.issparse(block) else np.asarray(block)


def log_ratio(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log(x / y) for x > 0 and y > 0 (float64), finite however small x is.

    Where x / y underflows (a denormal x: scikit-learn's ``test_nmf_underflow``) the ratio
    has lost its digits or is 0, whose log is −inf; those few entries take log x − log y.
    """
    ratio = x / y
    small = ratio < np.finfo(np.float64).tiny
    with np.errstate(divide="ignore"):  # a zero x (IS is undefined there) stays −inf
        out = np.log(ratio)
        if small.any():
            out[small] = np.log(x[small]) - np.log(y[small])
    return out


def elementwise_beta(x: np.ndarray, y: np.ndarray, beta: float) -> float:
    """Σ d_β(x | y) over matching dense arrays.

    Model values enter logarithms and negative powers floored at float32 epsilon; the
    linear KL term Σ y uses them unfloored, matching the sparse closed form.
    """
    x = x.astype(np.float64, copy=False)
    y = y.astype(np.float64, copy=False)
    if beta == 2:
        return 0.5 * float(np.sum((x - y) ** 2))
    if beta == 1:
        positive = x > 0
        xp = x[positive]
        kl = np.sum(xp * log_ratio(xp, np.maximum(y[positive], EPSILON)))
        return float(kl - x.sum() + y.sum())
    y = np.maximum(y, EPSILON)
    if beta == 0:
        return float(np.sum(x / y - log_ratio(x, y) - 1.0))
    return float(
        np.sum(x**beta + (beta - 1.0) * y**beta - beta * x * y ** (beta - 1.0))
        / (beta * (beta - 1.0))
    )


def frobenius_from_products(
    sq_norm_X: float, W: np.ndarray, XHt: np.ndarray, HHt: np.ndarray
) -> float:
    """½‖X − WH‖² from ‖X‖², X Hᵀ and HHᵀ (no n × m product formed)."""
    cross = float(np.sum(W * XHt, dtype=np.float64))
    gram = float(np.sum((W.T @ W).astype(np.float64) * HHt))
    return max(0.5 * (sq_norm_X - 2.0 * cross + gram), 0.0)


def gram64(A: np.ndarray, block_rows: int = 1 << 13) -> np.ndarray:
    """AᵀA accumulated in float64, in row blocks (no float64 copy of a tall A)."""
    k = A.shape[1]
    out = np.zeros((k, k), dtype=np.float64)
    for start in range(0, A.shape[0], block_rows):
        block = np.asarray(A[start : start + block_rows], dtype=np.float64)
        out += block.T @ block
    return out


#: Below this fraction of ½‖X‖², a loss evaluated from a float32 X Hᵀ is re-evaluated from
#: X Hᵀ in float64 (about 1e5 float32 ε: the rounding of a float32 product, up to ~10 ε·‖X‖²,
#: then stays below 1e-4 of the loss, the default tolerance's margin).
PRECISE_BELOW = 1e5 * float(np.finfo(np.float32).eps)


def frobenius_from_factors(
    sq_norm_X: float, W: np.ndarray, XHt: np.ndarray, Ht: np.ndarray, X=None
) -> float:
    """½‖X − WH‖² from ‖X‖², X Hᵀ and the factors W (n × k), Hᵀ (m × k), summed in float64.

    The expanded form cancels when the fit is good: float32 Gram matrices (whose rounding
    grows like √n·ε·‖X‖²), or a float32 X Hᵀ, would put noise into the loss larger than the
    tolerance stop's margin, and a fit could stop, or run on, on rounding alone. Gram
    matrices are always summed in float64; when ``X`` is given and the loss is small
    relative to ‖X‖² (below :data:`PRECISE_BELOW`), the cross term is recomputed from X Hᵀ
    in float64 (one more product, only for near-exact fits).
    """
    gram = float(np.sum(gram64(W) * gram64(Ht)))
    cross = float(np.sum(W * XHt, dtype=np.float64))
    loss = 0.5 * (sq_norm_X - 2.0 * cross + gram)
    if X is not None and XHt.dtype != np.float64 and loss < PRECISE_BELOW * 0.5 * sq_norm_X:
        XHt64 = _sparse.spmm(X, Ht, dtype=np.float64)
        cross = float(np.sum(W * XHt64))
        loss = 0.5 * (sq_norm_X - 2.0 * cross + gram)
    return max(loss, 0.0)


def squared_norm(X) -> float:
    """‖X‖²_F in float64."""
    values = X.data if sp.issparse(X) else X
    return float(np.dot(values.ravel().astype(np.float64), values.ravel().astype(np.float64)))


def beta_divergence(X, W: np.ndarray, H: np.ndarray, beta: float) -> float:
    """D_β(X | WH) summed over all entries.

    Parameters
    ----------
    X
        n × m nonnegative data, dense or sparse.
    W, H
        Factors, n × k and k × m.
    beta
        β ≥ 0: 0 Itakura–Saito, 1 Kullback–Leibler, 2 half squared Frobenius.

    Returns
    -------
    float
        The divergence. Model values below float32 epsilon are floored there for β < 2
        (as scikit-learn does), so zeros in WH never give infinities.
    """
    beta = float(beta)
    if beta == 2:  # X Hᵀ and the Grams in float64: the expanded form cancels for good fits
        Ht = np.ascontiguousarray(H.T)
        XHt = _sparse.spmm(X, Ht, dtype=np.float64)
        return frobenius_from_factors(squared_norm(X), W, XHt, Ht)
    if beta == 1 and sp.issparse(X):
        Xr = X.tocsr()
        total_wh = float(np.dot(W.sum(axis=0, dtype=np.float64), H.sum(axis=1, dtype=np.float64)))
        return _sparse.kl_nonzero_loss(Xr, W, np.ascontiguousarray(H.T), EPSILON) + total_wh
    total = 0.0
    for rows in row_blocks(X.shape[0], X.shape[1]):
        x = dense_block(X, rows)
        total += elementwise_beta(x, W[rows] @ H, beta)
    return total
