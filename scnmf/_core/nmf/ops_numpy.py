"""In-memory backend ops: numpy/scipy arrays with the numba sparse kernels.

Orientation: ``X`` n × m (cells × genes) ≈ ``W`` (n × k) ``H`` (k × m).

:class:`NumpyOps` holds ``X`` and supplies what the solvers of :mod:`.mu` and :mod:`.hals`
need: products with X, Gram matrices, the Frobenius loss from products, the elementwise MU
step and the HALS column sweep. The β-MU terms come in three evaluation paths:

* β = 2 (:class:`FrobeniusOps`): X Hᵀ, Xᵀ W and k × k Gram matrices (parallel sparse products);
* β = 1 with sparse X (:class:`SparseKLOps`): fused numba kernels compute X ⊘ WH at the
  nonzeros and contract it with the other factor in the same pass;
* any other case (:class:`BlockedOps`): row blocks of bounded size (dense X is read in place).

Updates follow scikit-learn's floors (float32 epsilon).
"""

from __future__ import annotations

import contextlib

import numba as nb
import numpy as np
import scipy.linalg
import scipy.sparse as sp

from ..._keys import EPSILON
from .._backends import _sparse
from .._backends._threads import single_threaded_blas
from .beta import (
    dense_block,
    elementwise_beta,
    frobenius_from_factors,
    gram64,
    row_blocks,
    squared_norm,
)


@nb.njit(parallel=True, cache=True, fastmath=True)
def _sweep_rows(A, B, G, max_inner, adaptive, active):  # pragma: no cover - numba
    # The column-by-column HALS pass touches each row of A independently (the update of
    # A[i, l] reads only row i), so rows run in parallel with the exact sequential result,
    # and all of a row's repeated sweeps run in one parallel region (one fork/join per
    # factor and iteration). The early stop is judged per row, so it does not depend on
    # how rows are split into blocks or threads. The columns hold ``len(active)``
    # independent fits side by side (one for a plain fit; G is then block diagonal): each
    # active fit's columns are swept, and stopped, exactly as if it ran alone, and all fits
    # share the one parallel region. Indices run relative to the fit's first column so the
    # arithmetic of a plain fit is the same as with a single fit's loop.
    n = A.shape[0]
    groups = active.shape[0]
    k = A.shape[1] // groups
    change = np.zeros(n)
    for i in nb.prange(n):
        for g in range(groups):
            if not active[g]:
                continue
            o = g * k
            first = 0.0
            for sweep_index in range(max_inner):
                acc = 0.0
                for col in range(k):
                    curvature = G[o + col, o + col]
                    if curvature <= 0:
                        continue
                    dot = A[i, o] * G[o + col, o]
                    for c in range(1, k):
                        dot += A[i, o + c] * G[o + col, o + c]  # G is symmetric: read along rows
                    new = A[i, o + col] + (B[i, o + col] - dot) / curvature
                    if new < 0:
                        new = 0 * new
                    diff = new - A[i, o + col]
                    acc += diff * diff
                    A[i, o + col] = new
                if sweep_index == 0:
                    first = acc
                    change[i] += acc
                elif adaptive and acc <= 1e-2 * first:
                    break
    return change  # summed by numpy: a parallel sum would depend on the thread count


def hals_sweep(
    A: np.ndarray, B, G, max_inner: int = 1, adaptive: bool = False, active=None
) -> float:
    """HALS passes over the columns of ``A`` for min ½‖X − A Fᵀ‖² given B = X F, G = FᵀF.

    Updates ``A`` in place: ``max_inner`` passes, or with ``adaptive`` until a row's change
    falls below 1% of its first pass (Gillis & Glineur's rule, judged row by row). With
    ``active`` (a bool per fit) the columns are that many independent fits side by side (G
    block diagonal): each active fit is swept on its own columns, exactly as if it ran
    alone. Returns ‖ΔA‖²_F of the first pass.
    """
    B = np.ascontiguousarray(B, dtype=A.dtype)
    G = np.asarray(G).astype(A.dtype)
    active = np.ones(1, dtype=np.bool_) if active is None else np.asarray(active, dtype=np.bool_)
    return float(_sweep_rows(A, B, G, max_inner, adaptive, active).sum())


