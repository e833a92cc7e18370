"""β-NMF on dask arrays: the cell factor is updated blockwise, the gene factor from reductions.

Orientation: ``X`` n × m (cells × genes) is a dask array chunked along cells, with the gene
axis in one chunk (numpy or scipy CSR chunks). Each iteration is one map over the row blocks
and one reduce on the driver:

* map: block b evaluates its loss share and updates its rows ``W_b`` (this needs only the
  small gene factor ``H``), then returns its contributions to the H update (``W_bᵀ X_b`` and
  ``W_bᵀ W_b`` for Frobenius, ``(X_b ⊘ W_b H)ᵀ W_b`` and ``Σ W_b`` for KL, …);
* reduce: the driver sums the k × m contributions and updates ``H``.

The per-block work is exactly the in-memory kernels of :mod:`.mu` and :mod:`.hals`, so the
result equals the in-memory one up to floating-point summation order. With a
``dask.distributed`` client the data blocks and ``W_b`` stay on the workers (only k × m
reductions travel); without one, blocks are computed on each pass, which streams data that
does not fit in memory from its source.
"""

from __future__ import annotations

import numpy as np

from .._backends import _sparse
from .._backends.dask import _as_block, _check_chunks, _Runner
from .beta import frobenius_from_products, squared_norm
from .hals import inner_sweeps, max_inner_sweeps
from .mu import Callback, _apply, mm_exponent
from .ops_numpy import make_ops
from .result import NMFResult, has_converged


def _mu_block(block, W_b, H, beta, dtype):
    block = _as_block(block, dtype)
    W_b = np.array(W_b, dtype=dtype)
    ops = make_ops(block, beta)
    numerator, denominator, loss = ops.w_terms(W_b, H)
    _apply(W_b, numerator, denominator, mm_exponent(beta), beta)
    numerator_H, denominator_H = ops.h_terms(W_b, H)
    return W_b, loss, np.asarray(numerator_H), np.asarray(denominator_H)


def _mu_loss_block(block, W_b, H, beta, dtype):
    block = _as_block(block, dtype)
    return make_ops(block, beta).w_terms(np.asarray(W_b, dtype=dtype), H)[2]


def _hals_block(block, W_b, Ht, HtH, max_inner, adaptive, dtype):
    block = _as_block(block, dtype)
    W_b = np.array(W_b, dtype=dtype)
    XHt = _sparse.spmm(block, Ht)
    loss = frobenius_from_products(squared_norm(block), W_b, XHt, HtH.astype(np.float64))
    inner_sweeps(W_b, XHt, HtH, max_inner, adaptive=adaptive)
    return W_b, loss, _sparse.spmm_t(block, W_b), W_b.T @ W_b


def _hals_loss_block(block, W_b, Ht, HtH, dtype):
    block = _as_block(block, dtype)
    W_b = np.asarray(W_b, dtype=dtype)
    XHt = _sparse.spmm(block, Ht)
    return frobenius_from_products(squared_norm(block), W_b, XHt, HtH.astype(np.float64))


def dask_mu(
    X,
    W: np.ndarray,
    H: np.ndarray,
    *,
    beta: float = 2.0,
    max_iter: int = 200,
    tol: float = 1e-4,
    callback: Callback | None = None,
) -> NMFResult:
    """Multiplicative updates on a dask array (see the module docstring).

    Parameters
    ----------
    X
        Dask array, n × m, chunked along rows only; numpy or scipy.sparse chunks.
    W, H
        Initial factors (n × k, k × m).
    beta, max_iter, tol, callback
        As in :func:`scnmf._core.mu.mu`.

    Returns
    -------
    NMFResult
        As the in-memory solver returns.
    """
    _check_chunks(X)
    dtype = np.dtype(X.dtype)
    H = np.array(H, dtype=dtype, order="C")
    runner = _Runner(X)
    W_blocks = runner.split(np.asarray(W, dtype=dtype))
    gamma = mm_exponent(beta)
    losses: list[float] = []
    converged = stopped = False
    n_iter = 0
    for iteration in range(max_iter):
        new_W, outs = runner.map(_mu_block, W_blocks, H, beta, dtype)
        losses.append(float(sum(o[0] for o in outs)))
        if callback is not None and callback(iteration, losses[-1]):
            stopped = True
            break
        if has_converged(losses, tol):
            converged = True
            break
        W_blocks = new_W
        numerator = sum(o[1] for o in outs)
        denominator = sum(o[2] for o in outs)
        _apply(H, numerator, denominator, gamma, beta)
        n_iter = iteration + 1
    if not (converged or stopped):
        losses.append(float(sum(runner.map_values(_mu_loss_block, W_blocks, H, beta, dtype))))
        if callback is not None:
            callback(n_iter, losses[-1])
    return NMFResult(
        W=runner.join(W_blocks), H=H, loss=np.asarray(losses), n_iter=n_iter, converged=converged
    )


