"""Graph-regularised NMF (GNMF) and persistent NMF (pNMF): the entry points.

:func:`fit_gnmf` and :func:`fit_pnmf` pick the backend once: a dask array is assembled on
one worker and solved there in memory (the subproblem needs all of X at every iteration);
otherwise ``device`` decides: ``'cpu'`` runs the numba ops (:mod:`.ops_numpy`), any torch
device the torch ops (:mod:`.ops_torch`). Both run the same loops (:mod:`.gnmf`,
:mod:`.pnmf`). Orientation: ``X`` n × m (cells × genes) ≈ ``W`` (n × k) ``H`` (k × m).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._backends._threads import single_threaded_blas
from .._backends.dask import solve_on_worker
from .._backends.select import Backend, choose_backend
from ..graph.mst import EdgeList
from ..nmf.result import NMFResult
from .gnmf import GNMFResult, GraphOps, solve_gnmf
from .ops_numpy import NumpyGraphOps
from .pnmf import PNMFResult, solve_pnmf

__all__ = ["GNMFResult", "PNMFResult", "fit_gnmf", "fit_pnmf", "graph_ops"]


def graph_ops(X, backend: Backend) -> GraphOps:
    """The ops holding in-memory ``X``: numba, or torch on the backend's device."""
    if backend.kind == "numba":
        return NumpyGraphOps(X)
    from .ops_torch import TorchGraphOps

    return TorchGraphOps(X, backend.device)


def fit_gnmf(
    X,
    A,
    n_components: int,
    *,
    lambda_graph: float = 1.0,
    max_iter: int = 1000,
    tol: float = 1e-3,
    init: str = "nndsvda",
    random_state: int | None = 0,
    device: str | Backend = "auto",
    callback: Callable[[int, float], object] | None = None,
) -> GNMFResult:
    """GNMF (Cai et al. 2011): min ‖X − WH‖² + λ tr(Wᵀ L W), W, H ≥ 0, L = D − A.

    Parameters
    ----------
    X
        n × m nonnegative data (cells × genes): ndarray, CSR, or a dask array chunked
        along rows.
    A
        n × n symmetric cell-graph adjacency (scipy sparse).
    n_components
        Rank k.
    lambda_graph
        λ, weight of the graph term.
    max_iter, tol
        Iteration limit and relative-change tolerance.
    init, random_state
        Initialisation (:func:`scnmf._core.nmf.init.initialize`) and its seed.
    device
        ``'auto'``, ``'cpu'`` or a CUDA device; not used for a dask array.
    callback
        ``callback(iteration, loss)`` after each iteration (not called for a dask array:
        the fit runs on a worker).

    Returns
    -------
    GNMFResult
        numpy factors in X's dtype, objective trace, ``n_iter``, ``converged`` and
        ``device`` (``'cpu'``, the torch device or ``'dask'``).
    """
    backend = choose_backend(X, device)
    options = dict(
        lambda_graph=lambda_graph, max_iter=max_iter, tol=tol, init=init,
        random_state=random_state,
    )  # fmt: skip
    if backend.kind == "dask":
        # On the worker X is in memory, so this same function runs the numba engine there.
        cpu = Backend("numba")
        result = solve_on_worker(X, fit_gnmf, A, n_components, device=cpu, **options)
        result.device = backend.name
        return result
    with single_threaded_blas(X):
        result = solve_gnmf(graph_ops(X, backend), A, n_components, callback=callback, **options)
    result.device = backend.name
    return result


def fit_pnmf(
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
    kernel: str = "reference",
    graph_scaling: str = "none",
    keep_inner_losses: bool = False,
    device: str | Backend = "auto",
    callback: Callable[[int, int, NMFResult], object] | None = None,
) -> PNMFResult:
    """Persistent NMF over the ε-graphs of ``scales`` (see :func:`.pnmf.solve_pnmf`).

    Parameters
    ----------
    X
        n × m nonnegative data (cells × genes): ndarray, CSR, or a dask array chunked
        along rows (then solved as one task on one worker, where it must fit in memory).
    edges, scales
        Candidate cell–cell edges and the increasing ε of each scale.
    n_components
        Rank k.
    lambda_graph, lambda_scale, lambda_anchor, n_sweeps, max_inner_iter, inner_tol, init, \
random_state, normalize, kernel, graph_scaling, keep_inner_losses
        As :func:`.pnmf.solve_pnmf`.
    device
        ``'auto'``, ``'cpu'`` or a CUDA device; not used for a dask array.
    callback
        ``callback(stage, t, result)`` after each scale's subproblem (not called for a
        dask array).

    Returns
    -------
    PNMFResult
        Factors of every scale (t = 0 finest), the convergence record and ``device``.
    """
    backend = choose_backend(X, device)
    options = dict(
        lambda_graph=lambda_graph, lambda_scale=lambda_scale, lambda_anchor=lambda_anchor,
        n_sweeps=n_sweeps, max_inner_iter=max_inner_iter, inner_tol=inner_tol, init=init,
        random_state=random_state, normalize=normalize, kernel=kernel,
        graph_scaling=graph_scaling, keep_inner_losses=keep_inner_losses,
    )  # fmt: skip
    if backend.kind == "dask":
        cpu = Backend("numba")
        result = solve_on_worker(X, fit_pnmf, edges, scales, n_components, device=cpu, **options)
        result.device = backend.name
        return result
    with single_threaded_blas(X):
        result = solve_pnmf(
            graph_ops(X, backend), edges, scales, n_components, callback=callback, **options
        )
    result.device = backend.name
    return result