def apply_mu(factor: np.ndarray, numerator, denominator, gamma: float, beta: float) -> None:
    """The multiplicative step ``factor ⊙ (numerator ⊘ denominator)^γ``, in place."""
    denominator = np.array(denominator, dtype=factor.dtype)
    denominator[denominator == 0] = EPSILON
    delta = np.asarray(numerator, dtype=factor.dtype) / denominator
    if gamma != 1:
        delta **= gamma
    factor *= delta
    if beta < 1:
        # As in scikit-learn: stops tiny values from blowing up under β < 1.
        factor[factor < np.finfo(np.float64).eps] = 0.0


class NumpyOps:
    """Products with an in-memory ``X`` (ndarray or CSR) and the CPU elementwise updates."""

    apply = staticmethod(apply_mu)
    sweep = staticmethod(hals_sweep)

    def __init__(self, X):
        self.X = X
        self._sq_norm: float | None = None

    @property
    def sq_norm(self) -> float:
        """‖X‖²_F in float64."""
        if self._sq_norm is None:
            self._sq_norm = squared_norm(self.X)
        return self._sq_norm

    def x_times(self, B: np.ndarray) -> np.ndarray:
        """X B (B m × k)."""
        return _sparse.spmm(self.X, B)

    def xt_times(self, A: np.ndarray) -> np.ndarray:
        """Xᵀ A (A n × k), summed over cells in float64."""
        return _sparse.spmm_t(self.X, A, dtype=np.float64)

    @staticmethod
    def gram(A: np.ndarray) -> np.ndarray:
        """Aᵀ A in float64."""
        return gram64(A)

    @staticmethod
    def block_diag(blocks: list[np.ndarray]) -> np.ndarray:
        """The blocks on the diagonal of one matrix (batched fits' Gram, :mod:`.batch`)."""
        return scipy.linalg.block_diag(*blocks)

    @staticmethod
    def concat(parts: list[np.ndarray], axis: int) -> np.ndarray:
        """Parts side by side (``axis=1``) or stacked (``axis=0``)."""
        return np.concatenate(parts, axis=axis)

    def frobenius_loss(self, W, XHt, Ht) -> float:
        """½‖X − WH‖² from the product X Hᵀ and the factors (sums in float64)."""
        return frobenius_from_factors(self.sq_norm, W, XHt, Ht, self.X)

    @staticmethod
    def record(loss):
        """The loss of the current iterate as the loop sees it (a batch freezes fits here)."""
        return loss

    def context(self):
        """Keep BLAS off the numba threads' cores while a sparse fit runs."""
        return single_threaded_blas(self.X)

    @staticmethod
    def to_backend(A: np.ndarray, dtype) -> np.ndarray:
        """A C-contiguous copy in the data dtype (the solvers update it in place)."""
        return np.array(A, dtype=dtype, order="C")

    @staticmethod
    def to_numpy(A, dtype) -> np.ndarray:
        """The factor as a C-contiguous numpy array."""
        return np.ascontiguousarray(A, dtype=dtype)


class FrobeniusOps(NumpyOps):
    """β = 2: products with X and k × k Gram matrices."""

    def w_terms(self, W, H):
        """MU numerator, denominator of W and the loss at (W, H)."""
        XHt = self.x_times(np.ascontiguousarray(H.T))
        HHt = H @ H.T
        return XHt, W @ HHt, self.frobenius_loss(W, XHt, H.T)

    def h_terms(self, W, H):
        """MU numerator and denominator of H."""
        return self.xt_times(W).T, gram64(W) @ H


