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

from ..._keys import EPSILON
from .._backends._threads import single_threaded_blas
from .ops_numpy import make_ops
from .result import NMFResult, has_converged

Callback = Callable[[int, float], bool | None]


def mm_exponent(beta: float) -> float:
    """Exponent γ(β) that makes the multiplicative update a majorisation–minimisation step."""
    if beta < 1:
        return 1.0 / (2.0 - beta)
    if beta > 2:
        return 1.0 / (beta - 1.0)
    return 1.0


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
