"""Multiplicative updates for β-NMF (Lee & Seung 2001; Févotte & Idier 2011).

Orientation: ``X`` n × m (cells × genes) ≈ ``W`` (n × k) ``H`` (k × m).

Three evaluation paths share one loop:

* β = 2: the updates need only X Hᵀ, Xᵀ W and k × k Gram matrices (parallel sparse products);
* β = 1 with sparse X: fused numba kernels compute X ⊘ WH at the nonzeros and contract it
  with the other factor in the same pass (the denominators are column/row sums);
* any other case: row blocks of bounded size (dense X is read in place).

Each pass that prepares the W update also yields the loss of the current iterate, so the
loss history costs nothing extra. Updates follow scikit-learn's floors (float32 epsilon)
and the Févotte–Idier exponent γ(β), which makes the loss non-increasing for every β.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from .._constants import EPSILON
from . import _sparse
from ._result import NMFResult, has_converged
from ._threads import single_threaded_blas
from .beta import dense_block, elementwise_beta, frobenius_from_products, row_blocks, squared_norm

Callback = Callable[[int, float], bool | None]


def mm_exponent(beta: float) -> float:
    """Exponent γ(β) that makes the multiplicative update a majorisation–minimisation step."""
    if beta < 1:
        return 1.0 / (2.0 - beta)
    if beta > 2:
        return 1.0 / (beta - 1.0)
    return 1.0


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


def _apply(factor: np.ndarray, numerator, denominator, gamma: float, beta: float) -> None:
    denominator = np.array(denominator, dtype=factor.dtype)
    denominator[denominator == 0] = EPSILON
    delta = np.asarray(numerator, dtype=factor.dtype) / denominator
    if gamma != 1:
        delta **= gamma
    factor *= delta
    if beta < 1:
        # As in scikit-learn: stops tiny values from blowing up under β < 1.
        factor[factor < np.finfo(np.float64).eps] = 0.0


def mu(
    X,
    W: np.ndarray,
    H: np.ndarray,
    *,
    beta: float = 2.0,
    max_iter: int = 200,
    tol: float = 1e-4,
    update_W: bool = True,
    update_H: bool = True,
    callback: Callback | None = None,
) -> NMFResult:
    """β-NMF by multiplicative updates.

    Parameters
    ----------
    X
        n × m nonnegative data (cells × genes), ndarray or CSR; never densified whole.
    W, H
        Initial factors, n × k and k × m, in X's dtype (copied, not modified).
    beta
        β of the divergence (0 Itakura–Saito, 1 Kullback–Leibler, 2 Frobenius, any β ≥ 0).
    max_iter
        Maximum number of iterations (one W update then one H update).
    tol
        Stop when the loss decreases by less than ``tol`` relative to its previous value;
        ``tol=0`` runs exactly ``max_iter`` iterations.
    update_W, update_H
        Keep a factor fixed (e.g. ``update_H=False`` projects new cells onto known programs).
    callback
        Called as ``callback(iteration, loss)`` after every loss evaluation; returning
        ``True`` stops the fit there.

    Returns
    -------
    NMFResult
        Factors, loss history (length ``n_iter + 1``), ``n_iter`` and ``converged``.
    """
    W = np.array(W, dtype=X.dtype, order="C")
    H = np.array(H, dtype=X.dtype, order="C")
    with single_threaded_blas(X):
        return mu_loop(
            make_ops(X, float(beta)),
            W,
            H,
            beta=float(beta),
            max_iter=max_iter,
            tol=tol,
            update_W=update_W,
            update_H=update_H,
            callback=callback,
            apply=_apply,
        )


def mu_loop(
    ops, W, H, *, beta, max_iter, tol, update_W=True, update_H=True, callback=None, apply=_apply
) -> NMFResult:
    """The MU iteration shared by every backend.

    ``ops`` supplies ``w_terms(W, H) -> (numerator, denominator, loss)`` (the loss being that
    of the current iterate) and ``h_terms(W, H) -> (numerator, denominator)``; ``apply``
    performs the in-place multiplicative step on the backend's arrays.
    """
    gamma = mm_exponent(beta)
    losses: list[float] = []
    converged = False
    n_iter = 0
    for iteration in range(max_iter + 1):
        numerator, denominator, loss = ops.w_terms(W, H)
        losses.append(float(loss))
        if callback is not None and callback(iteration, losses[-1]):
            break
        if has_converged(losses, tol):
            converged = True
            break
        if iteration == max_iter:
            break
        if update_W:
            apply(W, numerator, denominator, gamma, beta)
        if update_H:
            numerator, denominator = ops.h_terms(W, H)
            apply(H, numerator, denominator, gamma, beta)
        n_iter = iteration + 1
    return NMFResult(W=W, H=H, loss=np.asarray(losses), n_iter=n_iter, converged=converged)
