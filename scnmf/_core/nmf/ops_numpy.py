"""MU terms for in-memory data (numpy/scipy with the numba sparse kernels)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..._keys import EPSILON
from .._backends import _sparse
from .beta import dense_block, elementwise_beta, frobenius_from_products, row_blocks, squared_norm


class _FrobeniusOps:
    def __init__(self, X):
        self.X = X
        self.sq_norm = squared_norm(X)

    def w_terms(self, W, H):
        XHt = _sparse.spmm(self.X, np.ascontiguousarray(H.T))
        HHt = H @ H.T
        loss = frobenius_from_products(self.sq_norm, W, XHt, HHt.astype(np.float64))
        return XHt, W @ HHt, loss

    def h_terms(self, W, H):
        WtX = _sparse.spmm_t(self.X, W).T
        return WtX, (W.T @ W) @ H


class _SparseKLOps:
    def __init__(self, X):
        self.X = X.tocsr()

    def w_terms(self, W, H):
        Ht = np.ascontiguousarray(H.T)
        numerator, nonzero_part = _sparse.kl_numerator(self.X, W, Ht, EPSILON)
        total_wh = float(np.dot(W.sum(axis=0, dtype=np.float64), H.sum(axis=1, dtype=np.float64)))
        denominator = np.broadcast_to(H.sum(axis=1)[None, :], W.shape)
        return numerator, denominator, nonzero_part + total_wh

    def h_terms(self, W, H):
        numerator_t = _sparse.kl_numerator_t(self.X, W, np.ascontiguousarray(H.T), EPSILON)
        denominator = np.broadcast_to(W.sum(axis=0)[:, None], H.shape)
        return numerator_t.T, denominator


class _BlockedOps:
    """Any β on dense X, or β ∉ {1, 2} on sparse X, in row blocks of bounded size."""

    def __init__(self, X, beta: float):
        self.X = X
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
        numerator = np.zeros_like(H)
        denominator = np.zeros_like(H) if self.beta != 1 else None
        for rows in row_blocks(*self.X.shape):
            x = dense_block(self.X, rows)
            WH = W[rows] @ H
            numer, denom = self._ratios(x, WH)
            numerator += W[rows].T @ numer
            if denom is not None:
                denominator += W[rows].T @ denom
        if denominator is None:
            denominator = np.broadcast_to(W.sum(axis=0)[:, None], H.shape)
        return numerator, denominator


def make_ops(X, beta: float):
    """The evaluation path for ``X`` and β (see the module docstring)."""
    if beta == 2:
        return _FrobeniusOps(X)
    if beta == 1 and sp.issparse(X):
        return _SparseKLOps(X)
    return _BlockedOps(X, beta)
