"""Torch backend ops: the data on a device (a GPU, or torch's CPU build), factors as tensors.

Orientation: ``X`` n × m (cells × genes) ≈ ``W`` (n × k) ``H`` (k × m).

Sparse X goes to the device once as CSR, together with the CSR of Xᵀ and the permutation
that maps values between the two layouts (:class:`~scnmf._core._backends.torch.TorchData`),
so no format conversion happens per iteration:

* β = 2: X Hᵀ and Xᵀ W are CSR × dense products;
* β = 1: WH is evaluated only at the nonzeros with ``torch.sparse.sampled_addmm``; the ratio
  X ⊘ WH reuses X's CSR structure (and, permuted, Xᵀ's) for the two products;
* other β: bounded row blocks are densified on the device, as on the CPU.

The ops mirror :mod:`.ops_numpy` one for one (the solvers of :mod:`.mu` and :mod:`.hals`
run on either); the HALS sweep follows the CPU's per-row schedule. Sparse products on a GPU
use atomic additions, so repeated GPU runs can differ in the last bits.
"""

from __future__ import annotations

import numpy as np

from ..._keys import EPSILON
from .._backends.torch import TorchData, to_numpy
from .beta import BLOCK_ENTRIES


def _frobenius_loss(data: TorchData, W, XHt, Ht) -> float:
    # Gram matrices in float64, as on the CPU (see beta.frobenius_from_factors).
    cross = float((W.double() * XHt.double()).sum())
    W64, H64 = W.double(), Ht.double()
    gram = float(((W64.T @ W64) * (H64.T @ H64)).sum())
    return max(0.5 * (data.sq_norm - 2 * cross + gram), 0.0)


def torch_apply_mu(factor, numerator, denominator, gamma: float, beta: float) -> None:
    """The multiplicative step on tensors (same floors as the CPU's)."""
    import torch

    denominator = torch.where(denominator == 0, torch.full_like(denominator, EPSILON), denominator)
    delta = numerator / denominator
    if gamma != 1:
        delta = delta**gamma
    factor.mul_(delta)
    if beta < 1:
        factor[factor < np.finfo(np.float64).eps] = 0.0


def torch_hals_sweep(A, B, G, max_inner: int = 1, adaptive: bool = False, active=None) -> None:
    """HALS column sweeps of ``A`` in place, with the CPU's per-row early stop.

    As :func:`~scnmf._core.nmf.ops_numpy.hals_sweep`: a row stops repeating sweeps once its
    change falls below 1% of its first sweep's, so rows that settled are not swept again;
    with ``active`` (a bool per fit) independent fits side by side read only their own
    block of G, and only the active ones are swept.
    """
    if active is not None:  # each fit on its own columns (views: the updates land in A)
        width = A.shape[1] // len(active)
        for g in np.flatnonzero(active):
            own = slice(g * width, (g + 1) * width)
            torch_hals_sweep(A[:, own], B[:, own], G[own, own], max_inner, adaptive)
        return
    n, k = A.shape
    curvature = G.diagonal().double().cpu().numpy()
    rows = None  # all rows, updated in place
    first = None
    for sweep_index in range(max_inner):
        sub = A if rows is None else A[rows]
        rhs = B if rows is None else B[rows]
        change = A.new_zeros(sub.shape[0], dtype=A.dtype)
        for col in range(k):
            if curvature[col] <= 0:
                continue
            old = sub[:, col].clone()
            new = (old + (rhs[:, col] - sub @ G[:, col]) / G[col, col]).clamp_(min=0)
            change += (new - old) ** 2
            sub[:, col] = new
        if rows is not None:
            A[rows] = sub
        if sweep_index == 0:
            first = change
        elif adaptive:
            threshold = 1e-2 * (first if rows is None else first[rows])
            keep = change > threshold
            if rows is None:
                rows = keep.nonzero().flatten()
            else:
                rows = rows[keep]
            if rows.numel() == 0:
                break


