"""Replicate NMF fits of one k, batched so that each iteration reads X once for all of them.

Orientation: ``X`` n × m (cells × genes); a replicate's programs are the rows of its H
(k × m). Replicates differ only by their seed. A batch of replicates is one stacked fit
(:mod:`scnmf._core.nmf.batch`) on the engine's ops, so numba and torch run the same solver
loop as :func:`~scnmf._core.nmf.fit.fit_nmf`, and the result of a replicate does not depend
on which batch it ran in (the fits never mix).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .._backends.select import Backend
from ..nmf.fit import run_solver
from ..nmf.init import initialize

#: Bytes the stacked factors and products of one batch may take (about six n × b·k arrays).
BATCH_BYTES = 1 << 29


@dataclass
class Replicates:
    """The programs and fit records of ``R`` replicates of one k.

    Attributes
    ----------
    spectra
        (R·k × m) float64 programs, replicate-major (replicate r: rows r·k … r·k + k − 1).
    loss, n_iter, converged
        (R,) final loss, iterations and convergence of each replicate.
    """

    spectra: np.ndarray
    loss: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray


def replicate_seeds(random_state: int | None, n_replicates: int) -> np.ndarray:
    """One seed per replicate, shared by every k (as cNMF does)."""
    return np.random.default_rng(random_state).integers(1, 2**31 - 1, size=n_replicates)


def batch_size(n_rows: int, k: int, n_replicates: int, itemsize: int) -> int:
    """Replicates per stacked fit, bounded by :data:`BATCH_BYTES`."""
    per_replicate = 6 * n_rows * k * itemsize
    return int(max(1, min(n_replicates, BATCH_BYTES // max(1, per_replicate))))


def split(seeds: np.ndarray, size: int) -> list[np.ndarray]:
    """Consecutive batches of at most ``size`` seeds."""
    return [seeds[start : start + size] for start in range(0, len(seeds), size)]


def _solver(solver: str, beta: float) -> str:
    if solver == "auto":
        return "hals" if beta == 2 else "mu"
    return solver


def fit_batch(
    X,
    k: int,
    seeds: Sequence[int],
    *,
    beta: float,
    solver: str,
    init: str,
    max_iter: int,
    tol: float,
    backend: Backend | str = "cpu",
) -> Replicates:
    """Fit the replicates ``seeds`` of rank ``k`` as one stacked problem on in-memory ``X``."""
    starts = [initialize(X, k, init, int(seed)) for seed in seeds]
    W = np.concatenate([W0 for W0, _ in starts], axis=1)
    H = np.concatenate([H0 for _, H0 in starts], axis=0)
    result = run_solver(
        X,
        W,
        H,
        solver=_solver(solver, beta),
        beta=beta,
        max_iter=max_iter,
        tol=tol,
        device=backend,
        groups=len(starts),
    )
    history = np.asarray(result.loss, dtype=np.float64).reshape(len(result.loss), -1)
    if len(starts) == 1:
        n_iter = np.array([result.n_iter], dtype=np.int64)
        converged = np.array([result.converged])
    else:
        n_iter, converged = result.extra["n_iter"], result.extra["converged"]
    return Replicates(
        spectra=np.asarray(result.H, dtype=np.float64),
        loss=history[-1].copy(),
        n_iter=np.asarray(n_iter, dtype=np.int64),
        converged=np.asarray(converged, dtype=bool),
    )


def merge(parts: Sequence[Replicates]) -> Replicates:
    """Batches of one k back in replicate order."""
    return Replicates(
        spectra=np.concatenate([p.spectra for p in parts], axis=0),
        loss=np.concatenate([p.loss for p in parts]),
        n_iter=np.concatenate([p.n_iter for p in parts]),
        converged=np.concatenate([p.converged for p in parts]),
    )


def fit_replicates(
    X,
    k: int,
    seeds: np.ndarray,
    *,
    backend: Backend,
    callback: Callable[[int], None] | None = None,
    **options,
) -> Replicates:
    """All replicates of one k on in-memory ``X`` (numba or torch), batch after batch.

    ``callback(n)`` after each batch, with the number of replicates it fitted.
    """
    itemsize = 8 if X.dtype == np.float64 else 4
    size = batch_size(X.shape[0], k, len(seeds), itemsize)
    parts = []
    for batch in split(seeds, size):
        parts.append(fit_batch(X, k, batch, backend=backend, **options))
        if callback is not None:
            callback(len(batch))
    return merge(parts)


def in_memory_copy(X):
    """A CSR or ndarray ``X`` as it is (the in-memory engines take both)."""
    return X.tocsr() if sp.issparse(X) else X
