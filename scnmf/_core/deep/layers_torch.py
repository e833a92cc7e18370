"""Layer 1 of deep β-NMF on a torch device (GPU, or torch's CPU backend).

``X`` (genes × cells) goes to the device once per fit as the engine's cells × genes matrix
(:class:`scnmf._core._backends.torch.TorchData`: CSR of ``Xᵀ`` and ``X`` plus the value
permutation when sparse), and the layer-1 terms are the engine's torch MU terms
(:mod:`scnmf._core.nmf.ops_torch`): for β = 1 and sparse data ``W H`` is evaluated only at
the nonzeros with ``torch.sparse.sampled_addmm``, β = 2 uses sparse × dense products,
β = 3/2 densifies bounded row blocks on the device. No format conversion happens per
iteration.

The cell factor ``H_1`` (r_1 × cells, float64) and the engine state of the multilayer
initialisation stay on the device, and the H-steps of :mod:`.hsteps` run there on the
:class:`.xp.TorchOps` namespace. Only gene-sized arrays travel per sweep: ``W_1`` up, the
W-side ratios (genes × r_1) down; the ``W_1`` updates (Wright omega, ADMM) and all deeper
layers run in numpy on the host.

Arithmetic follows :class:`.layers_host.HostLayer1`: ratios are evaluated in the data's
dtype (float32 data: float32, as the numba kernels do), updates in float64. Sparse products
on a GPU use atomic additions, so repeated GPU runs can differ in the last bits.
"""

from __future__ import annotations

import numpy as np

from .._backends.torch import TorchData
from .engine import make_torch_ops, mu_loop
from .factor import InMemoryLayer1, engine_matrix, phase_reporter
from .xp import NUMPY, TorchOps


def _f64(t):
    """float64 copy of a tensor, keeping a broadcast (zero-stride) axis cheap."""
    import torch

    if t.dim() == 2 and t.stride(0) == 0:
        return t[:1].to(torch.float64).expand(t.shape)
    if t.dim() == 2 and t.stride(1) == 0:
        return t[:, :1].to(torch.float64).expand(t.shape)
    return t.to(torch.float64)


class TorchTerms:
    """Layer-1 β-MU terms on the device (``H`` a float64 tensor, ``W`` host numpy)."""

    def __init__(self, data: TorchData, beta: float, xp: TorchOps):
        self.data = data
        self.ops = make_torch_ops(data, beta)
        self.xp = xp
        self.torch = xp.torch

    def _engine_pair(self, W: np.ndarray, H):
        """``(Hᵀ, Wᵀ)`` in the data dtype: the engine's (cells × r, r × genes)."""
        A = H.T.to(self.data.dtype).contiguous()
        B = self.torch.as_tensor(
            np.ascontiguousarray(W.T), dtype=self.data.dtype, device=self.data.device
        )
        return A, B

    def h_terms(self, W: np.ndarray, H):
        """(C, D, error at (W, H)) for the update of ``H``; ``C``, ``D`` stay on the device."""
        with self.torch.no_grad():
            num, den, loss = self.ops.w_terms(*self._engine_pair(W, H))
            return _f64(num.T), _f64(den.T), float(loss)

    def w_terms(self, W: np.ndarray, H):
        """(C, D) for the update of ``W``: genes × r float64 numpy arrays."""
        with self.torch.no_grad():
            num, den = self.ops.h_terms(*self._engine_pair(W, H))
            return self.xp.to_numpy(num).T, self.xp.to_numpy(den).T

    def error(self, W: np.ndarray, H) -> float:
        """D_β(X | WH)."""
        with self.torch.no_grad():
            return float(self.ops.w_terms(*self._engine_pair(W, H))[2])


class TorchLayer1(InMemoryLayer1):
    """Layer 1 of deep β-NMF on a torch device (interface of :mod:`.factor`).

    Parameters
    ----------
    X
        Nonnegative data, genes × cells, numpy or scipy.sparse (float32 or float64).
    beta
        β of the divergence.
    device
        A resolved torch device name (``'cpu'``, ``'cuda'``, ``'cuda:1'``).
    """

    def __init__(self, X, beta: float, device: str):
        super().__init__(TorchOps(device), X, beta)
        self.torch = self.xp.torch
        self.device = device
        self.data = TorchData(engine_matrix(X), device)
        self.terms = TorchTerms(self.data, self.beta, self.xp)
        self._A = self._B = None

    def start_engine(self, A: np.ndarray, B: np.ndarray) -> None:
        """Engine state ``(A, B)`` (cells × r, r × genes) to the device."""
        self._A, self._B = (
            self.torch.as_tensor(np.ascontiguousarray(a), dtype=self.data.dtype, device=self.device)
            for a in (A, B)
        )

    def run_engine(self, n_iter: int, callback, phase: str) -> None:
        """``n_iter`` β-MU iterations of the engine on the device (no early stop)."""
        if n_iter == 0:
            return
        report = phase_reporter(callback, phase)
        ops = self.terms.ops
        with ops.context():
            mu_loop(
                ops, self._A, self._B, beta=self.beta, max_iter=n_iter, tol=0.0, callback=report
            )

    def engine_programs(self) -> np.ndarray:
        """``W_1 = max(Bᵀ, ε)``, float64 numpy, genes × r."""
        return NUMPY.engine_factor(self.xp.to_numpy(self._B))

    def activities_from_engine(self) -> None:
        """``H_1 = max(Aᵀ, ε)``, float64, on the device."""
        self.H = self.xp.engine_factor(self._A)

    def close(self) -> None:
        """Drop the device tensors (the data, the factors and cached ratios)."""
        super().close()
        self.data = self.terms = self._A = self._B = None
        if str(self.device).startswith("cuda"):
            self.torch.cuda.empty_cache()
