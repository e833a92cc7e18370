"""The layer-1 backend interface of deep β-NMF, and the in-memory factor it builds on.

In deep β-NMF only layer 1 touches the data (``X ≈ W_1 H_1``, genes × cells, large and
sparse); deeper layers factorise the small ``W_{ℓ−1}`` (genes × r_{ℓ−1}) on the host. A
*layer-1 backend* owns the data term of layer 1 **and** the cell factor ``H_1``
(r_1 × cells), so the cell-sized arrays stay where the data is (host memory, a torch
device, or the dask workers); only gene-sized arrays (``W_1``, the W-side terms,
genes × r_1) and r_1-vectors travel. Every backend implements

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
    ``D_β(X | W H_1)``; then replace ``H_1`` by the step ``kind`` of :func:`.hsteps.h_step`.
``w_terms(W)``
    The W-side ratios ``(C, D)`` (genes × r_1, float64 numpy).
``error(W)``, ``row_sums()``, ``scale_rows(s, divide)``, ``fetch()``, ``close()``
    ``D_β(X | W H_1)``; row sums of ``H_1``; ``H_1 ⊘ s`` or ``H_1 ⊙ s`` per row;
    ``H_1`` as a float64 numpy array; release the backend's memory.

:class:`ArrayFactor` implements the factor half for arrays of one namespace (numpy or
torch); ``HostLayer1`` (:mod:`.layers_host`) and ``TorchLayer1`` (:mod:`.layers_torch`) add
the data term and the engine, ``DaskLayer1`` (:mod:`.layers_dask`) runs the same steps block
by block. :func:`.backend.open_layer1` picks one.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .hsteps import ArrayRows, h_step


def data_mean(X) -> float:
    """Mean entry of a numpy or scipy.sparse matrix, summed in float64."""
    total = float(X.sum(dtype=np.float64)) if sp.issparse(X) else float(np.sum(X, dtype=np.float64))
    return total / (X.shape[0] * X.shape[1])


def engine_matrix(X):
    """``Xᵀ`` (cells × genes) for the engine, CSR when sparse.

    The transpose of the caller's CSR ``Xᵀ`` view is that CSR again, not a copy.
    """
    Xc = X.T
    return sp.csr_matrix(Xc) if sp.issparse(Xc) else Xc


def phase_reporter(callback, phase: str):
    """An engine callback ``(iteration, loss)`` forwarding to ``callback(phase, …)`` if given."""

    def report(iteration: int, loss: float) -> None:
        if callback is not None:
            callback(phase, iteration, loss)

    return report


def scale_rows(H, s, divide: bool):
    """``H ⊘ s`` (``divide=True``) or ``H ⊙ s``, one factor per row (``s`` in ``H``'s kind)."""
    return H / s[:, None] if divide else H * s[:, None]


class ArrayFactor:
    """An ``H`` factor held as one array of an :mod:`.xp` namespace, with its H-steps.

    Subclasses provide ``self.terms`` with ``h_terms(W, H) -> (C, D, error)`` (``C``, ``D``
    arrays of the namespace), ``w_terms(W, H) -> (C, D)`` (host numpy) and
    ``error(W, H)``.

    Parameters
    ----------
    xp
        Array namespace (:data:`.xp.NUMPY` or a :class:`.xp.TorchOps`).
    beta
        β of the divergence.
    H
        The factor, if known now.
    """

    def __init__(self, xp, beta: float, H=None):
        self.xp = xp
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
        self.H = h_step(ArrayRows(self.xp, self.H, C, D, self.beta), kind, self.beta)

    def w_terms(self, W: np.ndarray):
        """(C, D) for the update of ``W`` at ``(W, H)``."""
        return self.terms.w_terms(W, self.H)

    def error(self, W: np.ndarray) -> float:
        """The layer's unweighted error at ``(W, H)``."""
        return self.terms.error(W, self.H)

    def row_sums(self) -> np.ndarray:
        """Row sums of ``H``."""
        return self.xp.to_numpy(self.xp.row_sum(self.H))

    def scale_rows(self, s: np.ndarray, divide: bool) -> None:
        """``H ← H ⊘ s`` (``divide=True``) or ``H ⊙ s``, one factor per row."""
        self.H = scale_rows(self.H, self.xp.vector(s), divide)

    def fetch(self) -> np.ndarray:
        """``H`` as float64 numpy.

        On the host this is the array itself: later steps replace it, never modify it.
        """
        return self.xp.to_numpy(self.H)

    def close(self) -> None:
        """Drop the factor and the cached ratios."""
        self.H = self._pending = None


class InMemoryLayer1(ArrayFactor):
    """What the host and torch layer-1 backends share: ``X``'s shape, dtype and mean.

    Parameters
    ----------
    xp
        Array namespace of ``H_1``.
    X
        Nonnegative data, genes × cells, numpy or scipy.sparse (float32 or float64).
    beta
        β of the divergence.
    """

    def __init__(self, xp, X, beta: float):
        super().__init__(xp, float(beta))
        self.shape = X.shape
        self.dtype = X.dtype
        self._mean = data_mean(X)

    def mean(self) -> float:
        """Mean entry of ``X``."""
        return self._mean