class SparseKLOps(NumpyOps):
    """β = 1 on CSR: X ⊘ WH at the nonzeros only, fused with the contraction.

    ``groups`` > 1 stacks that many independent fits side by side (see :mod:`.batch`): one
    pass over the nonzeros serves all of them, and the loss is one value per fit.
    """

    def __init__(self, X, groups: int = 1):
        super().__init__(X.tocsr())
        self.groups = groups

    def w_terms(self, W, H):
        """MU numerator, denominator of W and the loss at (W, H)."""
        Ht = np.ascontiguousarray(H.T)
        numerator, nonzero_part = _sparse.kl_numerator(self.X, W, Ht, EPSILON, groups=self.groups)
        W_sums, H_sums = W.sum(axis=0, dtype=np.float64), H.sum(axis=1, dtype=np.float64)
        denominator = np.broadcast_to(H.sum(axis=1)[None, :], W.shape)
        if self.groups == 1:
            return numerator, denominator, nonzero_part + float(np.dot(W_sums, H_sums))
        total_wh = (W_sums * H_sums).reshape(self.groups, -1).sum(axis=1)
        return numerator, denominator, nonzero_part + total_wh

    def h_terms(self, W, H):
        """MU numerator and denominator of H."""
        Ht = np.ascontiguousarray(H.T)
        numerator_t = _sparse.kl_numerator_t(
            self.X, W, Ht, EPSILON, dtype=np.float64, groups=self.groups
        )
        denominator = np.broadcast_to(W.sum(axis=0, dtype=np.float64)[:, None], H.shape)
        return numerator_t.T, denominator


class BlockedOps(NumpyOps):
    """Any β on dense X, or β ∉ {1, 2} on sparse X, in row blocks of bounded size."""

    def __init__(self, X, beta: float):
        super().__init__(X)
        self.beta = beta

    def _ratios(self, x, WH):
        beta = self.beta
        WH_num = np.maximum(WH, EPSILON) if beta < 2 else WH
        WH_den = np.maximum(WH, EPSILON) if beta < 1 else WH
        if beta == 1:
            numer = x / WH_num
            denom = None
        elif beta == 0:
            numer = x / WH_num**2
            denom = 1.0 / WH_den
        else:
            numer = x * WH_num ** (beta - 2.0)
            denom = WH_den ** (beta - 1.0)
        return numer, denom

    def w_terms(self, W, H):
        """MU numerator, denominator of W and the loss at (W, H)."""
        numerator = np.empty_like(W)
        denominator = np.empty_like(W) if self.beta != 1 else None
        loss = 0.0
        for rows in row_blocks(*self.X.shape):
            x = dense_block(self.X, rows)
            WH = W[rows] @ H
            loss += elementwise_beta(x, WH, self.beta)
            numer, denom = self._ratios(x, WH)
            numerator[rows] = numer @ H.T
            if denom is not None:
                denominator[rows] = denom @ H.T
        if denominator is None:
            denominator = np.broadcast_to(H.sum(axis=1)[None, :], W.shape)
        return numerator, denominator, loss

    def h_terms(self, W, H):
        """MU numerator and denominator of H."""
        numerator = np.zeros(H.shape, dtype=np.float64)
        denominator = np.zeros(H.shape, dtype=np.float64) if self.beta != 1 else None
        for rows in row_blocks(*self.X.shape):
            x = dense_block(self.X, rows)
            WH = W[rows] @ H
            numer, denom = self._ratios(x, WH)
            numerator += W[rows].T @ numer
            if denom is not None:
                denominator += W[rows].T @ denom
        if denominator is None:
            denominator = np.broadcast_to(W.sum(axis=0, dtype=np.float64)[:, None], H.shape)
        return numerator, denominator


def make_ops(X, beta: float) -> NumpyOps:
    """The evaluation path for in-memory ``X`` and β (see the module docstring)."""
    if beta == 2:
        return FrobeniusOps(X)
    if beta == 1 and sp.issparse(X):
        return SparseKLOps(X)
    return BlockedOps(X, beta)


class DriverOps:
    """The elementwise updates alone, for factors updated where no data is (dask's driver)."""

    apply = staticmethod(apply_mu)
    sweep = staticmethod(hals_sweep)

    @staticmethod
    def context():
        """Nothing to limit."""
        return contextlib.nullcontext()