class TorchOps:
    """Products with the device data and the elementwise updates on tensors."""

    apply = staticmethod(torch_apply_mu)
    sweep = staticmethod(torch_hals_sweep)

    def __init__(self, data: TorchData):
        self.data = data
        self.torch = data.torch

    def x_times(self, B):
        """X B."""
        return self.data.matmul(B.contiguous())

    def xt_times(self, A):
        """Xᵀ A."""
        return self.data.matmul_t(A)

    @staticmethod
    def gram(A):
        """Aᵀ A."""
        return A.T @ A

    def block_diag(self, blocks):
        """The blocks on the diagonal of one matrix (batched fits' Gram)."""
        return self.torch.block_diag(*blocks)

    def concat(self, parts, axis: int):
        """Parts side by side (``axis=1``) or stacked (``axis=0``)."""
        return self.torch.cat(parts, dim=axis)

    def frobenius_loss(self, W, XHt, Ht) -> float:
        """½‖X − WH‖² from the product X Hᵀ and the factors (sums in float64)."""
        return _frobenius_loss(self.data, W, XHt, Ht)

    @staticmethod
    def record(loss):
        """The loss of the current iterate as the loop sees it (a batch freezes fits here)."""
        return loss

    def context(self):
        """No autograd graph: the updates are closed-form."""
        return self.torch.no_grad()

    def to_backend(self, A, dtype=None):
        """A numpy factor as a tensor on the device, in the data's dtype."""
        return self.torch.as_tensor(np.array(A), dtype=self.data.dtype, device=self.data.device)

    @staticmethod
    def to_numpy(A, dtype) -> np.ndarray:
        """A tensor factor back on the host."""
        return to_numpy(A, dtype)


class TorchFrobeniusOps(TorchOps):
    """β = 2: sparse × dense products."""

    def w_terms(self, W, H):
        XHt = self.data.matmul(H.T.contiguous())
        HHt = H @ H.T
        return XHt, W @ HHt, _frobenius_loss(self.data, W, XHt, H.T)

    def h_terms(self, W, H):
        return self.data.matmul_t(W).T, (W.T @ W) @ H


class TorchSparseKLOps(TorchOps):
    """β = 1 on CSR: WH at the nonzeros with ``sampled_addmm``."""

    def _ratio(self, W, H):
        wh = self.torch.sparse.sampled_addmm(self.data.X, W, H, beta=0.0, alpha=1.0).values()
        wh = self.torch.clamp(wh, min=EPSILON)
        return self.data.values / wh, wh

    def w_terms(self, W, H):
        ratio, wh = self._ratio(W, H)
        numerator = self.data.with_values(ratio) @ H.T.contiguous()
        x, t = self.data.values.double(), self.torch
        # x log x − x log wh, not x log(x / wh): the ratio of a denormal x underflows to 0.
        nonzero_part = float((t.xlogy(x, x) - t.xlogy(x, wh.double()) - x).sum())
        total = float(W.double().sum(0) @ H.double().sum(1))
        denominator = H.sum(1)[None, :].expand_as(W)
        return numerator, denominator, nonzero_part + total

    def h_terms(self, W, H):
        ratio, _ = self._ratio(W, H)
        numerator = (self.data.with_values(ratio, transpose=True) @ W).T
        return numerator, W.sum(0)[:, None].expand_as(H)


class TorchBlockedOps(TorchOps):
    """Any other β: bounded row blocks densified on the device."""

    def __init__(self, data: TorchData, beta: float):
        super().__init__(data)
        self.beta = beta
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
        if beta == 1:  # xlogy: 0 at x = 0, finite for a denormal x (no x / y underflow)
            yf = t.clamp(y, min=EPSILON)
            return float((t.xlogy(x, x) - t.xlogy(x, yf)).sum() - x.sum() + y.sum())
        y = t.clamp(y, min=EPSILON)
        if beta == 0:
            return float((x / y - (t.log(x) - t.log(y)) - 1).sum())
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


def make_torch_ops(data: TorchData, beta: float) -> TorchOps:
    """The evaluation path for the device data and β (see the module docstring)."""
    if beta == 2:
        return TorchFrobeniusOps(data)
    if beta == 1 and data.sparse:
        return TorchSparseKLOps(data)
    return TorchBlockedOps(data, beta)