def dask_hals(
    X,
    W: np.ndarray,
    H: np.ndarray,
    *,
    max_iter: int = 200,
    tol: float = 1e-4,
    max_inner: int | None = None,
    nnz: int | None = None,
    callback: Callback | None = None,
) -> NMFResult:
    """HALS on a dask array: W sweeps blockwise, H sweeps on the driver from summed reductions.

    With an explicit ``max_inner`` every block runs exactly that many sweeps (then the
    result equals in-memory :func:`scnmf._core.hals.hals` with the same ``max_inner``);
    by default each block stops its sweeps adaptively on its own rows. ``nnz`` (the data's
    number of nonzeros, when known) sets the default sweep budget as in memory.

    Returns
    -------
    NMFResult
        As the in-memory solver returns.
    """
    _check_chunks(X)
    dtype = np.dtype(X.dtype)
    Ht = np.array(np.asarray(H).T, dtype=dtype, order="C")
    runner = _Runner(X)
    W_blocks = runner.split(np.asarray(W, dtype=dtype))
    n, m = X.shape
    k = Ht.shape[1]
    adaptive = max_inner is None
    nnz = nnz if nnz is not None else n * m
    inner_W = max_inner or max_inner_sweeps(nnz, n, k)
    inner_H = max_inner or max_inner_sweeps(nnz, m, k)
    losses: list[float] = []
    converged = stopped = False
    n_iter = 0
    for iteration in range(max_iter):
        HtH = Ht.T @ Ht
        new_W, outs = runner.map(_hals_block, W_blocks, Ht, HtH, inner_W, adaptive, dtype)
        losses.append(float(sum(o[0] for o in outs)))
        if callback is not None and callback(iteration, losses[-1]):
            stopped = True
            break
        if has_converged(losses, tol):
            converged = True
            break
        W_blocks = new_W
        XtW = sum(o[1] for o in outs)
        WtW = sum(o[2] for o in outs)
        inner_sweeps(Ht, XtW, WtW, inner_H, adaptive=adaptive)
        n_iter = iteration + 1
    if not (converged or stopped):
        HtH = Ht.T @ Ht
        losses.append(float(sum(runner.map_values(_hals_loss_block, W_blocks, Ht, HtH, dtype))))
        if callback is not None:
            callback(n_iter, losses[-1])
    return NMFResult(
        W=runner.join(W_blocks),
        H=np.ascontiguousarray(Ht.T),
        loss=np.asarray(losses),
        n_iter=n_iter,
        converged=converged,
    )


def dask_randomized_svd(
    X, k: int, random_state: int | None = 0, n_oversamples: int = 10, n_power_iter: int = 2
):
    """Truncated SVD of a row-chunked dask array by map/reduce (randomised, CholeskyQR).

    Returns
    -------
    U, S, Vt
        n × k, (k,), k × m numpy arrays.
    """
    import dask

    rng = np.random.default_rng(random_state)
    n, m = X.shape
    width = min(k + n_oversamples, m, n)
    blocks = list(X.to_delayed().ravel())

    def project(B):  # Y_b = X_b B, blockwise
        return list(
            dask.compute(
                *[
                    dask.delayed(_sparse.spmm)(dask.delayed(_as_block)(b, np.float64), B)
                    for b in blocks
                ]
            )
        )

    def orthonormalise(Y_blocks):
        gram = sum(Y.T @ Y for Y in Y_blocks)
        R = np.linalg.cholesky(gram + 1e-10 * np.trace(gram) / width * np.eye(width)).T
        return [np.linalg.solve(R.T, Y.T).T for Y in Y_blocks]

    def back_project(Q_blocks):  # Xᵀ Q, summed over blocks
        parts = dask.compute(
            *[
                dask.delayed(_sparse.spmm_t)(dask.delayed(_as_block)(b, np.float64), Q)
                for b, Q in zip(blocks, Q_blocks, strict=True)
            ]
        )
        return sum(parts)

    Q = orthonormalise(project(rng.standard_normal((m, width))))
    for _ in range(n_power_iter):
        Z = back_project(Q)
        Z, _ = np.linalg.qr(Z)
        Q = orthonormalise(project(Z))
    Bt = back_project(Q)  # m × width = (Qᵀ X)ᵀ
    Ub, S, Vt = np.linalg.svd(Bt.T, full_matrices=False)
    U = np.vstack([Qb @ Ub for Qb in Q])
    return U[:, :k], S[:k], Vt[:k]
