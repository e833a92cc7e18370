"""``fit_consensus``: replicate NMF fits for every k, their consensus, and the k-selection table.

Orientation: ``X`` n × m (cells × genes); programs are rows (k × m), usage is n × k.

Following cNMF (Kotliar et al. 2019): every k gets ``n_replicates`` seeded fits (batched, see
:mod:`.replicates`); their programs, scaled to unit length, are clustered into k groups
whose medians are the consensus programs; usage is refit with the programs fixed. The
k-selection table uses every replicate (cNMF's k-selection plot does not filter); the
stored consensus of the selected k first drops outlier programs by local density.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from .._backends.select import Backend, choose_backend
from . import combine, refit
from .replicates import Replicates, fit_batch, fit_replicates, merge, replicate_seeds, split
from .result import ConsensusFit

#: Stabilities closer than this count as equal when selecting k (the smaller k wins).
STABILITY_TIE = 1e-3


def _one_thread():
    """BLAS and OpenMP on one thread for the clustering of the (few hundred) programs.

    KMeans on a few hundred programs is microseconds of work per call; with every core's
    BLAS thread spinning (and the numba pool beside it) it was 100× slower on a busy
    2-core machine (7 s against 0.09 s per KMeans).
    """
    return threadpool_limits(limits=1)


def select_k(ks: np.ndarray, stability: np.ndarray) -> int:
    """The most stable k: the largest silhouette, the smaller k among near ties."""
    best = float(np.max(stability))
    return int(ks[np.flatnonzero(stability >= best - STABILITY_TIE)[0]])


def _replicates_on_dask(X, ks, seeds, options, callback) -> dict[int, Replicates]:
    """Replicate batches of every k as tasks on the cluster; only the programs come back."""
    from .._backends.dask import active_client, tasks_on_matrix

    client = active_client()
    workers = max(1, sum(client.nthreads().values())) if client is not None else 1
    size = max(1, -(-len(seeds) // workers))  # at least one batch per worker thread
    tasks = [(k, batch) for k in ks for batch in split(seeds, size)]
    done: dict[int, Replicates] = {}

    def on_done(index: int, result: Replicates) -> None:
        done[index] = result
        if callback is not None:
            callback(len(tasks[index][1]))

    worker_options = dict(options, backend=Backend("numba"))
    tasks_on_matrix(X, _fit_task, [(k, batch, worker_options) for k, batch in tasks], on_done)
    per_k: dict[int, list[Replicates]] = {int(k): [] for k in ks}
    for index, (k, _) in enumerate(tasks):
        per_k[int(k)].append(done[index])
    return {k: merge(parts) for k, parts in per_k.items()}


def _fit_task(X, k: int, seeds: np.ndarray, options: dict) -> Replicates:
    return fit_batch(X, k, seeds, **options)


def fit_consensus(
    X,
    ks: Sequence[int],
    *,
    n_replicates: int = 100,
    beta: float = 2.0,
    solver: str = "auto",
    init: str = "random",
    max_iter: int = 1000,
    tol: float = 1e-4,
    density_threshold: float = 0.5,
    local_neighborhood_size: float = 0.3,
    select: int | None = None,
    random_state: int | None = 0,
    device: str | Backend = "auto",
    score_matrix=None,
    callback: Callable[[int], None] | None = None,
) -> ConsensusFit:
    """Consensus NMF over every k of ``ks`` (options validated by the caller).

    Parameters
    ----------
    X
        n × m nonnegative data (ndarray, CSR, or a dask array chunked along rows: then the
        replicate batches run as tasks on the active ``dask.distributed`` client).
    ks
        Ranks to try.
    n_replicates
        Seeded fits per k (the same seeds for every k).
    beta, solver, init, max_iter, tol
        Of every replicate fit and of the usage refits (``solver='auto'``: HALS for β = 2,
        else MU).
    density_threshold, local_neighborhood_size
        The outlier filter of the selected k: programs whose mean distance to their
        ``local_neighborhood_size · n_replicates`` nearest programs is not below the
        threshold are dropped before clustering.
    select
        The k to return the consensus of; ``None``: :func:`select_k`.
    random_state
        Seeds the replicates (:func:`.replicates.replicate_seeds`).
    device
        ``'auto'``, ``'cpu'`` or a CUDA device (torch) for in-memory ``X``.
    score_matrix
        n × m' matrix whose z-scored genes are regressed on the usage for the gene
        specificity scores (default ``X``).
    callback
        ``callback(n)`` after each batch, with the number of replicate fits it finished.

    Returns
    -------
    ConsensusFit
        The selected consensus and the per-k table (see :class:`.result.ConsensusFit`).
    """
    backend = choose_backend(X, device)
    ks = np.array(sorted({int(k) for k in ks}), dtype=np.int64)
    seeds = replicate_seeds(random_state, n_replicates)
    options = dict(beta=float(beta), solver=solver, init=init, max_iter=max_iter, tol=tol)
    if backend.kind == "dask":
        fits = _replicates_on_dask(X, ks, seeds, options, callback)
    else:
        fits = {
            int(k): fit_replicates(X, int(k), seeds, backend=backend, callback=callback, **options)
            for k in ks
        }
    refit_options = dict(
        beta=float(beta), solver=solver, max_iter=max_iter, tol=tol, device=backend
    )

    stability, error, n_kept = [], [], []
    units, densities = {}, {}
    for k in ks:
        unit = combine.unit_rows(fits[int(k)].spectra)
        with _one_thread():
            _, medians, silhouette = combine.cluster_programs(unit, int(k))
            density = combine.local_density(unit, n_replicates, local_neighborhood_size)
        usage = refit.refit_usage(X, medians, **refit_options)
        err = refit.reconstruction_error(X, usage, medians, float(beta))
        units[int(k)], densities[int(k)] = unit, density
        stability.append(silhouette)
        error.append(err)
        n_kept.append(int(np.count_nonzero(density < density_threshold)))
    stability_arr = np.asarray(stability, dtype=np.float64)
    chosen = int(select) if select is not None else select_k(ks, stability_arr)

    unit, density = units[chosen], densities[chosen]
    kept = density < density_threshold
    if np.count_nonzero(kept) < chosen:
        raise ValueError(
            f"Only {np.count_nonzero(kept)} replicate programs of k={chosen} pass "
            f"density_threshold={density_threshold} (local densities from "
            f"{density.min():.3g}), fewer than the {chosen} clusters needed; raise "
            "density_threshold (2 keeps every program) or n_replicates."
        )
    with _one_thread():
        kept_labels, medians, _ = combine.cluster_programs(unit[kept], chosen)
    usage = refit.refit_usage(X, medians, **refit_options)
    usage = refit.normalise_usage(usage)
    order = np.argsort(-usage.sum(axis=0), kind="stable")
    usage, medians = usage[:, order], medians[order]
    relabel = np.empty(chosen, dtype=np.int64)
    relabel[order] = np.arange(chosen)
    labels = np.full(len(unit), -1, dtype=np.int64)
    labels[kept] = relabel[kept_labels]
    scores = refit.gene_scores(X if score_matrix is None else score_matrix, usage)

    with _one_thread():
        replicate_set = combine.replicate_set(unit, density, kept, labels)
    loss = np.vstack([fits[int(k)].loss for k in ks])
    n_iter = np.vstack([fits[int(k)].n_iter for k in ks])
    converged = np.vstack([fits[int(k)].converged for k in ks])
    n_kept_arr = np.asarray(n_kept, dtype=np.int64)
    return ConsensusFit(
        ks=ks,
        stability=stability_arr,
        error=np.asarray(error, dtype=np.float64),
        n_kept=n_kept_arr,
        n_filtered=ks * n_replicates - n_kept_arr,
        k=chosen,
        usage=usage,
        programs=medians,
        gene_scores=scores,
        replicates=replicate_set,
        replicate_loss=loss,
        n_iter=n_iter,
        converged=converged,
        backend=backend.name,
    )
