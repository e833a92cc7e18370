"""The multi-scale coupled solver of persistent NMF, written once against :class:`.GraphOps`.

Orientation and the subproblem f_t of each scale: :mod:`scnmf._core.pnmf.gnmf`. The
backend (numba on the CPU, torch on a device) is the ops object passed in; this module
only orders the subproblems and sums the total objective.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..graph.laplacian import epsilon_graph
from ..graph.mst import EdgeList
from ..nmf.beta import squared_norm
from ..nmf.init import initialize
from ..nmf.result import NMFResult
from .gnmf import GraphOps, graph_nmf


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
    device
        The backend that ran the fit: ``'cpu'`` (numba), a torch device, or ``'dask'``.
    """

    W: np.ndarray
    H: np.ndarray
    loss: np.ndarray
    n_inner_iter: np.ndarray
    inner_losses: list[list[np.ndarray]] = field(default_factory=list)
    device: str = "cpu"


#: Edge weights of the ε-graph: the reference's exp(−d²/ε^1.5), or exp(−d²/ε²), which is
#: unchanged when the representation is rescaled (d and ε scale together).
KERNELS: tuple[str, ...] = ("reference", "relative")
#: How each scale's Laplacian enters the objective: as built (the reference), or divided by
#: its mean weighted degree tr(L_t)/n, so λ1 means the same on sparse and dense scales and
#: on small and large data (a cell of average degree is pulled toward its neighbours with
#: weight λ1, against a data term whose curvature is HHᵀ, of order one at unit programs).
GRAPH_SCALINGS: tuple[str, ...] = ("none", "mean_degree")


def relative_epsilon_graph(edges: EdgeList, eps: float) -> sp.csr_matrix:
    """:func:`epsilon_graph` with weights ``exp(−(d/ε)²)`` (free of the distances' units)."""
    m = int(np.searchsorted(edges.dists, eps, side="left"))
    r, c = edges.rows[:m], edges.cols[:m]
    w = np.exp(-((edges.dists[:m] / eps) ** 2))
    A = sp.coo_matrix(
        (np.concatenate([w, w]), (np.concatenate([r, c]), np.concatenate([c, r]))),
        shape=(edges.n, edges.n),
    ).tocsr()
    A.sum_duplicates()
    return A


class ScaleGraphs:
    """ε-graph adjacencies per scale, built from the sorted edge list on demand.

    Graphs are cached while their total size stays below ``cache_entries`` stored entries,
    otherwise rebuilt on each visit (O(edges) each), so memory stays O(edges). ``kernel``
    and ``scaling`` are one of :data:`KERNELS` and :data:`GRAPH_SCALINGS`.
    """

    def __init__(
        self,
        edges: EdgeList,
        scales: np.ndarray,
        cache_entries: int = 20_000_000,
        *,
        kernel: str = "reference",
        scaling: str = "none",
    ):
        if kernel not in KERNELS or scaling not in GRAPH_SCALINGS:
            raise ValueError(
                f"kernel must be one of {KERNELS} and scaling one of {GRAPH_SCALINGS}, "
                f"not {kernel!r} and {scaling!r}."
            )
        self.edges = edges
        self.scales = np.asarray(scales, dtype=np.float64)
        self.kernel, self.scaling = kernel, scaling
        counts = np.searchsorted(edges.dists, self.scales, side="left")
        self.cache = int(2 * counts.sum()) <= cache_entries
        self._graphs: dict[int, sp.csr_matrix] = {}

    def __len__(self) -> int:
        return self.scales.size

    def __getitem__(self, t: int) -> sp.csr_matrix:
        if t in self._graphs:
            return self._graphs[t]
        eps = float(self.scales[t])
        build = epsilon_graph if self.kernel == "reference" else relative_epsilon_graph
        A = build(self.edges, eps)
        if self.scaling == "mean_degree" and A.nnz:
            total = float(A.sum(dtype=np.float64))
            if total > 0:
                A.data *= A.dtype.type(self.edges.n / total)
        if self.cache:
            self._graphs[t] = A
        return A


def total_objective(ops: GraphOps, W_all, H_all, graphs, lam1, lam2, lam3, sq_norm_X) -> float:
    """Σ_t ‖X − W_t H_t‖² + λ1 tr(W_tᵀ L_t W_t) + λ2 Σ_t≥2 ‖W_t − W_t−1‖² + λ3 Σ_t ‖W_t‖²."""
    total = 0.0
    for t in range(len(W_all)):
        A = graphs[t] if lam1 else None
        if A is not None and A.nnz == 0:
            A = None
        W_prev = W_all[t - 1] if t else None
        cross, gram, deg_sq, adj, sq, d_prev = ops.scale_sums(W_all[t], H_all[t], A, W_prev)
        total += max(sq_norm_X - 2 * cross + gram, 0.0)
        if A is not None:
            total += lam1 * (deg_sq - adj)
        total += lam3 * sq
        if t:
            total += lam2 * d_prev
    return total


