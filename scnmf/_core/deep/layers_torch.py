"""Layer 1 of deep β-NMF on a torch device (GPU, or torch's CPU backend).

``X`` (genes × cells) goes to the device once per fit as the engine's cells × genes matrix
(:class:`._TorchData`: CSR of ``Xᵀ`` and ``X`` plus the value permutation when sparse), and
the layer-1 terms are the torch MU terms of :mod:`.torch_backend`: for β = 1 and sparse
data ``W H`` is evaluated only at the nonzeros with ``torch.sparse.sampled_addmm``, β = 2
uses sparse × dense products, β = 3/2 densifies bounded row blocks on the device. No format
conversion happens per iteration.

The cell factor ``H_1`` (r_1 × cells, float64) and the engine state of the multilayer
initialisation stay on the device, and the H-steps (plain MU, or the exact step under
``H_1 e = e`` with its Newton multipliers) run there. Only gene-sized arrays travel per
sweep: ``W_1`` up, the W-side ratios (genes × r_1) down; the ``W_1`` updates (Wright omega,
ADMM) and all deeper layers run in numpy on the host.

Arithmetic follows :class:`.deep_backends.HostLayer1`: ratios are evaluated in the data's
dtype (float32 data: float32, as the numba kernels do), updates in float64. Sparse products
on a GPU use atomic additions, so repeated GPU runs can differ in the last bits.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._backends.torch import _TorchData, resolve_device
from ..nmf.ops_torch import _torch_apply, _TorchBlockedOps, _TorchFrobeniusOps, _TorchSparseKLOps
from .layers_host import data_mean, phase_reporter
from .updates import FLOOR

_TINY = float(np.finfo(np.float64).tiny)


def _f64(t):
    """float64 copy of a tensor, keeping a broadcast (zero-stride) axis cheap."""
    import torch

    if t.dim() == 2 and t.stride(0) == 0:
        return t[:1].to(torch.float64).expand(t.shape)
    if t.dim() == 2 and t.stride(1) == 0:
        return t[:, :1].to(torch.float64).expand(t.shape)
    return t.to(torch.float64)


def _numpy(t) -> np.ndarray:
    return np.array(t.detach().cpu().numpy(), dtype=np.float64)


# --------------------------------------------------------------------------------------
# H-steps on the device (torch ports of deep_updates.mu_step / row_simplex_step)
# --------------------------------------------------------------------------------------
def mu_step_t(F, C, D):
    """``max(ε, F ⊙ C ⊘ D)`` (:func:`scnmf._core.deep_updates.mu_step`)."""
    return (F * (C / D.clamp(min=_TINY))).clamp_(min=FLOOR)


def _ratio_t(C, D, mu, beta: float):
    """Torch port of :func:`scnmf._core.deep_updates._ratio`."""
    import torch

    mu = mu[:, None]
    if beta == 1:
        gap = D - mu
        r = C / gap
        return r, r / gap
    if beta == 2:
        t = C + mu
        active = t > 0
        zero = torch.zeros((), dtype=C.dtype, device=C.device)
        return torch.where(active, t / D, zero), torch.where(active, 1.0 / D, zero)
    R = torch.sqrt(mu * mu + 4.0 * D * C)
    s = torch.where(mu >= 0, (mu + R) / (2.0 * D), 2.0 * C / (R - mu).clamp(min=_TINY))
    r = s * s
    return r, 2.0 * r / R.clamp(min=_TINY)


def _newton_start_t(C, D, H, beta: float):
    """Torch port of :func:`scnmf._core.deep_updates._newton_start`."""
    import torch

    if beta == 1:
        j = torch.argmin(D, dim=1)
        rows = torch.arange(D.shape[0], device=D.device)
        return D[rows, j] - C[rows, j] * H[rows, j]
    if beta == 2:
        return torch.amin(D / H - C, dim=1)
    sqrt_h = torch.sqrt(H)
    return torch.amin(D / sqrt_h - C * sqrt_h, dim=1)


def row_multipliers_t(H, C, D, beta: float, *, tol: float = 1e-12, max_iter: int = 100):
    """Torch port of :func:`scnmf._core.deep_updates.row_multipliers` (same Newton)."""
    import torch

    D = D.expand(C.shape)
    mu = _newton_start_t(C, D, H, beta)
    active = torch.ones(mu.shape, dtype=torch.bool, device=mu.device)
    for _ in range(max_iter):
        idx = torch.nonzero(active).flatten()
        if idx.numel() == 0:
            break
        r, dr = _ratio_t(C[idx], D[idx], mu[idx], beta)
        f = (H[idx] * r).sum(dim=1) - 1.0
        df = (H[idx] * dr).sum(dim=1)
        positive = df > 0
        step = torch.where(positive, f / torch.where(positive, df, torch.ones_like(df)), 0.0)
        mu[idx] -= step
        done = step.abs() <= tol * mu[idx].abs().clamp(min=1.0)
        active[idx[done]] = False
    return mu


def row_simplex_step_t(H, C, D, beta: float, closed_form: bool):
    """Torch port of :func:`scnmf._core.deep_updates.row_simplex_step`.

    ``closed_form`` must be given (β = 1 with ``D`` constant along rows, always the case
    for layer 1's KL terms).
    """
    if closed_form:
        new = H * C
    else:
        mu = row_multipliers_t(H, C, D, beta)
        new = H * _ratio_t(C, D.expand(C.shape), mu, beta)[0]
    new.clamp_(min=FLOOR)
    new /= new.sum(dim=1, keepdim=True)
    return new


# --------------------------------------------------------------------------------------
# The layer-1 backend
# --------------------------------------------------------------------------------------
class TorchLayer1:
    """Layer 1 of deep β-NMF on a torch device (interface of :mod:`.deep_backends`).

    Parameters
    ----------
    X
        Nonnegative data, genes × cells, numpy or scipy.sparse (float32 or float64).
    beta
        β of the divergence.
    device
        Torch device name (``'cpu'``, ``'cuda'``, ``'cuda:1'``; ``'auto'`` is resolved).
    """

    def __init__(self, X, beta: float, device: str):
        import torch

        self.torch = torch
        self.beta = float(beta)
        self.shape = X.shape
        self.dtype = X.dtype
        self._mean = data_mean(X)
        Xc = X.T
        if sp.issparse(Xc):
            Xc = sp.csr_matrix(Xc)
        self.device = resolve_device(device)
        self.data = _TorchData(Xc, self.device)
        if self.beta == 2:
            self.ops = _TorchFrobeniusOps(self.data)
        elif self.beta == 1 and self.data.sparse:
            self.ops = _TorchSparseKLOps(self.data)
        else:
            self.ops = _TorchBlockedOps(self.data, self.beta)
        self._A = self._B = None
        self.H = None
        self._pending = None

    # -- helpers -------------------------------------------------------------------------
    def _tensor(self, a, dtype=None):
        return self.torch.as_tensor(
            np.ascontiguousarray(a), dtype=dtype or self.data.dtype, device=self.device
        )

    def _engine_pair(self, W: np.ndarray):
        """``(H_1ᵀ, W_1ᵀ)`` in the data dtype: the engine's (cells × r, r × genes)."""
        A = self.H.T.to(self.data.dtype).contiguous()
        return A, self._tensor(W.T)

    # -- interface -----------------------------------------------------------------------
    def mean(self) -> float:
        """Mean entry of ``X``."""
        return self._mean

    def start_engine(self, A: np.ndarray, B: np.ndarray) -> None:
        """Engine state ``(A, B)`` (cells × r, r × genes) to the device."""
        self._A, self._B = self._tensor(A), self._tensor(B)

    def run_engine(self, n_iter: int, callback, phase: str) -> None:
        """``n_iter`` β-MU iterations of the engine on the device (no early stop)."""
        from ..nmf.mu import mu_loop

        if n_iter == 0:
            return

        report = phase_reporter(callback, phase)
        with self.torch.no_grad():
            mu_loop(
                self.ops,
                self._A,
                self._B,
                beta=self.beta,
                max_iter=n_iter,
                tol=0.0,
                callback=report,
                apply=_torch_apply,
            )

    def engine_programs(self) -> np.ndarray:
        """``W_1 = max(Bᵀ, ε)``, float64 numpy, genes × r."""
        return np.maximum(_numpy(self._B).T, FLOOR)

    def activities_from_engine(self) -> None:
        """``H_1 = max(Aᵀ, ε)``, float64, on the device."""
        self.H = self._A.T.to(self.torch.float64).clamp(min=FLOOR).contiguous()

    def h_terms(self, W: np.ndarray) -> float:
        """Evaluate (and keep on the device) the H-step ratios; returns D_β(X | W H_1)."""
        with self.torch.no_grad():
            num, den, loss = self.ops.w_terms(*self._engine_pair(W))
            self._pending = (_f64(num.T), _f64(den.T))
        return float(loss)

    def h_update(self, kind: str) -> None:
        """The H-step (``'mu'`` or ``'simplex'``) on the device."""
        C, D = self._pending
        self._pending = None
        with self.torch.no_grad():
            if kind == "mu":
                self.H = mu_step_t(self.H, C, D)
            else:
                self.H = row_simplex_step_t(self.H, C, D, self.beta, closed_form=self.beta == 1)

    def w_terms(self, W: np.ndarray):
        """(C, D) for the update of ``W_1``: genes × r float64 numpy arrays."""
        with self.torch.no_grad():
            num, den = self.ops.h_terms(*self._engine_pair(W))
            return _numpy(num).T, _numpy(den).T

    def error(self, W: np.ndarray) -> float:
        """D_β(X | W H_1)."""
        with self.torch.no_grad():
            return float(self.ops.w_terms(*self._engine_pair(W))[2])

    def row_sums(self) -> np.ndarray:
        """Row sums of ``H_1``."""
        return _numpy(self.H.sum(dim=1))

    def scale_rows(self, s: np.ndarray, divide: bool) -> None:
        """``H_1 ← H_1 ⊘ s`` or ``H_1 ⊙ s`` per row."""
        factor = self._tensor(s, self.torch.float64)[:, None]
        self.H = self.H / factor if divide else self.H * factor

    def fetch(self) -> np.ndarray:
        """``H_1`` as a float64 numpy array (r × cells)."""
        return _numpy(self.H)

    def close(self) -> None:
        """Drop the device tensors (the data, the factors and cached ratios)."""
        self.data = self.ops = self._A = self._B = self.H = self._pending = None
        if str(self.device).startswith("cuda"):
            self.torch.cuda.empty_cache()
