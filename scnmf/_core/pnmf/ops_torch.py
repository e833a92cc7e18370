"""Ops of the graph-regularised NMF subproblem on a torch device.

Same model, updates, floors and sums as :mod:`.ops_numpy`, behind the same interface, so
:func:`scnmf._core.pnmf.gnmf.graph_nmf` and the pNMF driver run unchanged on a GPU
(orientation: ``X`` n × m cells × genes ≈ ``W`` n × k ``H`` k × m). :class:`TorchGraphOps`
puts ``X`` on the device once (CSR of X and Xᵀ when sparse, via
:class:`scnmf._core._backends.torch.TorchData`), so a whole pNMF run, every scale and sweep,
reuses it; each scale's adjacency goes to the device as CSR the first time it is seen and
stays cached. Per iteration the only host round trip is the objective's sums (the stopping
rule needs them). The Frobenius loss is expanded as ‖X‖² − 2⟨W, XHᵀ⟩ + ⟨WᵀW, HHᵀ⟩, so
``WH`` is never formed, and sums are accumulated in float64 as on the CPU.

Factors come back as numpy arrays in the dtype of ``X`` (float32 unless X is float64).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from .._backends.torch import TorchData, to_numpy
from ..graph.laplacian import degrees
from .gnmf import SIGMA, Weights


class _DeviceGraph(NamedTuple):
    adjacency: object  # torch CSR, data dtype
    degree: object  # (n, 1), data dtype: enters the updates
    degree64: object  # (n,), float64: enters the objective


class _DeviceGraphs:
    """Scale adjacencies on the device, cached by the identity of the scipy matrix.

    :class:`scnmf._core.pnmf.pnmf.ScaleGraphs` hands out the same object on every visit of
    a scale (when its graphs fit its cache), so each goes to the device once. The cache pins
    the scipy object (its id cannot be reused meanwhile) and drops the oldest graphs beyond
    ``max_entries`` stored entries, so memory stays bounded when graphs are rebuilt.
    """

    def __init__(self, data: TorchData, max_entries: int = 20_000_000):
        self.data = data
        self.max_entries = max_entries
        self._cache: dict[int, tuple[sp.spmatrix, _DeviceGraph]] = {}

    def get(self, A) -> _DeviceGraph | None:
        if A is None or A.nnz == 0:
            return None
        hit = self._cache.get(id(A))
        if hit is not None and hit[0] is A:
            return hit[1]
        graph = self._upload(A)
        self._cache[id(A)] = (A, graph)
        while len(self._cache) > 1 and sum(a.nnz for a, _ in self._cache.values()) > (
            self.max_entries
        ):
            self._cache.pop(next(iter(self._cache)))
        return graph

    def _upload(self, A) -> _DeviceGraph:
        torch = self.data.torch
        csr = sp.csr_matrix(A)
        deg = torch.as_tensor(degrees(csr), dtype=torch.float64, device=self.data.device)
        adjacency = torch.sparse_csr_tensor(
            torch.as_tensor(csr.indptr.astype(np.int64), device=self.data.device),
            torch.as_tensor(csr.indices.astype(np.int64), device=self.data.device),
            torch.as_tensor(csr.data, dtype=self.data.dtype, device=self.data.device),
            size=csr.shape,
        )
        return _DeviceGraph(adjacency, deg.to(self.data.dtype)[:, None], deg)


def lin_step(F, grad, gram, *, left: bool, shrink: float = 0.0, diag=None):
    """Lin's (2007) modified MU step (see :func:`.ops_numpy.lin_step`), in place on ``F``."""
    safe = F.where(grad >= 0, F.clamp(min=SIGMA))
    denom = gram @ safe if left else safe @ gram
    if shrink:
        denom.add_(safe, alpha=shrink)
    if diag is not None:
        denom.addcmul_(diag, safe)
    denom.add_(SIGMA)
    return F.sub_(safe.div_(denom).mul_(grad))