def solve_pnmf(
    ops: GraphOps,
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
    kernel: str = "reference",
    graph_scaling: str = "none",
    keep_inner_losses: bool = False,
    callback: Callable[[int, int, NMFResult], object] | None = None,
) -> PNMFResult:
    """Persistent NMF: coupled graph-regularised NMF over a sequence of scales.

    Algorithm (the reference code's): NNDSVDA initial factors; a warm-started chain of
    single-scale GNMF fits (λ = λ1) from the coarsest to the finest scale, each result
    seeding that scale and the next; then ``n_sweeps`` Gauss–Seidel sweeps from the finest
    to the coarsest scale, where scale t solves f_t (:mod:`.gnmf`) with
    α = λ2 toward the already updated W_{t−1} (0 at the finest scale) and β = λ2 toward last
    sweep's W_{t+1} (0 at the coarsest).

    Parameters
    ----------
    ops
        ``X`` (n × m, cells × genes, nonnegative) on a backend (:class:`.GraphOps`).
    edges
        Candidate cell–cell edges (:func:`scnmf._core.graph.edges.candidate_edges`).
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
        Initialisation of the chain (see :func:`scnmf._core.nmf.init.initialize`).
    random_state
        Seed of the initialisation (the only randomness).
    normalize
        When programs are rescaled to unit norm (see :func:`.gnmf.graph_nmf`).
    kernel, graph_scaling
        Edge weights and the scaling of each scale's graph (:data:`KERNELS`,
        :data:`GRAPH_SCALINGS`); the defaults are the reference code's.
    keep_inner_losses
        Keep each subproblem's objective trace in ``inner_losses``.
    callback
        Called as ``callback(stage, t, result)`` after each subproblem (stage 0 = chain).

    Returns
    -------
    PNMFResult
        Factors of every scale (t = 0 finest) and the convergence record (``device`` left
        at ``'cpu'``; the caller sets it).
    """
    graphs = ScaleGraphs(edges, scales, kernel=kernel, scaling=graph_scaling)
    T = len(graphs)
    lam1, lam2, lam3 = float(lambda_graph), float(lambda_scale), float(lambda_anchor)
    # One ‖X‖² for every subproblem and the total, whatever the backend.
    sq = squared_norm(ops.X)
    W0, H0 = initialize(ops.X, n_components, init, random_state)
    W_all: list[np.ndarray] = [W0] * T
    H_all: list[np.ndarray] = [H0] * T
    n_inner = np.zeros((n_sweeps + 1, T), dtype=np.int64)
    inner: list[list[np.ndarray]] = []
    losses = []
    inner_kw = dict(max_iter=max_inner_iter, tol=inner_tol, sq_norm_X=sq, normalize=normalize)

    W, H = W0, H0
    stage_losses = [np.empty(0)] * T
    for t in range(T - 1, -1, -1):
        res = graph_nmf(ops, W, H, A=graphs[t], lambda_graph=lam1, **inner_kw)
        W, H = res.W, res.H
        W_all[t], H_all[t] = W, H
        n_inner[0, t] = res.n_iter
        stage_losses[t] = res.loss
        if callback is not None:
            callback(0, t, res)
    if keep_inner_losses:
        inner.append(stage_losses)
    losses.append(total_objective(ops, W_all, H_all, graphs, lam1, lam2, lam3, sq))

    for sweep in range(1, n_sweeps + 1):
        stage_losses = [np.empty(0)] * T
        for t in range(T):
            prev = W_all[t - 1] if t > 0 else None
            nxt = W_all[t + 1] if t < T - 1 else None
            res = graph_nmf(
                ops, W_all[t], H_all[t], A=graphs[t], lambda_graph=lam1,
                prev=prev, alpha=lam2, nxt=nxt, beta=lam2, lambda_anchor=lam3, **inner_kw,
            )  # fmt: skip
            W_all[t], H_all[t] = res.W, res.H
            n_inner[sweep, t] = res.n_iter
            stage_losses[t] = res.loss
            if callback is not None:
                callback(sweep, t, res)
        if keep_inner_losses:
            inner.append(stage_losses)
        losses.append(total_objective(ops, W_all, H_all, graphs, lam1, lam2, lam3, sq))
    return PNMFResult(
        W=np.stack(W_all),
        H=np.stack(H_all),
        loss=np.asarray(losses),
        n_inner_iter=n_inner,
        inner_losses=inner,
    )
