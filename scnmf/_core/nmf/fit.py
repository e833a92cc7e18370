"""``fit_nmf``: the one entry to β-NMF, which picks the backend once and runs one solver loop.

Orientation: ``X`` n × m (cells × genes) ≈ ``W`` (n × k) ``H`` (k × m).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._backends.select import Backend, choose_backend
from .batch import BatchedOps
from .hals import HALSSteps, sweep_budget
from .init import initialize
from .loop import Callback, alternate
from .mu import MUSteps
from .ops_numpy import NumpyOps, make_ops
from .penalty import Penalty, resolve_penalty
from .result import NMFResult


class InMemoryEngine:
    """Factors of in-memory data on the numba engine or a torch device."""

    def __init__(self, X, backend: Backend, groups: int = 1, tol: float = 0.0):
        self.X = X
        self.groups = groups
        self.tol = tol
        self.dtype = np.dtype(np.float64 if X.dtype == np.float64 else np.float32)
        if backend.kind == "torch":
            from .._backends.torch import TorchData
            from .ops_torch import TorchOps, make_torch_ops

            data = TorchData(X, backend.device)
            self._mu_ops = lambda beta: make_torch_ops(data, beta)
            self._plain_ops = lambda: TorchOps(data)
        else:
            self._mu_ops = lambda beta: make_ops(X, beta)
            self._plain_ops = lambda: NumpyOps(X)
        self.ops = None

    def nnz(self) -> int:
        """Stored nonzeros (all nonzero entries for dense data)."""
        return self.X.nnz if sp.issparse(self.X) else int(np.count_nonzero(self.X))

    def _batched(self, ops, beta: float | None = None):
        return ops if self.groups == 1 else BatchedOps(ops, self.groups, beta, self.tol)

    def mu_steps(self, beta: float, penalty: Penalty | None = None) -> MUSteps:
        """β-MU on this backend's ops."""
        self.ops = self._batched(self._mu_ops(beta), beta)
        return MUSteps(self.ops, beta, penalty and penalty.batched(self.groups))

    def hals_steps(
        self, inner_W: int, inner_H: int, adaptive: bool, penalty: Penalty | None = None
    ) -> HALSSteps:
        """HALS on this backend's ops."""
        self.ops = self._batched(self._plain_ops())
        return HALSSteps(
            self.ops, inner_W, inner_H, adaptive, penalty and penalty.batched(self.groups)
        )

    def put(self, W, H):
        """Copies of the factors in the backend's representation."""
        return self.ops.to_backend(W, self.dtype), self.ops.to_backend(H, self.dtype)

    def get(self, W, H) -> tuple[np.ndarray, np.ndarray]:
        """The factors as numpy arrays in the data dtype."""
        return self.ops.to_numpy(W, self.dtype), self.ops.to_numpy(H, self.dtype)

    def context(self):
        """The backend's run context (BLAS thread limit on the CPU, no autograd on torch)."""
        return self.ops.context()


def _engine(X, backend: Backend, groups: int, tol: float):
    if backend.kind == "dask":
        if groups != 1:
            raise NotImplementedError("batched fits run in memory (on dask: one task per batch)")
        from .ops_dask import DaskEngine

        return DaskEngine(X)
    return InMemoryEngine(X, backend, groups, tol)