class TorchGraphOps:
    """``X`` on a torch device for :func:`.gnmf.graph_nmf` and the pNMF driver.

    Parameters
    ----------
    X
        n × m nonnegative data (cells × genes), dense or scipy sparse; copied to the device
        once.
    device
        A resolved torch device name (``'cpu'``, ``'cuda'``, ``'cuda:i'``).
    """

    def __init__(self, X, device: str):
        import torch

        self.torch = torch
        self.X = X
        self.device = device
        self.data = TorchData(X, device)
        self.np_dtype = np.float64 if X.dtype == np.float64 else np.float32
        self.graphs = _DeviceGraphs(self.data)
        self.sq_norm = self.data.sq_norm
        self._zero = torch.zeros((), dtype=torch.float64, device=device)

    def tensor(self, array, copy: bool = False):
        """``array`` on the device in X's dtype (shares memory with a same-dtype CPU array)."""
        kw = dict(dtype=self.data.dtype, device=self.device)
        array = np.asarray(array)
        return self.torch.tensor(array, **kw) if copy else self.torch.as_tensor(array, **kw)

    def subproblem(self, A, weights: Weights, prev, nxt) -> TorchSubproblem:
        return TorchSubproblem(self, A, weights, prev, nxt)

    def scale_sums(self, W, H, A, W_prev) -> list[float]:
        W, H = self.tensor(W), self.tensor(H)
        XHt = self.data.matmul(H.T.contiguous())
        cross = (W.double() * XHt.double()).sum()
        gram = ((W.T @ W).double() * (H @ H.T).double()).sum()
        deg_sq = adj = self._zero
        graph = self.graphs.get(A)
        if graph is not None:
            W64 = W.double()
            deg_sq = graph.degree64 @ (W64 * W64).sum(1)
            adj = (W64 * (graph.adjacency @ W).double()).sum()
        sq = (W.double() ** 2).sum()
        d_prev = self._zero
        if W_prev is not None:
            d_prev = ((W - self.tensor(W_prev)).double() ** 2).sum()
        return self.torch.stack([cross, gram, deg_sq, adj, sq, d_prev]).tolist()


class TorchSubproblem:
    """One subproblem's graph, coupling pull and anchor on the device (:class:`.SubproblemOps`)."""

    def __init__(self, ops: TorchGraphOps, A, weights: Weights, prev, nxt):
        self.ops = ops
        self.data = ops.data
        self.weights = weights
        lam1, alpha, beta, lam3 = weights
        self.shrink = alpha + beta + lam3
        self.graph = ops.graphs.get(A)
        self.diag = lam1 * self.graph.degree if self.graph is not None else None
        self.prev = ops.tensor(prev) if alpha else None
        self.nxt = ops.tensor(nxt) if beta else None
        self.pull = None
        if alpha or beta:
            self.pull = ops.torch.zeros_like(self.prev if alpha else self.nxt)
            if alpha:
                self.pull.add_(self.prev, alpha=alpha)
            if beta:
                self.pull.add_(self.nxt, alpha=beta)

    def factors(self, W, H):
        return self.ops.tensor(W, copy=True), self.ops.tensor(H, copy=True)

    def x_ht(self, H):
        return self.data.matmul(H.T.contiguous())

    def xt_w(self, W):
        return self.data.matmul_t(W)

    def graph_product(self, W):
        return self.graph.adjacency @ W if self.graph is not None else None

    def h_step(self, H, grad, WtW):
        return lin_step(H, grad, WtW, left=True)

    def w_step(self, W, XHt, HHt, AW):
        grad = W @ HHt - XHt
        if self.shrink:
            grad.add_(W, alpha=self.shrink)
        if self.graph is not None:
            grad.add_(self.graph.degree * W - AW, alpha=self.weights.lam1)
        if self.pull is not None:
            grad.sub_(self.pull)
        return lin_step(W, grad, HHt, left=False, shrink=self.shrink, diag=self.diag)

    def normalise(self, H, W):
        norms = H.norm(dim=1)
        norms = norms.masked_fill(norms == 0, 1.0)
        H.div_(norms[:, None])
        W.mul_(norms[None, :])
        return norms

    def sums(self, W, WtW, XHt, HHt, AW) -> list[float]:
        zero = self.ops._zero
        W64 = W.double()
        sq_rows = (W64 * W64).sum(1)
        cross = (W64 * XHt.double()).sum()
        gram = (WtW.double() * HHt.double()).sum()
        deg_sq = adj = d_prev = d_next = zero
        if self.graph is not None:
            deg_sq = self.graph.degree64 @ sq_rows
            adj = (W64 * AW.double()).sum()
        if self.prev is not None:
            d_prev = ((W - self.prev).double() ** 2).sum()
        if self.nxt is not None:
            d_next = ((W - self.nxt).double() ** 2).sum()
        sums = [cross, gram, sq_rows.sum(), deg_sq, adj, d_prev, d_next]
        return self.ops.torch.stack(sums).tolist()  # the one host synchronisation per iteration

    def to_host(self, F) -> np.ndarray:
        return to_numpy(F, self.ops.np_dtype)
