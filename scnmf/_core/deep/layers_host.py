"""Layer 1 of deep β-NMF behind one small interface: numpy/numba, torch or dask.

In deep β-NMF only layer 1 touches the data (``X ≈ W_1 H_1``, genes × cells, large and
sparse); deeper layers factorise the small ``W_{ℓ−1}`` (genes × r_{ℓ−1}) on the host. A
*layer-1 backend* owns the data term of layer 1 **and** the cell factor ``H_1``
(r_1 × cells), so the cell-sized arrays stay where the data is (host memory, the GPU, or
the dask workers); only gene-sized arrays (``W_1``, the W-side terms, genes × r_1) and
r_1-vectors travel. Every backend implements

``shape``, ``dtype``
    ``(n_genes, n_cells)`` of ``X`` and the floating dtype of the data.
``mean()``
    Mean entry of ``X`` (scale of the random start).
``start_engine(A, B)``, ``run_engine(n_iter, callback, phase)``
    Plain β-MU of the multilayer initialisation in the engine's cells × genes orientation
    (``Xᵀ ≈ A B``: ``A`` cells × r, ``B`` r × genes, data dtype). The engine state is kept
    apart from ``H_1``, so the multilayer baseline can continue it later.
``engine_programs()``, ``activities_from_engine()``
    ``W_1 = max(Bᵀ, ε)`` as a float64 numpy array; set ``H_1 = max(Aᵀ, ε)`` (float64).
``h_terms(W)``, ``h_update(kind)``
    Evaluate the β-MU ratios of ``H_1`` at ``(W, H_1)`` (kept on the backend) and return
    ``D_β(X | W H_1)``; then replace ``H_1`` by the MU step (``'mu'``) or the exact step
    under ``H_1 e = e`` (``'simplex'``) computed from those ratios.
``w_terms(W)``
    The W-side ratios ``(C, D)`` (genes × r_1, float64 numpy).
``error(W)``, ``row_sums()``, ``scale_rows(s, divide)``, ``fetch()``, ``close()``
    ``D_β(X | W H_1)``; row sums of ``H_1``; ``H_1 ⊘ s`` or ``H_1 ⊙ s`` per row;
    ``H_1`` as a float64 numpy array; release the backend's memory.

:class:`HostLayer1` (this module) is the numpy/numba implementation; ``TorchLayer1``
(:mod:`.torch_deep`) and ``DaskLayer1`` (:mod:`.dask_deep`) follow the same arithmetic.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._backends.dask import is_dask
from ..nmf.beta import beta_divergence
from ..nmf.mu import mu as mu_solver
from ..nmf.ops_numpy import make_ops
from .updates import FLOOR, mu_step, row_simplex_step

#: The two kinds of H-step: plain MU, or the exact step under ``H e = e``.
H_STEPS: tuple[str, ...] = ("mu", "simplex")


def data_mean(X) -> float:
    """Mean entry of a numpy or scipy.sparse matrix, summed in float64."""
    total = float(X.sum(dtype=np.float64)) if sp.issparse(X) else float(np.sum(X, dtype=np.float64))
    return total / (X.shape[0] * X.shape[1])


def as_f64(a) -> np.ndarray:
    """``a`` as float64 (no copy when it already is)."""
    return np.asarray(a, dtype=np.float64)


def as_f64_den(a) -> np.ndarray:
    """A denominator as float64, keeping a broadcast row a cheap view."""
    a = np.asarray(a)
    if a.ndim == 2 and a.strides[0] == 0:
        return np.broadcast_to(a[0].astype(np.float64), a.shape)
    return np.asarray(a, dtype=np.float64)


def phase_reporter(callback, phase: str):
    """An engine callback ``(iteration, loss)`` forwarding to ``callback(phase, …)`` if given."""

    def report(iteration: int, loss: float) -> None:
        if callback is not None:
            callback(phase, iteration, loss)

    return report


class DataTerms:
    """Layer-1 β-MU terms: ``X`` genes × cells, evaluated by the engine on ``X.T``.

    The engine factorises ``Xc ≈ A B`` with ``A = H_1ᵀ`` (cells × r) and ``B = W_1ᵀ``; its
    "W-side" terms are our H-side terms transposed, and vice versa.
    """

    def __init__(self, X, beta: float):
        Xc = X.T
        if sp.issparse(Xc):
            Xc = sp.csr_matrix(Xc)
        self.Xc = Xc
        self.beta = beta
        self.ops = make_ops(Xc, beta)

    def h_terms(self, W: np.ndarray, H: np.ndarray):
        """(C, D, error at (W, H)) for the update of ``H``."""
        num, den, loss = self.ops.w_terms(H.T, W.T)
        return as_f64(num).T, as_f64_den(den).T, float(loss)

    def w_terms(self, W: np.ndarray, H: np.ndarray):
        """(C, D) for the update of ``W``."""
        num, den = self.ops.h_terms(H.T, W.T)
        return as_f64(num).T, as_f64_den(den).T

    def error(self, W: np.ndarray, H: np.ndarray) -> float:
        """D_β(X | WH)."""
        return float(beta_divergence(self.Xc, H.T, W.T, self.beta))


class HostFactor:
    """An ``H`` factor held as a float64 numpy array, with the H-steps of deep β-NMF.

    Subclasses provide ``self.terms`` with ``h_terms(W, H)``, ``w_terms(W, H)`` and
    ``error(W, H)``.
    """

    def __init__(self, beta: float, H: np.ndarray | None = None):
        self.beta = beta
        self.H = H
        self._pending = None

    def h_terms(self, W: np.ndarray) -> float:
        """Evaluate (and keep) the H-step ratios at ``(W, H)``; returns the layer's error."""
        C, D, err = self.terms.h_terms(W, self.H)
        self._pending = (C, D)
        return err

    def h_update(self, kind: str) -> None:
        """Apply the H-step (``'mu'`` or ``'simplex'``) from the ratios of :meth:`h_terms`."""
        C, D = self._pending
        self._pending = None
        if kind == "mu":
            self.H = mu_step(self.H, C, D)
        else:
            self.H = row_simplex_step(self.H, C, D, self.beta)

    def w_terms(self, W: np.ndarray):
        """(C, D) for the update of ``W`` at ``(W, H)``."""
        return self.terms.w_terms(W, self.H)

    def error(self, W: np.ndarray) -> float:
        """The layer's unweighted error at ``(W, H)``."""
        return self.terms.error(W, self.H)

    def row_sums(self) -> np.ndarray:
        """Row sums of ``H``."""
        return self.H.sum(axis=1)

    def scale_rows(self, s: np.ndarray, divide: bool) -> None:
        """``H ← H ⊘ s`` (``divide=True``) or ``H ⊙ s``, one factor per row."""
        self.H = self.H / s[:, None] if divide else self.H * s[:, None]

    def fetch(self) -> np.ndarray:
        """``H`` (the array itself, not a copy; later steps replace it, never modify it)."""
        return self.H

    def close(self) -> None:
        """Nothing to release on the host."""


