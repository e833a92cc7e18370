"""Layer 1 of deep β-NMF in host memory: numpy/scipy data and the numba engine.

The data term is the engine's β-MU terms (``make_ops`` of :mod:`.engine`) evaluated on
``Xᵀ`` (cells × genes, the engine's orientation; sparse stays sparse), the multilayer
initialisation runs the engine's in-memory MU (``mu``), and the factor half (H-steps, row
sums, scaling) is :class:`.factor.ArrayFactor` on numpy. The interface is documented in
:mod:`.factor`; :class:`DataTerms` is also what every dask block evaluates.
"""

from __future__ import annotations

import numpy as np

from .engine import beta_divergence, make_ops, mu
from .factor import InMemoryLayer1, engine_matrix, phase_reporter
from .xp import NUMPY


def as_f64(a) -> np.ndarray:
    """``a`` as float64 (no copy when it already is)."""
    return np.asarray(a, dtype=np.float64)


def as_f64_den(a) -> np.ndarray:
    """A denominator as float64, keeping a broadcast row a cheap view."""
    a = np.asarray(a)
    if a.ndim == 2 and a.strides[0] == 0:
        return np.broadcast_to(a[0].astype(np.float64), a.shape)
    return np.asarray(a, dtype=np.float64)


class DataTerms:
    """Layer-1 β-MU terms of ``X`` (genes × cells), evaluated by the engine on ``Xc = Xᵀ``.

    The engine factorises ``Xc ≈ A B`` with ``A = H_1ᵀ`` (cells × r) and ``B = W_1ᵀ``; its
    "W-side" terms are our H-side terms transposed, and vice versa. A dask block (cells ×
    genes) is such an ``Xc``.
    """

    def __init__(self, Xc, beta: float):
        self.Xc = Xc
        self.beta = beta
        self._ops = None

    @property
    def ops(self):
        """The engine's terms for ``Xc`` (built on first use: :meth:`error` needs none)."""
        if self._ops is None:
            self._ops = make_ops(self.Xc, self.beta)
        return self._ops

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


class HostLayer1(InMemoryLayer1):
    """Layer 1 in host memory: numpy/scipy data, the numba engine's sparse kernels.

    Parameters
    ----------
    X
        Nonnegative data, genes × cells, numpy or scipy.sparse (float32 or float64).
    beta
        β of the divergence.
    """

    def __init__(self, X, beta: float):
        super().__init__(NUMPY, X, beta)
        self.terms = DataTerms(engine_matrix(X), self.beta)
        self._engine: tuple[np.ndarray, np.ndarray] | None = None

    def start_engine(self, A: np.ndarray, B: np.ndarray) -> None:
        """Engine state ``(A, B)``: cells × r and r × genes, in the data dtype."""
        self._engine = (A, B)

    def run_engine(self, n_iter: int, callback, phase: str) -> None:
        """``n_iter`` β-MU iterations of the engine on ``X.T`` (no early stop)."""
        if n_iter == 0:
            return

        report = phase_reporter(callback, phase)
        A, B = self._engine
        res = mu(self.terms.Xc, A, B, beta=self.beta, max_iter=n_iter, tol=0.0, callback=report)
        self._engine = (res.W, res.H)

    def engine_programs(self) -> np.ndarray:
        """``W_1 = max(Bᵀ, ε)``, float64, genes × r."""
        return NUMPY.engine_factor(self._engine[1])

    def activities_from_engine(self) -> None:
        """``H_1 = max(Aᵀ, ε)``, float64, r × cells."""
        self.H = NUMPY.engine_factor(self._engine[0])
