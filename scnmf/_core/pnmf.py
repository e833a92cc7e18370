"""Graph-regularised NMF (GNMF) and the multi-scale coupled solver of persistent NMF.

Orientation: ``X`` is n × m (cells × genes) ≈ ``W`` (n × k) ``H`` (k × m). The papers write
X as genes × cells; their cell factor ``H_t`` is our ``W_tᵀ`` and their gene factor ``W_t``
is our ``H_tᵀ``. The regularisers act on the cell factor:

    f_t(W, H) = ‖X − WH‖² + λ1 tr(Wᵀ L_t W) + α‖W − W_prev‖² + β‖W − W_next‖² + λ3‖W‖²

with L_t = D_t − A_t the Laplacian of the scale-t cell graph (Zhang, Miao & Li 2026;
GNMF, Cai et al. 2011, is the case α = β = λ3 = 0 on a kNN graph).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ._pnmf_kernels import cell_step, cell_sums, empty_like_rows
from ._result import NMFResult
from ._sparse import spmm, spmm_t
from .beta import squared_norm
from .graph import EdgeList, degrees, epsilon_graph
from .init import initialize

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


@dataclass
class PNMFResult:
    """Factors of every scale and the record of the multi-scale fit.

    Attributes
    ----------
    W
        Cell factors, T × n × k (t = 0 finest).
    H
        Gene loadings, T × k × m.
    loss
        Total objective after the warm-start chain and after each sweep (n_sweeps + 1,).
    n_inner_iter
        Inner iterations per (stage, scale), (n_sweeps + 1) × T; stage 0 is the chain.
    inner_losses
        Per (stage, scale) the subproblem objective trace (not stored in AnnData).
    """

    W: np.ndarray
    H: np.ndarray
    loss: np.ndarray
    n_inner_iter: np.ndarray
    inner_losses: list[list[np.ndarray]] = field(default_factory=list)


class ScaleGraphs:
    """ε-graph adjacencies per scale, built from the sorted edge list on demand.

    Graphs are cached while their total size stays below ``cache_entries`` stored entries,
    otherwise rebuilt on each visit (O(edges) each), so memory stays O(edges).
    """

    def __init__(self, edges: EdgeList, scales: np.ndarray, cache_entries: int = 20_000_000):
        self.edges = edges
        self.scales = np.asarray(scales, dtype=np.float64)
        counts = np.searchsorted(edges.dists, self.scales, side="left")
        self.cache = int(2 * counts.sum()) <= cache_entries
        self._graphs: dict[int, sp.csr_matrix] = {}

    def __len__(self) -> int:
        return self.scales.size

    def __getitem__(self, t: int) -> sp.csr_matrix:
        if t in self._graphs:
            return self._graphs[t]
        A = epsilon_graph(self.edges, float(self.scales[t]))
        if self.cache:
            self._graphs[t] = A
        return A


def total_objective(X, W_all, H_all, graphs, lam1, lam2, lam3, sq_norm_X) -> float:
    """Σ_t ‖X − W_t H_t‖² + λ1 tr(W_tᵀ L_t W_t) + λ2 Σ_t≥2 ‖W_t − W_t−1‖² + λ3 Σ_t ‖W_t‖²."""
    total = 0.0
    for t in range(len(W_all)):
        W, H = W_all[t], H_all[t]
        XHt = spmm(X, H.T)
        cross = float(np.sum(W * XHt, dtype=np.float64))
        gram = float(np.sum((W.T @ W).astype(np.float64) * (H @ H.T)))
        total += max(sq_norm_X - 2 * cross + gram, 0.0)
        A = graphs[t]
        if lam1 and A.nnz:
            total += _penalty(W, A @ W, degrees(A), lam1, None, 0, None, 0, 0)
        total += lam3 * float(np.sum(W.astype(np.float64) ** 2))
        if t:
            total += lam2 * float(np.sum((W - W_all[t - 1]).astype(np.float64) ** 2))
    return total


def pnmf(
    X,
    edges: EdgeList,
    scales: np.ndarray,
    n_components: int,
    *,
    lambda_graph: float = 1.0,
    lambda_scale: float = 1.0,
    lambda_anchor: float = 1.0,
    n_sweeps: int = 10,
    max_inner_iter: int = 1000,
    inner_tol: float = 1e-3,
    init: str = "nndsvda",
    random_state: int | None = 0,
    normalize: str = "start",
    keep_inner_losses: bool = False,
    callback: Callable[[int, int, NMFResult], object] | None = None,
    subproblem: Callable[..., NMFResult] | None = None,
    objective: Callable[..., float] | None = None,
) -> PNMFResult:
    """Persistent NMF: coupled graph-regularised NMF over a sequence of scales.

    Algorithm (the reference code's): NNDSVDA initial factors; a warm-started chain of
    single-scale GNMF fits (λ = λ1) from the coarsest to the finest scale, each result
    seeding that scale and the next; then ``n_sweeps`` Gauss–Seidel sweeps from the finest
    to the coarsest scale, where scale t solves f_t (module docstring) with
    α = λ2 toward the already updated W_{t−1} (0 at the finest scale) and β = λ2 toward last
    sweep's W_{t+1} (0 at the coarsest).

    Parameters
    ----------
    X
        n × m nonnegative data (cells × genes), dense or CSR.
    edges
        Candidate cell–cell edges (:func:`scnmf._core.graph.candidate_edges`).
    scales
        Increasing ε values; scale t uses the ε-graph with edges ``d < scales[t]``.
    n_components
        Rank k.
    lambda_graph, lambda_scale, lambda_anchor
        λ1 (geometric), λ2 (cross-scale consistency), λ3 (anchoring).
    n_sweeps
        Gauss–Seidel sweeps after the chain.
    max_inner_iter, inner_tol
        Inner-solver limits per subproblem.
    init
        Initialisation of the chain (see :func:`scnmf._core.init.initialize`).
    normalize
        When programs are rescaled to unit norm (see :func:`graph_nmf`).
    random_state
        Seed of the initialisation (the only randomness).
    keep_inner_losses
        Keep each subproblem's objective trace in ``inner_losses``.
    callback
        Called as ``callback(stage, t, result)`` after each subproblem (stage 0 = chain).
    subproblem, objective
        Backend hooks: the single-scale solver (signature of :func:`graph_nmf`, default it)
        and the total objective (signature of :func:`total_objective`, default it). Another
        backend (e.g. torch) passes its own and keeps ``X`` in its own format.

    Returns
    -------
    PNMFResult
        Factors of every scale (t = 0 finest) and the convergence record.
    """
    solve = graph_nmf if subproblem is None else subproblem
    total = total_objective if objective is None else objective
    graphs = ScaleGraphs(edges, scales)
    T = len(graphs)
    lam1, lam2, lam3 = float(lambda_graph), float(lambda_scale), float(lambda_anchor)
    sq = squared_norm(X)
    W0, H0 = initialize(X, n_components, init, random_state)
    W_all: list[np.ndarray] = [W0] * T
    H_all: list[np.ndarray] = [H0] * T
    n_inner = np.zeros((n_sweeps + 1, T), dtype=np.int64)
    inner: list[list[np.ndarray]] = []
    losses = []

    W, H = W0, H0
    stage_losses = [np.empty(0)] * T
    for t in range(T - 1, -1, -1):
        res = solve(
            X, W, H, A=graphs[t], lambda_graph=lam1, max_iter=max_inner_iter, tol=inner_tol,
            sq_norm_X=sq, normalize=normalize,
        )  # fmt: skip
        W, H = res.W, res.H
        W_all[t], H_all[t] = W, H
        n_inner[0, t] = res.n_iter
        stage_losses[t] = res.loss
        if callback is not None:
            callback(0, t, res)
    if keep_inner_losses:
        inner.append(stage_losses)
    losses.append(total(X, W_all, H_all, graphs, lam1, lam2, lam3, sq))

    for sweep in range(1, n_sweeps + 1):
        stage_losses = [np.empty(0)] * T
        for t in range(T):
            prev = W_all[t - 1] if t > 0 else None
            nxt = W_all[t + 1] if t < T - 1 else None
            res = solve(
                X, W_all[t], H_all[t], A=graphs[t], lambda_graph=lam1,
                prev=prev, alpha=lam2, nxt=nxt, beta=lam2, lambda_anchor=lam3,
                max_iter=max_inner_iter, tol=inner_tol, sq_norm_X=sq, normalize=normalize,
            )  # fmt: skip
            W_all[t], H_all[t] = res.W, res.H
            n_inner[sweep, t] = res.n_iter
            stage_losses[t] = res.loss
            if callback is not None:
                callback(sweep, t, res)
        if keep_inner_losses:
            inner.append(stage_losses)
        losses.append(total(X, W_all, H_all, graphs, lam1, lam2, lam3, sq))
    return PNMFResult(
        W=np.stack(W_all),
        H=np.stack(H_all),
        loss=np.asarray(losses),
        n_inner_iter=n_inner,
        inner_losses=inner,
    )
