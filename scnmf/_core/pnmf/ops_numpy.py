"""In-memory ops of the graph-regularised NMF subproblem: numpy/scipy with numba kernels.

Orientation: ``X`` n × m (cells × genes) ≈ ``W`` (n × k) ``H`` (k × m). Products with X
and the graph run in the parallel sparse kernels of :mod:`scnmf._core._backends._sparse`;
the cell-factor step and the objective sums are the fused row kernels of :mod:`._kernels`
(one pass over the rows instead of a dozen n × k temporaries). Factors stay in X's dtype
(float32 unless X is float64); sums are float64.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._backends._sparse import spmm, spmm_t
from ..graph.laplacian import degrees
from ..nmf.ops_numpy import NumpyOps
from ._kernels import cell_step, cell_sums, empty_like_rows
from .gnmf import SIGMA, Weights


def lin_step(
    F: np.ndarray,
    grad: np.ndarray,
    gram: np.ndarray,
    *,
    left: bool,
    shrink: float = 0.0,
    diag: np.ndarray | None = None,
) -> np.ndarray:
    """F − F̃ ⊘ (denominator(F̃) + σ) ∘ ∇, F̃ = F where ∇ ≥ 0 else max(F, σ) (Lin 2007).

    The denominator is ``gram @ F̃`` (``left``) or ``F̃ @ gram``, plus ``shrink·F̃`` and
    ``diag ∘ F̃``. Where the gradient is nonnegative this is the usual multiplicative rule;
    elsewhere the floor lets zero entries grow again.
    """
    F_safe = np.where(grad >= 0, F, np.maximum(F, SIGMA))
    denom = gram @ F_safe if left else F_safe @ gram
    if shrink:
        denom += shrink * F_safe
    if diag is not None:
        denom += diag * F_safe
    return F - F_safe / (denom + SIGMA) * grad


def normalise_programs(H: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Rows of ``H`` to unit L2 norm, ``W``'s columns times the norms (in place)."""
    norms = np.linalg.norm(H, axis=1)
    norms[norms == 0] = 1.0
    H /= norms[:, None]
    W *= norms[None, :]
    return norms


class NumpyGraphOps(NumpyOps):
    """``X`` in memory (dense or CSR, never densified) for :func:`.gnmf.graph_nmf`.

    Parameters
    ----------
    X
        n × m nonnegative data (cells × genes).
    """

    def __init__(self, X):
        super().__init__(X)
        self.dtype = np.float64 if X.dtype == np.float64 else np.float32

    def subproblem(self, A, weights: Weights, prev, nxt) -> NumpySubproblem:
        return NumpySubproblem(self, A, weights, prev, nxt)

    def scale_sums(self, W, H, A, W_prev) -> list[float]:
        XHt = spmm(self.X, H.T)
        cross = float(np.sum(W * XHt, dtype=np.float64))
        gram = float(np.sum((W.T @ W).astype(np.float64) * (H @ H.T)))
        deg_sq = adj = 0.0
        if A is not None:
            sq_rows = np.einsum("ij,ij->i", W, W, dtype=np.float64)
            deg_sq = float(degrees(A) @ sq_rows)
            adj = float(np.sum(W * (A @ W), dtype=np.float64))
        sq = float(np.sum(W.astype(np.float64) ** 2))
        d_prev = 0.0
        if W_prev is not None:
            d_prev = float(np.sum((W - W_prev).astype(np.float64) ** 2))
        return [cross, gram, deg_sq, adj, sq, d_prev]


class NumpySubproblem:
    """One subproblem's graph, coupling pull and anchor on the CPU (see :class:`.SubproblemOps`)."""

    def __init__(self, ops: NumpyGraphOps, A, weights: Weights, prev, nxt):
        self.X = ops.X
        self.dtype = dtype = ops.dtype
        self.weights = weights
        lam1, alpha, beta, lam3 = weights
        self.shrink = alpha + beta + lam3
        self.none = empty_like_rows(dtype)
        self.prev_rows = np.ascontiguousarray(prev, dtype=dtype) if alpha else self.none
        self.next_rows = np.ascontiguousarray(nxt, dtype=dtype) if beta else self.none
        self._prev, self._next = prev, nxt
        self.A = None
        self.deg = np.zeros(0)
        if A is not None:
            # The adjacency in the factor's precision, so the product runs in the numba kernel.
            csr = sp.csr_matrix(A)
            self.A, self.deg = csr.astype(dtype), degrees(csr)
        self.pull = self.none
        self._spare: np.ndarray | None = None

    def factors(self, W, H):
        W = np.array(W, dtype=self.dtype)
        H = np.array(H, dtype=self.dtype)
        _, alpha, beta, _ = self.weights
        if alpha or beta:
            self.pull = np.zeros_like(W)
            if alpha:
                self.pull += alpha * self._prev
            if beta:
                self.pull += beta * self._next
        return W, H

    def x_ht(self, H):
        return spmm(self.X, H.T)

    def xt_w(self, W):
        return spmm_t(self.X, W)

    def graph_product(self, W):
        return spmm(self.A, W) if self.A is not None else self.none

    def h_step(self, H, grad, WtW):
        return lin_step(H, grad, WtW, left=True)

    def w_step(self, W, XHt, HHt, AW):
        # Two buffers alternate: the step reads W while writing the other.
        out = self._spare if self._spare is not None else np.empty_like(W)
        cell_step(W, XHt, HHt, AW, self.deg, self.pull, self.weights.lam1, self.shrink, SIGMA, out)
        self._spare = W
        return out

    def normalise(self, H, W):
        return normalise_programs(H, W)

    def sums(self, W, WtW, XHt, HHt, AW) -> list[float]:
        cross, sq, deg_sq, adj, d_prev, d_next = cell_sums(
            W, XHt, AW, self.deg, self.prev_rows, self.next_rows
        )
        gram = float(np.sum(WtW.astype(np.float64) * HHt))
        return [cross, gram, sq, deg_sq, adj, d_prev, d_next]

    def to_host(self, F) -> np.ndarray:
        return F
