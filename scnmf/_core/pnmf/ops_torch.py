"""Graph-regularised NMF (the pNMF subproblem) and pNMF's total objective on a torch device.

Same model, updates, floors and stopping rule as :func:`scnmf._core.pnmf.graph_nmf` and
:func:`scnmf._core.pnmf.total_objective` (orientation: ``X`` n × m cells × genes ≈ ``W``
n × k ``H`` k × m). :class:`TorchGraphNMF` puts ``X`` on the device once (CSR of X and Xᵀ
when sparse, via :class:`._TorchData`), so a whole pNMF run, every scale and sweep, reuses
it; each scale's adjacency goes to the device as CSR the first time it is seen and stays
cached. Per iteration the only host round trip is the objective value (the stopping rule
needs it). The Frobenius loss is expanded as ‖X‖² − 2⟨W, XHᵀ⟩ + ⟨WᵀW, HHᵀ⟩, so ``WH`` is
never formed, and sums are accumulated in float64 as on the CPU.

Factors come back as numpy arrays in the dtype of ``X`` (float32 unless X is float64).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from .._backends.torch import _to_numpy, _TorchData, resolve_device
from ..graph.laplacian import degrees
from ..nmf.result import NMFResult
from .gnmf import SIGMA

NORMALIZE: tuple[str, ...] = ("start", "iteration", "none")


class _DeviceGraph(NamedTuple):
    adjacency: object  # torch CSR, data dtype
    degree: object  # (n, 1), data dtype: enters the updates
    degree64: object  # (n,), float64: enters the objective


class _DeviceGraphs:
    """Scale adjacencies on the device, cached by the identity of the scipy matrix.

    :class:`scnmf._core.pnmf.ScaleGraphs` hands out the same object on every visit of a
    scale (when its graphs fit its cache), so each goes to the device once. The cache pins
    the scipy object (its id cannot be reused meanwhile) and drops the oldest graphs beyond
    ``max_entries`` stored entries, so memory stays bounded when graphs are rebuilt.
    """

    def __init__(self, data: _TorchData, max_entries: int = 20_000_000):
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
        adjacency = self.data._csr(csr.indptr, csr.indices, csr.data, csr.shape)
        return _DeviceGraph(adjacency, deg.to(self.data.dtype)[:, None], deg)


def _normalise_programs(H, W):
    """Rows of ``H`` to unit L2 norm, ``W``'s columns times the inverse (in place)."""
    norms = H.norm(dim=1)
    norms = norms.masked_fill(norms == 0, 1.0)
    H.div_(norms[:, None])
    W.mul_(norms[None, :])
    return norms


def _lin_step(F, grad, gram, *, left: bool, shrink: float = 0.0, diag=None):
    """Lin's (2007) modified MU step (see :func:`scnmf._core.pnmf._lin_step`), in place."""
    safe = F.where(grad >= 0, F.clamp(min=SIGMA))
    denom = gram @ safe if left else safe @ gram
    if shrink:
        denom.add_(safe, alpha=shrink)
    if diag is not None:
        denom.addcmul_(diag, safe)
    denom.add_(SIGMA)
    return F.sub_(safe.div_(denom).mul_(grad))


def _penalty(W, AW, graph, lam1, prev, alpha, nxt, beta, lam3):
    """λ1 tr(WᵀLW) + α‖W−W_prev‖² + β‖W−W_next‖² + λ3‖W‖², a float64 device scalar."""
    W64 = W.double()
    sq_rows = (W64 * W64).sum(1)
    total = lam3 * sq_rows.sum()
    if lam1 and AW is not None:
        total = total + lam1 * (graph.degree64 @ sq_rows - (W64 * AW.double()).sum())
    if alpha:
        total = total + alpha * ((W - prev).double() ** 2).sum()
    if beta:
        total = total + beta * ((W - nxt).double() ** 2).sum()
    return total


