"""Activities of fixed programs: the NMF W step alone, run to convergence.

Orientation: ``X`` is n × m (cells × genes), the programs are rows (k × m) and the
activities n × k, so ``X ≈ W @ programs``. With the programs fixed the W problem is convex
for 1 ≤ β ≤ 2 and separates over cells, so a cell's activities depend only on its own row:
this is how learned programs score new cells (scikit-learn's ``NMF.transform``, starCAT)
and how a consensus refits its usage (:mod:`..consensus.refit`).

``X`` may be an ndarray, a CSR matrix (never densified) or a dask array chunked along cells;
the backend is chosen once by :func:`.fit.run_solver`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._backends.dask import is_dask, map_row_blocks
from .._backends.select import Backend, choose_backend
from .beta import row_blocks
from .fit import run_solver
from .loop import Callback
from .penalty import Penalty


@dataclass
class FixedFit:
    """What :func:`fit_activities` returns.

    Attributes
    ----------
    W
        n × k float64 nonnegative activities (not normalised).
    loss
        β-divergence before the first update and after each iteration (``n_iter + 1``).
    n_iter
        Completed W steps.
    converged
        Whether the relative-decrease criterion stopped the run before ``max_iter``.
    backend
        Where it ran: ``'cpu'``, the torch device, or ``'dask'``.
    """

    W: np.ndarray
    loss: np.ndarray
    n_iter: int
    converged: bool
    backend: str


def _column_sums(block) -> np.ndarray:
    return np.asarray(block.sum(axis=0, dtype=np.float64)).ravel()


def column_totals(X) -> np.ndarray:
    """Per-gene sums of ``X`` in float64, over bounded row blocks (dask: its own chunks)."""
    if is_dask(X):
        return np.sum(map_row_blocks(X, _column_sums), axis=0)
    blocks = row_blocks(X.shape[0], X.shape[1])
    return np.sum([_column_sums(X[s]) for s in blocks], axis=0)


def start_activities(X, programs: np.ndarray) -> np.ndarray:
    """The constant start c·1 closest to ``X`` in least squares: c = ⟨1ᵀX, 1ᵀS⟩ / (n‖1ᵀS‖²).

    MU's first step cancels the scale of a constant start, but HALS's first sweep updates
    each column against the residual of the others, so the start should be at the data's
    scale whatever the programs' normalisation (one pass of column sums; 1 for zero data).

    Returns
    -------
    numpy.ndarray
        n × k float64, every entry c > 0.
    """
    n, k = X.shape[0], programs.shape[0]
    gene_totals = column_totals(X)
    profile = programs.sum(axis=0, dtype=np.float64)
    denom = n * float(profile @ profile)
    c = float(gene_totals @ profile) / denom if denom > 0 else 0.0
    return np.full((n, k), c if c > 0 else 1.0, dtype=np.float64)


def fixed_solver(solver: str, beta: float) -> str:
    """The W-step solver: ``'auto'``/``'agd'`` give HALS for β = 2 (exact per sweep), else MU."""
    if solver in ("auto", "agd"):
        return "hals" if beta == 2 else "mu"
    return solver


def fit_activities(
    X,
    programs: np.ndarray,
    *,
    beta: float,
    solver: str = "auto",
    max_iter: int = 1000,
    tol: float = 1e-6,
    device: str | Backend = "auto",
    callback: Callback | None = None,
    penalty: Penalty | None = None,
) -> FixedFit:
    """Activities of ``X``'s cells for fixed ``programs``: the NMF W step alone.

    Parameters
    ----------
    X
        n × m nonnegative data (ndarray, CSR, or a dask array chunked along rows only),
        genes in the order of the programs' columns.
    programs
        k × m nonnegative programs (rows), none all zero; kept fixed.
    beta
        β of the divergence.
    solver
        ``'mu'`` (any β), ``'hals'`` (β = 2), or ``'auto'``/``'agd'``: HALS for β = 2,
        else MU (:func:`fixed_solver`).
    max_iter, tol
        Iteration cap and relative-decrease tolerance of the loop (``tol=0``: exactly
        ``max_iter`` steps).
    device
        ``'auto'``, ``'cpu'`` (numba), a CUDA device (torch) or a :class:`Backend`; a dask
        ``X`` always runs on dask.
    callback
        ``callback(iteration, loss)`` after every loss evaluation.
    penalty
        Regularisation of the activities (:class:`.penalty.Penalty`, weights for this ``X``;
        its H part is dropped, the programs being fixed). The loss then includes it.

    Returns
    -------
    FixedFit
        Activities (n × k float64), loss history, ``n_iter``, ``converged`` and the backend.
    """
    solver = fixed_solver(solver, beta)
    programs = np.asarray(programs, dtype=np.float64)
    backend = choose_backend(X, device)
    result = run_solver(
        X,
        start_activities(X, programs),
        programs,
        solver=solver,
        beta=beta,
        max_iter=max_iter,
        tol=tol,
        device=backend,
        update_H=False,
        callback=callback,
        penalty=penalty,
    )
    return FixedFit(
        W=np.maximum(np.asarray(result.W, dtype=np.float64), 0.0),
        loss=np.asarray(result.loss, dtype=np.float64),
        n_iter=int(result.n_iter),
        converged=bool(result.converged),
        backend=backend.name,
    )