def run_solver(
    X,
    W: np.ndarray,
    H: np.ndarray,
    *,
    solver: str = "mu",
    beta: float = 2.0,
    max_iter: int = 200,
    tol: float = 1e-4,
    max_inner: int | None = None,
    device: str | Backend = "auto",
    update_W: bool = True,
    update_H: bool = True,
    groups: int = 1,
    callback: Callback | None = None,
    penalty: Penalty | None = None,
    alpha_W: float = 0.0,
    alpha_H: float | str = "same",
    l1_ratio: float = 0.0,
) -> NMFResult:
    """MU (any β) or HALS (β = 2) from given factors, on the backend chosen for ``X``.

    Parameters
    ----------
    X
        n × m nonnegative data: ndarray, CSR, or a dask array chunked along rows only.
    W, H
        Initial factors n × k and k × m (copied).
    solver
        ``'mu'`` or ``'hals'``.
    beta
        β of the divergence (MU only; HALS is Frobenius).
    max_iter, tol
        Iteration cap and relative-decrease tolerance (``tol=0``: exactly ``max_iter``).
    max_inner
        HALS sweeps per factor and iteration (``None``: adaptive, per row).
    device
        ``'auto'``, ``'cpu'`` (numba), a CUDA device (torch) or a :class:`Backend`.
    update_W, update_H
        Keep a factor fixed (in-memory backends).
    groups
        Number of independent fits stacked in ``W``/``H`` (:mod:`.batch`, in memory): the
        loss history then has one column per fit, and ``extra`` holds each fit's
        ``n_iter`` and ``converged``.
    callback
        ``callback(iteration, loss)``; returning ``True`` stops the fit.
    penalty, alpha_W, alpha_H, l1_ratio
        L1/L2 regularisation (:mod:`.penalty`): an explicit :class:`~.penalty.Penalty`, or
        scikit-learn's ``alpha_W``, ``alpha_H`` (``'same'``: ``alpha_W``) and ``l1_ratio``,
        scaled by the shape of the whole ``X``. The loss is then the penalised objective;
        the penalty of a factor held fixed is a constant and is left out of it.

    Returns
    -------
    NMFResult
        numpy factors in X's dtype, loss history, ``n_iter``, ``converged``.
    """
    engine = _engine(X, choose_backend(X, device), groups, tol)
    penalty = resolve_penalty(X.shape, penalty, alpha_W, alpha_H, l1_ratio)
    if not update_H:
        penalty = penalty.only_W()
    if not update_W:
        penalty = penalty.only_H()
    if solver == "mu":
        steps = engine.mu_steps(float(beta), penalty)
        start = (W, H)
    else:
        budget = sweep_budget(engine.nnz(), X.shape, np.shape(W)[1] // groups, max_inner)
        steps = engine.hals_steps(*budget, penalty)
        start = (W, np.asarray(H).T)
    W_b, H_b = engine.put(*start)
    with engine.context():
        result = alternate(
            steps,
            W_b,
            H_b,
            max_iter=max_iter,
            tol=tol,
            update_W=update_W,
            update_H=update_H,
            callback=callback,
        )
    if groups > 1:  # each fit stopped on its own (see .batch)
        result.extra["n_iter"] = engine.ops.n_iter.copy()
        result.extra["converged"] = ~engine.ops.active if tol > 0 else engine.ops.active & False
    result.W, H_out = engine.get(result.W, result.H)
    result.H = H_out if solver == "mu" else np.ascontiguousarray(H_out.T)
    return result


def mu(X, W, H, **kwargs) -> NMFResult:
    """β-MU on the numba engine (see :func:`run_solver` for the parameters)."""
    return run_solver(X, W, H, solver="mu", device=Backend("numba"), **kwargs)


def hals(X, W, H, **kwargs) -> NMFResult:
    """HALS on the numba engine (see :func:`run_solver` for the parameters)."""
    return run_solver(X, W, H, solver="hals", device=Backend("numba"), **kwargs)


@dataclass
class NMFFit:
    """What :func:`fit_nmf` returns: the result, where it ran, and solver-specific records."""

    result: NMFResult
    backend: str
    extra: dict[str, Any] = field(default_factory=dict)


def fit_nmf(
    X,
    n_components: int,
    *,
    beta: float = 2.0,
    solver: str = "auto",
    init: str = "nndsvda",
    max_iter: int = 200,
    tol: float = 1e-4,
    random_state: int | None = 0,
    W: np.ndarray | None = None,
    H: np.ndarray | None = None,
    device: str | Backend = "auto",
    agd_options: dict | None = None,
    callback: Callback | None = None,
    stage_callback: Callback | None = None,
    penalty: Penalty | None = None,
    alpha_W: float = 0.0,
    alpha_H: float | str = "same",
    l1_ratio: float = 0.0,
) -> NMFFit:
    """β-NMF of ``X``: initialise, pick the backend once, run MU, HALS or HALS → AGD.

    Parameters
    ----------
    X
        n × m nonnegative data (validated by the caller): ndarray, CSR or a row-chunked
        dask array.
    n_components
        Rank k.
    beta
        β of the divergence.
    solver
        ``'mu'``, ``'hals'``, ``'agd'`` (a HALS or MU warm start, then the AGD stages of
        :func:`.agd.agd`, in memory) or ``'auto'`` (HALS for β = 2, else MU).
    init, random_state, W, H
        Start (:func:`.init.initialize`); the same seed gives the same start on every backend.
    max_iter, tol
        Of the MU/HALS loop.
    device
        As in :func:`run_solver`.
    agd_options
        ``warm_start`` (``'hals'`` or ``'mu'``) and the keyword arguments of :func:`.agd.agd`.
    callback, stage_callback
        Progress of the main loop and of the AGD stages.
    penalty, alpha_W, alpha_H, l1_ratio
        Regularisation of MU and HALS, as in :func:`run_solver` (not with AGD).

    Returns
    -------
    NMFFit
        The result (an :class:`.agd.AGDResult` for AGD), the backend's name and, for AGD,
        ``alphas``, ``alpha0`` and ``warm_start_loss``.
    """
    backend = choose_backend(X, device)
    options = dict(agd_options or {})
    if solver == "auto":
        solver = "hals" if beta == 2 else "mu"
    penalty = resolve_penalty(X.shape, penalty, alpha_W, alpha_H, l1_ratio)
    if solver == "agd" and penalty:
        raise ValueError("solver='agd' has no regularisation: use solver='hals' or 'mu'.")
    warm = options.pop("warm_start", "hals") if solver == "agd" else solver
    W0, H0 = initialize(X, n_components, init, random_state, W=W, H=H)
    result = run_solver(
        X,
        W0,
        H0,
        solver=warm,
        beta=beta,
        max_iter=max_iter,
        tol=tol,
        device=backend,
        callback=callback,
        penalty=penalty,
    )
    if solver != "agd":
        return NMFFit(result, backend.name)
    from .agd import agd

    refined = agd(
        X, result.W, result.H, random_state=random_state, callback=stage_callback, **options
    )
    extra = {
        "alphas": np.asarray(refined.alphas, dtype=np.float64),
        "alpha0": float(refined.alpha0),
        "warm_start_loss": np.asarray(result.loss, dtype=np.float64),
    }
    return NMFFit(refined, backend.name, extra)