class TorchGraphNMF:
    """``X`` on a torch device, and the pNMF subproblem and total objective against it.

    Parameters
    ----------
    X
        n × m nonnegative data (cells × genes), dense or scipy sparse; copied to the device
        once.
    device
        ``'cpu'``, ``'cuda'`` (or ``'cuda:i'``) or ``'auto'``.
    """

    def __init__(self, X, device: str = "auto"):
        import torch

        self.torch = torch
        self.device = resolve_device(device)
        self.data = _TorchData(X, self.device)
        self.np_dtype = np.float64 if X.dtype == np.float64 else np.float32
        self.graphs = _DeviceGraphs(self.data)

    def _tensor(self, array, copy: bool = False):
        kw = dict(dtype=self.data.dtype, device=self.device)
        array = np.asarray(array)
        # torch.as_tensor shares memory with a same-dtype CPU array; updates are in place.
        return self.torch.tensor(array, **kw) if copy else self.torch.as_tensor(array, **kw)

    def _check_shape(self, X) -> None:
        if tuple(X.shape) != tuple(self.data.shape):
            raise ValueError(
                f"This solver holds a {self.data.shape} matrix on {self.device}, got {X.shape}."
            )

    def subproblem(
        self,
        X,
        W: np.ndarray,
        H: np.ndarray,
        *,
        A: sp.spmatrix | None = None,
        lambda_graph: float = 0.0,
        prev: np.ndarray | None = None,
        alpha: float = 0.0,
        nxt: np.ndarray | None = None,
        beta: float = 0.0,
        lambda_anchor: float = 0.0,
        max_iter: int = 1000,
        tol: float = 1e-3,
        normalize: str = "start",
        sq_norm_X: float | None = None,
        callback: Callable[[int, float], object] | None = None,
    ) -> NMFResult:
        """One scale's subproblem on the device; signature and result of ``graph_nmf``.

        ``X`` only identifies the problem (its shape is checked): the device copy made at
        construction is used.
        """
        if normalize not in NORMALIZE:
            raise ValueError(
                f"Unknown normalize {normalize!r}; use 'start', 'iteration' or 'none'."
            )
        self._check_shape(X)
        lam1, lam3 = float(lambda_graph), float(lambda_anchor)
        graph = self.graphs.get(A) if lam1 > 0 else None
        alpha = float(alpha) if prev is not None else 0.0
        beta = float(beta) if nxt is not None else 0.0
        with self.torch.no_grad():
            return self._solve(
                self._tensor(W, copy=True),
                self._tensor(H, copy=True),
                graph=graph,
                lam1=lam1 if graph is not None else 0.0,
                prev=self._tensor(prev) if alpha else None,
                alpha=alpha,
                nxt=self._tensor(nxt) if beta else None,
                beta=beta,
                lam3=lam3,
                max_iter=int(max_iter),
                tol=float(tol),
                normalize=normalize,
                sq=self.data.sq_norm if sq_norm_X is None else float(sq_norm_X),
                callback=callback,
            )

    def _solve(
        self, W, H, *, graph, lam1, prev, alpha, nxt, beta, lam3, max_iter, tol, normalize, sq,
        callback,
    ) -> NMFResult:  # fmt: skip
        data = self.data
        shrink = alpha + beta + lam3
        pull = None
        if alpha or beta:
            pull = self.torch.zeros_like(W)
            if alpha:
                pull.add_(prev, alpha=alpha)
            if beta:
                pull.add_(nxt, alpha=beta)
        diag = lam1 * graph.degree if graph is not None else None

        def objective(XHt, HHt, AW) -> tuple[float, float]:
            cross = (W.double() * XHt.double()).sum()
            gram = ((W.T @ W).double() * HHt.double()).sum()
            recon = (sq - 2.0 * cross + gram).clamp(min=0.0)
            pen = _penalty(W, AW, graph, lam1, prev, alpha, nxt, beta, lam3)
            graph_part = 0.0
            if graph is not None:
                graph_part = _penalty(W, AW, graph, lam1, None, 0.0, None, 0.0, 0.0)
            both = self.torch.stack([recon + pen, recon + graph_part])
            current, fit = both.tolist()  # the one host synchronisation per iteration
            return current, fit

        if normalize == "start":
            _normalise_programs(H, W)
        XHt = data.matmul(H.T.contiguous())
        AW = graph.adjacency @ W if graph is not None else None
        current, fit = objective(XHt, H @ H.T, AW)
        losses = [current]
        converged = False
        n_iter = 0
        for n_iter in range(1, max_iter + 1):
            # Gene loadings (the paper's W_t): plain least-squares MU.
            WtW = W.T @ W
            grad_H = WtW @ H - data.matmul_t(W).T
            H = _lin_step(H, grad_H, WtW, left=True)
            # Cell factor (the paper's H_tᵀ): graph, coupling and anchoring terms.
            XHt = data.matmul(H.T.contiguous())
            HHt = H @ H.T
            grad_W = W @ HHt - XHt
            if shrink:
                grad_W.add_(W, alpha=shrink)
            if graph is not None:
                grad_W.add_(graph.degree * W - AW, alpha=lam1)
            if pull is not None:
                grad_W.sub_(pull)
            W = _lin_step(W, grad_W, HHt, left=False, shrink=shrink, diag=diag)
            if normalize == "iteration":
                norms = _normalise_programs(H, W)
                XHt.div_(norms[None, :])
                HHt = H @ H.T
            AW = graph.adjacency @ W if graph is not None else None
            previous = current
            current, fit = objective(XHt, HHt, AW)
            losses.append(current)
            if callback is not None:
                callback(n_iter, current)
            if tol > 0 and abs(previous - current) <= tol * abs(previous):
                converged = True
                break
        return NMFResult(
            W=_to_numpy(W, self.np_dtype),
            H=_to_numpy(H, self.np_dtype),
            loss=np.asarray(losses),
            n_iter=n_iter,
            converged=converged,
            extra={"fit": np.float64(fit)},
        )

    def objective(self, X, W_all, H_all, graphs, lam1, lam2, lam3, sq_norm_X) -> float:
        """The total pNMF objective on the device; signature of ``total_objective``."""
        self._check_shape(X)
        torch = self.torch
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        with torch.no_grad():
            previous = None
            for t in range(len(W_all)):
                W, H = self._tensor(W_all[t]), self._tensor(H_all[t])
                XHt = self.data.matmul(H.T.contiguous())
                cross = (W.double() * XHt.double()).sum()
                gram = ((W.T @ W).double() * (H @ H.T).double()).sum()
                total += (float(sq_norm_X) - 2.0 * cross + gram).clamp(min=0.0)
                graph = self.graphs.get(graphs[t]) if lam1 else None
                if graph is not None:
                    total += _penalty(W, graph.adjacency @ W, graph, lam1, None, 0, None, 0, 0)
                total += lam3 * (W.double() ** 2).sum()
                if previous is not None:
                    total += lam2 * ((W - previous).double() ** 2).sum()
                previous = W
        return float(total)


def torch_pnmf_backend(X, device: str = "auto") -> tuple[Callable[..., NMFResult], Callable]:
    """``(subproblem, objective)`` for :func:`scnmf._core.pnmf.pnmf`, with ``X`` on ``device``.

    ``X`` is copied to the device here, once; pass the same ``X`` to ``pnmf``.
    """
    solver = TorchGraphNMF(X, device)
    return solver.subproblem, solver.objective


def torch_graph_nmf(X, W: np.ndarray, H: np.ndarray, *, device: str = "auto", **kwargs):
    """:func:`scnmf._core.pnmf.graph_nmf` on a torch device (same keyword arguments).

    Returns
    -------
    NMFResult
        numpy factors in X's dtype, objective trace, ``n_iter``, ``converged``.
    """
    return TorchGraphNMF(X, device).subproblem(X, W, H, **kwargs)