class HostLayer1(HostFactor):
    """Layer 1 in host memory: numpy/scipy data, the numba engine's sparse kernels."""

    def __init__(self, X, beta: float):
        super().__init__(beta)
        self.shape = X.shape
        self.dtype = X.dtype
        self._mean = data_mean(X)
        self.terms = DataTerms(X, beta)
        self._engine: tuple[np.ndarray, np.ndarray] | None = None

    def mean(self) -> float:
        """Mean entry of ``X``."""
        return self._mean

    def start_engine(self, A: np.ndarray, B: np.ndarray) -> None:
        """Engine state ``(A, B)``: cells × r and r × genes, in the data dtype."""
        self._engine = (A, B)

    def run_engine(self, n_iter: int, callback, phase: str) -> None:
        """``n_iter`` β-MU iterations of the engine on ``X.T`` (no early stop)."""
        if n_iter == 0:
            return

        report = phase_reporter(callback, phase)
        A, B = self._engine
        res = mu_solver(
            self.terms.Xc, A, B, beta=self.beta, max_iter=n_iter, tol=0.0, callback=report
        )
        self._engine = (res.W, res.H)

    def engine_programs(self) -> np.ndarray:
        """``W_1 = max(Bᵀ, ε)``, float64, genes × r."""
        return np.maximum(np.asarray(self._engine[1], dtype=np.float64).T, FLOOR)

    def activities_from_engine(self) -> None:
        """``H_1 = max(Aᵀ, ε)``, float64, r × cells."""
        self.H = np.maximum(np.asarray(self._engine[0], dtype=np.float64).T, FLOOR)


def make_layer1(X, beta: float, device: str | None = None):
    """The layer-1 backend for ``X`` (genes × cells).

    Parameters
    ----------
    X
        Nonnegative data, genes × cells: numpy, scipy.sparse, or a dask array whose cells
        are chunked and genes held in one chunk (i.e. ``X.T`` is row-chunked).
    beta
        β of the divergence.
    device
        ``None``: numpy/numba in host memory (dask arrays always use the dask backend);
        a torch device name (``'cpu'``, ``'cuda'``, ``'cuda:1'``): torch on that device.

    Returns
    -------
    HostLayer1, TorchLayer1 or DaskLayer1
    """
    if is_dask(X):
        from .layers_dask import DaskLayer1

        return DaskLayer1(X, beta)
    if device is not None:
        from .layers_torch import TorchLayer1

        return TorchLayer1(X, beta, device)
    return HostLayer1(X, beta)
