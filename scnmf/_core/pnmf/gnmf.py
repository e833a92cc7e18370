"""Graph-regularised NMF subproblem (GNMF; one scale of pNMF) solved by Lin's projected steps."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from .._backends._sparse import spmm, spmm_t
from ..graph.laplacian import degrees
from ..nmf.beta import squared_norm
from ..nmf.result import NMFResult
from ._kernels import cell_step, cell_sums, empty_like_rows

#: Floors of Lin's (2007) modified multiplicative updates (σ and δ of the reference code).
SIGMA = 1e-9


def _graph_terms(A: sp.spmatrix | None, n: int) -> tuple[sp.csr_matrix | None, np.ndarray]:
    if A is None or A.nnz == 0:
        return None, np.zeros(n)
    return sp.csr_matrix(A), degrees(A)


def _penalty(W, AW, deg, lam1, prev, alpha, nxt, beta, lam3) -> float:
    """λ1 tr(WᵀLW) + α‖W−W_prev‖² + β‖W−W_next‖² + λ3‖W‖² (float64)."""
    sq_rows = np.einsum("ij,ij->i", W, W, dtype=np.float64)
    total = lam3 * float(sq_rows.sum())
    if lam1 and AW is not None:
        total += lam1 * (float(deg @ sq_rows) - float(np.sum(W * AW, dtype=np.float64)))
    if alpha:
        total += alpha * float(np.sum((W - prev) ** 2, dtype=np.float64))
    if beta:
        total += beta * float(np.sum((W - nxt) ** 2, dtype=np.float64))
    return total


def _lin_step(
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


def graph_nmf(
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
    """Minimise one scale's subproblem f_t (see module docstring) by modified MU.

    Each iteration updates the gene loadings ``H`` and then the cell factor ``W`` with
    Lin-style multiplicative updates; the cell update is

        W ← W ∘ (X Hᵀ + λ1 A W + α W_prev + β W_next) ⊘ (W HHᵀ + λ1 D W + (α+β+λ3) W)

    wherever the gradient is ≥ 0. Both updates are majorise–minimise steps, so f_t never
    increases. Normalisation rescales the programs (rows of ``H``) to unit L2 norm and
    gives the cell factor the inverse factor (the reference's W-column normalisation in
    paper orientation); it keeps the reconstruction but not the penalties on ``W``, so it
    fixes the scale the penalties would otherwise shrink away, at the cost of monotonicity.

    Parameters
    ----------
    X
        n × m nonnegative data, dense or CSR (never densified).
    W, H
        Initial n × k and k × m factors (not modified).
    A
        n × n symmetric cell-graph adjacency (sparse); ``None`` for no graph.
    lambda_graph, alpha, beta, lambda_anchor
        λ1, the couplings to ``prev``/``nxt`` and λ3.
    prev, nxt
        Cell factors of the neighbouring scales (n × k), used when ``alpha``/``beta`` > 0.
    max_iter, tol
        At most ``max_iter`` iterations; stop when the objective changes by at most
        ``tol`` relative to the previous iteration.
    normalize
        ``'start'``: normalise once, before the first iteration (the objective trace is then
        monotone); ``'iteration'``: after every iteration, as the reference code (the trace
        can rise); ``'none'``.
    sq_norm_X
        ‖X‖²_F if already known.
    callback
        Called as ``callback(iteration, loss)`` after each iteration.

    Returns
    -------
    NMFResult
        ``W``, ``H``, ``loss`` (f_t before the first and after each iteration), ``n_iter``,
        ``converged``; ``extra['fit']`` holds ‖X − WH‖² + λ1 tr(WᵀLW) at the end.
    """
    n = X.shape[0]
    dtype = np.float64 if X.dtype == np.float64 else np.float32
    W = np.array(W, dtype=dtype)
    H = np.array(H, dtype=dtype)
    A, deg = _graph_terms(A if lambda_graph else None, n)
    lam1, lam3 = float(lambda_graph), float(lambda_anchor)
    alpha = float(alpha) if prev is not None else 0.0
    beta = float(beta) if nxt is not None else 0.0
    shrink = alpha + beta + lam3
    none = empty_like_rows(dtype)
    pull = none
    if alpha or beta:
        pull = np.zeros_like(W)
        if alpha:
            pull += alpha * prev
        if beta:
            pull += beta * nxt
    prev_rows = np.ascontiguousarray(prev, dtype=dtype) if alpha else none
    next_rows = np.ascontiguousarray(nxt, dtype=dtype) if beta else none
    if sq_norm_X is None:
        sq_norm_X = squared_norm(X)
    use_graph = A is not None and lam1 > 0
    if use_graph:
        # The adjacency in the factor's precision, so the product runs in the numba kernel.
        A = A.astype(dtype)
    else:
        deg = np.zeros(0)

    def objective(W, WtW, XHt, HHt, AW) -> tuple[float, float]:
        cross, sq, deg_sq, adj, d_prev, d_next = cell_sums(W, XHt, AW, deg, prev_rows, next_rows)
        gram = float(np.sum(WtW.astype(np.float64) * HHt))
        recon = max(sq_norm_X - 2.0 * cross + gram, 0.0)
        graph_part = lam1 * (deg_sq - adj) if use_graph else 0.0
        penalty = graph_part + alpha * d_prev + beta * d_next + lam3 * sq
        return recon + penalty, recon + graph_part

    if normalize not in ("start", "iteration", "none"):
        raise ValueError(f"Unknown normalize {normalize!r}; use 'start', 'iteration' or 'none'.")
    if normalize == "start":
        norms = np.linalg.norm(H, axis=1)
        norms[norms == 0] = 1.0
        H /= norms[:, None]
        W *= norms[None, :]
    XHt = spmm(X, H.T)
    AW = spmm(A, W) if use_graph else none
    WtW = W.T @ W
    current, fit = objective(W, WtW, XHt, H @ H.T, AW)
    losses = [current]
    converged = False
    n_iter = 0
    W_next = np.empty_like(W)
    for n_iter in range(1, max_iter + 1):
        # Gene loadings (the paper's W_t): plain least-squares MU.
        WtX = spmm_t(X, W).T
        grad_H = WtW @ H - WtX
        H = _lin_step(H, grad_H, WtW, left=True)
        # Cell factor (the paper's H_tᵀ): graph, coupling and anchoring terms.
        XHt = spmm(X, H.T)
        HHt = H @ H.T
        cell_step(W, XHt, HHt, AW, deg, pull, lam1, shrink, SIGMA, W_next)
        W, W_next = W_next, W
        if normalize == "iteration":
            norms = np.linalg.norm(H, axis=1)
            norms[norms == 0] = 1.0
            H /= norms[:, None]
            W *= norms[None, :]
            XHt /= norms[None, :]
            HHt = H @ H.T
        AW = spmm(A, W) if use_graph else none
        WtW = W.T @ W
        previous = current
        current, fit = objective(W, WtW, XHt, HHt, AW)
        losses.append(current)
        if callback is not None:
            callback(n_iter, current)
        if tol > 0 and abs(previous - current) <= tol * abs(previous):
            converged = True
            break
    return NMFResult(
        W=W,
        H=H,
        loss=np.asarray(losses),
        n_iter=n_iter,
        converged=converged,
        extra={"fit": np.float64(fit)},
    )
