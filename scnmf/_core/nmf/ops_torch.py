"""MU (any β) and HALS on torch tensors, for GPUs (and torch's CPU backend).

Orientation: ``X`` n × m (cells × genes) ≈ ``W`` (n × k) ``H`` (k × m).

Sparse X goes to the device once as CSR, together with the CSR of Xᵀ and the permutation
that maps values between the two layouts, so no format conversion happens per iteration:

* β = 2: X Hᵀ and Xᵀ W are CSR × dense products;
* β = 1: WH is evaluated only at the nonzeros with ``torch.sparse.sampled_addmm``; the ratio
  X ⊘ WH reuses X's CSR structure (and, permuted, Xᵀ's) for the two products;
* other β: bounded row blocks are densified on the device, as on the CPU.

Results are returned as numpy arrays in the dtype of X. Sparse products on a GPU use atomic
additions, so repeated GPU runs can differ in the last bits.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..._keys import EPSILON
from .._backends.torch import _to_numpy, _TorchData, resolve_device
from .beta import BLOCK_ENTRIES
from .mu import Callback, mu_loop
from .result import NMFResult


def _frobenius_loss(data: _TorchData, W, XHt, HHt) -> float:
    cross = float((W.double() * XHt.double()).sum())
    gram = float(((W.T @ W).double() * HHt.double()).sum())
    return max(0.5 * (data.sq_norm - 2 * cross + gram), 0.0)


class _TorchFrobeniusOps:
    def __init__(self, data: _TorchData):
        self.data = data

    def w_terms(self, W, H):
        XHt = self.data.matmul(H.T.contiguous())
        HHt = H @ H.T
        return XHt, W @ HHt, _frobenius_loss(self.data, W, XHt, HHt)

    def h_terms(self, W, H):
        return self.data.matmul_t(W).T, (W.T @ W) @ H


class _TorchSparseKLOps:
    def __init__(self, data: _TorchData):
        self.data = data
        self.torch = data.torch

    def _ratio(self, W, H):
        wh = self.torch.sparse.sampled_addmm(self.data.X, W, H, beta=0.0, alpha=1.0).values()
        wh = self.torch.clamp(wh, min=EPSILON)
        return self.data.values / wh, wh

    def w_terms(self, W, H):
        ratio, wh = self._ratio(W, H)
        numerator = self.data.with_values(ratio) @ H.T.contiguous()
        x = self.data.values
        nonzero_part = float((x.double() * self.torch.log(ratio.double()) - x.double()).sum())
        total = float(W.double().sum(0) @ H.double().sum(1))
        denominator = H.sum(1)[None, :].expand_as(W)
        return numerator, denominator, nonzero_part + total

    def h_terms(self, W, H):
        ratio, _ = self._ratio(W, H)
        numerator = (self.data.with_values(ratio, transpose=True) @ W).T
        return numerator, W.sum(0)[:, None].expand_as(H)


class _TorchBlockedOps:
    def __init__(self, data: _TorchData, beta: float):
        self.data = data
        self.beta = beta
        self.torch = data.torch
        n, m = data.shape
        self.step = max(1, BLOCK_ENTRIES // max(1, m))

    def _blocks(self):
        n = self.data.shape[0]
        for start in range(0, n, self.step):
            yield start, min(n, start + self.step)

    def _terms(self, x, WH):
        t, beta = self.torch, self.beta
        floored = t.clamp(WH, min=EPSILON)
        num_base = floored if beta < 2 else WH
        den_base = floored if beta < 1 else WH
        if beta == 1:
            return x / num_base, None
        if beta == 0:
            return x / num_base**2, 1.0 / den_base
        return x * num_base ** (beta - 2.0), den_base ** (beta - 1.0)

    def _loss(self, x, WH) -> float:
        t, beta = self.torch, self.beta
        x, y = x.double(), WH.double()
        if beta == 1:
            pos = x > 0
            yf = t.clamp(y[pos], min=EPSILON)
            return float((x[pos] * t.log(x[pos] / yf)).sum() - x.sum() + y.sum())
        y = t.clamp(y, min=EPSILON)
        if beta == 0:
            r = x / y
            return float((r - t.log(r) - 1).sum())
        return float(
            (x**beta + (beta - 1) * y**beta - beta * x * y ** (beta - 1)).sum()
            / (beta * (beta - 1))
        )

    def w_terms(self, W, H):
        numerator = self.torch.empty_like(W)
        denominator = self.torch.empty_like(W)
        loss = 0.0
        for a, b in self._blocks():
            x = self.data.row_block(a, b)
            WH = W[a:b] @ H
            loss += self._loss(x, WH)
            num, den = self._terms(x, WH)
            numerator[a:b] = num @ H.T
            denominator[a:b] = (den @ H.T) if den is not None else H.sum(1)[None, :]
        return numerator, denominator, loss

    def h_terms(self, W, H):
        numerator = self.torch.zeros_like(H)
        denominator = self.torch.zeros_like(H)
        for a, b in self._blocks():
            x = self.data.row_block(a, b)
            num, den = self._terms(x, W[a:b] @ H)
            numerator += W[a:b].T @ num
            denominator += (W[a:b].T @ den) if den is not None else W[a:b].sum(0)[:, None]
        return numerator, denominator


def _torch_apply(factor, numerator, denominator, gamma: float, beta: float) -> None:
    import torch

    denominator = torch.where(denominator == 0, torch.full_like(denominator, EPSILON), denominator)
    delta = numerator / denominator
    if gamma != 1:
        delta = delta**gamma
    factor.mul_(delta)
    if beta < 1:
        factor[factor < np.finfo(np.float64).eps] = 0.0


def torch_mu(
    X,
    W: np.ndarray,
    H: np.ndarray,
    *,
    beta: float = 2.0,
    max_iter: int = 200,
    tol: float = 1e-4,
    device: str = "auto",
    callback: Callback | None = None,
) -> NMFResult:
    """Multiplicative updates on a torch device (same updates and floors as the CPU engine).

    Returns
    -------
    NMFResult
        numpy factors in X's dtype, loss history, ``n_iter``, ``converged``.
    """
    import torch

    device = resolve_device(device)
    data = _TorchData(X, device)
    Wt = torch.as_tensor(np.array(W), dtype=data.dtype, device=device)
    Ht = torch.as_tensor(np.array(H), dtype=data.dtype, device=device)
    beta = float(beta)
    if beta == 2:
        ops = _TorchFrobeniusOps(data)
    elif beta == 1 and data.sparse:
        ops = _TorchSparseKLOps(data)
    else:
        ops = _TorchBlockedOps(data, beta)
    with torch.no_grad():
        result = mu_loop(
            ops,
            Wt,
            Ht,
            beta=beta,
            max_iter=max_iter,
            tol=tol,
            callback=callback,
            apply=_torch_apply,
        )
    dtype = np.float64 if X.dtype == np.float64 else np.float32
    result.W, result.H = _to_numpy(result.W, dtype), _to_numpy(result.H, dtype)
    return result


def _torch_sweeps(A, B, G, max_inner: int, adaptive: bool) -> None:
    import torch

    first = None
    for _ in range(max_inner):
        change = 0.0
        for col in range(A.shape[1]):
            curvature = float(G[col, col])
            if curvature <= 0:
                continue
            new = torch.clamp(A[:, col] + (B[:, col] - A @ G[:, col]) / curvature, min=0)
            change += float(((new - A[:, col]) ** 2).sum())
            A[:, col] = new
        if first is None:
            first = change
        elif adaptive and change <= 1e-2 * first:
            break


def torch_hals(
    X,
    W: np.ndarray,
    H: np.ndarray,
    *,
    max_iter: int = 200,
    tol: float = 1e-4,
    max_inner: int | None = None,
    device: str = "auto",
    callback: Callback | None = None,
) -> NMFResult:
    """HALS (Frobenius) on a torch device, with the CPU engine's sweep schedule.

    Returns
    -------
    NMFResult
        numpy factors in X's dtype, loss history, ``n_iter``, ``converged``.
    """
    import torch

    from .hals import max_inner_sweeps
    from .result import has_converged

    device = resolve_device(device)
    data = _TorchData(X, device)
    W_t = torch.as_tensor(np.array(W), dtype=data.dtype, device=device)
    Ht = torch.as_tensor(np.ascontiguousarray(np.asarray(H).T), dtype=data.dtype, device=device)
    n, m = X.shape
    k = W_t.shape[1]
    nnz = X.nnz if sp.issparse(X) else int(np.count_nonzero(X))
    adaptive = max_inner is None
    inner_W = max_inner or max_inner_sweeps(nnz, n, k)
    inner_H = max_inner or max_inner_sweeps(nnz, m, k)
    losses: list[float] = []
    converged = False
    n_iter = 0
    with torch.no_grad():
        for iteration in range(max_iter + 1):
            XHt = data.matmul(Ht)
            HtH = Ht.T @ Ht
            losses.append(_frobenius_loss(data, W_t, XHt, HtH))
            if callback is not None and callback(iteration, losses[-1]):
                break
            if has_converged(losses, tol):
                converged = True
                break
            if iteration == max_iter:
                break
            _torch_sweeps(W_t, XHt, HtH, inner_W, adaptive)
            _torch_sweeps(Ht, data.matmul_t(W_t), W_t.T @ W_t, inner_H, adaptive)
            n_iter = iteration + 1
    dtype = np.float64 if X.dtype == np.float64 else np.float32
    return NMFResult(
        W=_to_numpy(W_t, dtype),
        H=_to_numpy(Ht.T, dtype),
        loss=np.asarray(losses),
        n_iter=n_iter,
        converged=converged,
    )
