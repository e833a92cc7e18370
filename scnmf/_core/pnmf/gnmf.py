"""The graph-regularised NMF subproblem (GNMF; one scale of pNMF), written once.

Orientation: ``X`` is n × m (cells × genes) ≈ ``W`` (n × k) ``H`` (k × m). The papers write
X as genes × cells; their cell factor ``H_t`` is our ``W_tᵀ`` and their gene factor ``W_t``
is our ``H_tᵀ``. The regularisers act on the cell factor:

    f_t(W, H) = ‖X − WH‖² + λ1 tr(Wᵀ L_t W) + α‖W − W_prev‖² + β‖W − W_next‖² + λ3‖W‖²

with L_t = D_t − A_t the Laplacian of the scale-t cell graph (Zhang, Miao & Li 2026;
GNMF, Cai et al. 2011, is the case α = β = λ3 = 0 on a kNN graph).

:func:`graph_nmf` is the solver loop. It runs against an ops object (:class:`GraphOps`)
that holds ``X`` and supplies the products, the two projected steps and the objective
sums: :class:`scnmf._core.pnmf.ops_numpy.NumpyGraphOps` (numba kernels) and
:class:`scnmf._core.pnmf.ops_torch.TorchGraphOps` (a torch device).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from ..nmf.init import initialize
from ..nmf.result import NMFResult

#: Floors of Lin's (2007) modified multiplicative updates (σ and δ of the reference code).
SIGMA = 1e-9


class Weights(NamedTuple):
    """Penalty weights of one subproblem, 0 for every term that is absent."""

    lam1: float
    alpha: float
    beta: float
    lam3: float


class SubproblemOps(Protocol):
    """One subproblem's terms on a backend; factors are that backend's arrays.

    ``AW`` is whatever :meth:`graph_product` returns (a placeholder without a graph).
    """

    weights: Weights

    def factors(self, W: np.ndarray, H: np.ndarray) -> tuple[Any, Any]:
        """Working copies of the initial factors (never the caller's arrays)."""

    def x_ht(self, H) -> Any:
        """X Hᵀ (n × k)."""

    def xt_w(self, W) -> Any:
        """Xᵀ W (m × k)."""

    def graph_product(self, W) -> Any:
        """A W."""

    def h_step(self, H, grad, WtW) -> Any:
        """Lin's projected step of the gene loadings (may update ``H`` in place)."""

    def w_step(self, W, XHt, HHt, AW) -> Any:
        """Lin's projected step of the cell factor with graph, coupling and anchor terms."""

    def normalise(self, H, W) -> Any:
        """Rows of ``H`` to unit L2 norm, ``W``'s columns times the norms (in place)."""

    def sums(self, W, WtW, XHt, HHt, AW) -> list[float]:
        """Float64 ``[Σ W∘XHᵀ, Σ WᵀW∘HHᵀ, Σ W², Σ dᵢ‖Wᵢ‖², Σ W∘AW, ‖W−W_prev‖², ‖W−W_next‖²]``."""

    def to_host(self, F) -> np.ndarray:
        """A factor as a numpy array in X's dtype."""


class GraphOps(Protocol):
    """``X`` on a backend: what :func:`graph_nmf` and pNMF's driver need from it."""

    X: Any  #: the in-memory matrix (initialisation runs on it)
    sq_norm: float  #: ‖X‖²_F as this backend computes it

    def subproblem(self, A, weights: Weights, prev, nxt) -> SubproblemOps:
        """The terms of one subproblem (``A`` is ``None`` when λ1 = 0 or it has no edges)."""

    def scale_sums(self, W: np.ndarray, H: np.ndarray, A, W_prev) -> list[float]:
        """Float64 ``[Σ W∘XHᵀ, Σ WᵀW∘HHᵀ, Σ dᵢ‖Wᵢ‖², Σ W∘AW, ‖W‖², ‖W − W_prev‖²]``."""


@dataclass
class GNMFResult(NMFResult):
    """:class:`NMFResult` of a GNMF fit plus the backend it ran on."""

    device: str = "cpu"


def _objective(sub: SubproblemOps, sq_norm: float, W, WtW, XHt, HHt, AW) -> tuple[float, float]:
    """f_t and its reconstruction-plus-graph part, from the backend's float64 sums."""
    cross, gram, sq, deg_sq, adj, d_prev, d_next = sub.sums(W, WtW, XHt, HHt, AW)
    lam1, alpha, beta, lam3 = sub.weights
    recon = max(sq_norm - 2.0 * cross + gram, 0.0)
    graph_part = lam1 * (deg_sq - adj) if lam1 else 0.0
    penalty = graph_part + alpha * d_prev + beta * d_next + lam3 * sq
    return recon + penalty, recon + graph_part


def graph_nmf(
    ops: GraphOps,
    W: np.ndarray,
    H: np.ndarray,
    *,
    A=None,
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
    ops
        ``X`` on a backend (:class:`GraphOps`).
    W, H
        Initial n × k and k × m factors (not modified).
    A
        n × n symmetric cell-graph adjacency (scipy sparse); ``None`` for no graph.
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
        numpy ``W``, ``H`` in X's dtype, ``loss`` (f_t before the first and after each
        iteration), ``n_iter``, ``converged``; ``extra['fit']`` holds
        ‖X − WH‖² + λ1 tr(WᵀLW) at the end.
    """
    with_graph = bool(lambda_graph) and A is not None and A.nnz > 0
    weights = Weights(
        float(lambda_graph) if with_graph else 0.0,
        float(alpha) if prev is not None else 0.0,
        float(beta) if nxt is not None else 0.0,
        float(lambda_anchor),
    )
    sub = ops.subproblem(A if with_graph else None, weights, prev, nxt)
    sq = ops.sq_norm if sq_norm_X is None else float(sq_norm_X)
    W, H = sub.factors(W, H)
    if normalize == "start":
        sub.normalise(H, W)
    XHt = sub.x_ht(H)
    AW = sub.graph_product(W)
    WtW = W.T @ W
    current, fit = _objective(sub, sq, W, WtW, XHt, H @ H.T, AW)
    losses = [current]
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        # Gene loadings (the paper's W_t): plain least-squares MU.
        grad_H = WtW @ H - sub.xt_w(W).T
        H = sub.h_step(H, grad_H, WtW)
        # Cell factor (the paper's H_tᵀ): graph, coupling and anchoring terms.
        XHt = sub.x_ht(H)
        HHt = H @ H.T
        W = sub.w_step(W, XHt, HHt, AW)
        if normalize == "iteration":
            norms = sub.normalise(H, W)
            XHt /= norms[None, :]
            HHt = H @ H.T
        AW = sub.graph_product(W)
        WtW = W.T @ W
        previous = current
        current, fit = _objective(sub, sq, W, WtW, XHt, HHt, AW)
        losses.append(current)
        if callback is not None:
            callback(n_iter, current)
        if tol > 0 and abs(previous - current) <= tol * abs(previous):
            converged = True
            break
    return NMFResult(
        W=sub.to_host(W),
        H=sub.to_host(H),
        loss=np.asarray(losses),
        n_iter=n_iter,
        converged=converged,
        extra={"fit": np.float64(fit)},
    )


def solve_gnmf(
    ops: GraphOps,
    A,
    n_components: int,
    *,
    lambda_graph: float = 1.0,
    max_iter: int = 1000,
    tol: float = 1e-3,
    init: str = "nndsvda",
    random_state: int | None = 0,
    callback: Callable[[int, float], object] | None = None,
) -> GNMFResult:
    """GNMF from an initialisation of ``ops.X`` (see :func:`scnmf._core.nmf.init.initialize`).

    Returns
    -------
    GNMFResult
        The result of :func:`graph_nmf` (``device`` left at ``'cpu'``; the caller sets it).
    """
    W0, H0 = initialize(ops.X, n_components, init, random_state)
    res = graph_nmf(
        ops, W0, H0, A=A, lambda_graph=lambda_graph, max_iter=max_iter, tol=tol,
        callback=callback,
    )  # fmt: skip
    return GNMFResult(**vars(res))
