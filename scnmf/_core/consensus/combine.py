"""Combining replicate programs: unit norm, local-density filter, KMeans, clustergram order.

Orientation: ``X`` is n × m (cells × genes); programs are rows, so the ``N = n_replicates · k``
replicate programs of one k form an N × m array (replicate-major), and a consensus is k × m.
Everything here works on those small arrays only, never on ``X``.
"""

from __future__ import annotations

import numpy as np

from .result import ReplicateSet

#: At most this many programs enter the clustergram's correlation matrix (evenly thinned
#: along the clustergram order), so its size in ``.uns`` stays bounded however many
#: replicates ran.
MAX_CLUSTERGRAM = 1000

#: Distances materialised at once by :func:`local_density` (32 MiB of float64).
BLOCK_ENTRIES = 1 << 22

#: Programs above which :func:`cluster_programs` scores the silhouette on a fixed sample.
SILHOUETTE_SAMPLE = 5000

#: Largest cluster ordered by average linkage in :func:`replicate_set` (its condensed
#: distance matrix is 64 MiB); larger clusters are ordered by distance to their mean.
MAX_LINKAGE = 4000


def unit_rows(spectra: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm.

    Parameters
    ----------
    spectra
        N × m programs (rows), e.g. the replicate programs of one k.

    Returns
    -------
    numpy.ndarray
        N × m float64 copy with unit-norm rows; a zero row stays zero.
    """
    unit = np.array(spectra, dtype=np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", unit, unit))
    nonzero = norms > 0
    unit[nonzero] /= norms[nonzero, None]
    return unit


def local_density(
    unit: np.ndarray,
    n_replicates: int,
    neighborhood_size: float,
    *,
    block_entries: int = BLOCK_ENTRIES,
) -> np.ndarray:
    """Mean Euclidean distance of each program to its nearest other programs (cNMF's filter).

    Parameters
    ----------
    unit
        N × m programs (rows), normally unit-norm (:func:`unit_rows`).
    n_replicates
        Replicates the programs come from: the neighbourhood is
        ``max(1, int(neighborhood_size · n_replicates))`` programs (at most N − 1).
    neighborhood_size
        Fraction of the replicates forming the neighbourhood.
    block_entries
        Distances held at once: rows are processed in blocks of ``block_entries // N``, so
        memory stays O(block_entries) instead of O(N²).

    Returns
    -------
    numpy.ndarray
        (N,) float64 mean distance to the nearest other programs (the program itself is
        excluded by index, so an exact duplicate counts as a neighbour at distance 0).
        All zeros when N = 1.
    """
    unit = np.asarray(unit, dtype=np.float64)
    N = unit.shape[0]
    n_neighbors = min(max(1, int(neighborhood_size * n_replicates)), N - 1)
    density = np.zeros(N, dtype=np.float64)
    if n_neighbors < 1:
        return density
    sq_norms = np.einsum("ij,ij->i", unit, unit)
    step = max(1, block_entries // N)
    for start in range(0, N, step):
        stop = min(N, start + step)
        # |a − b|² = |a|² + |b|² − 2 a·b: one matrix product per block (a zero row has
        # |a|² = 0, so it sits at distance |b| from b, not √2 as the unit-row shortcut says).
        sq = sq_norms[start:stop, None] + sq_norms[None, :] - 2.0 * (unit[start:stop] @ unit.T)
        np.maximum(sq, 0.0, out=sq)
        rows = np.arange(stop - start)
        sq[rows, start + rows] = np.inf
        nearest = np.partition(sq, n_neighbors - 1, axis=1)[:, :n_neighbors]
        density[start:stop] = np.sqrt(nearest).mean(axis=1)
    return density


def _cluster_medians(unit: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    medians = np.zeros((k, unit.shape[1]), dtype=np.float64)
    for c in range(k):
        members = unit[labels == c]
        if members.shape[0]:
            medians[c] = np.median(members, axis=0)
    totals = medians.sum(axis=1)
    positive = totals > 0
    medians[positive] /= totals[positive, None]
    return medians


def _silhouette(unit: np.ndarray, labels: np.ndarray, random_state: int) -> float:
    from sklearn.metrics import silhouette_score

    if unit.shape[0] > SILHOUETTE_SAMPLE:
        # A fixed sample: silhouette costs O(N²) distances, and 5,000 programs estimate it
        # to about ±0.01, far finer than the differences between k it is read for.
        rng = np.random.default_rng(random_state)
        sample = np.sort(rng.choice(unit.shape[0], SILHOUETTE_SAMPLE, replace=False))
        unit, labels = unit[sample], labels[sample]
    n_labels = np.unique(labels).size
    if n_labels < 2 or n_labels >= unit.shape[0]:  # silhouette is undefined there
        return 0.0
    return float(silhouette_score(unit, labels, metric="euclidean"))


def cluster_programs(
    unit: np.ndarray, k: int, random_state: int = 1
) -> tuple[np.ndarray, np.ndarray, float]:
    """KMeans of the programs into k clusters, their medians and the silhouette.

    Parameters
    ----------
    unit
        N × m unit-norm programs (rows), e.g. those the density filter kept.
    k
        Number of clusters (consensus programs).
    random_state
        Seed of KMeans (cNMF uses 1) and of the silhouette's sample for N > 5,000.

    Returns
    -------
    labels
        (N,) int64 cluster of each program, 0 … k − 1.
    medians
        k × m float64 elementwise median of each cluster's programs, rows renormalised to
        sum 1 (a median that is all zero, or an empty cluster, stays a zero row).
    silhouette
        Euclidean silhouette of the clustering (on a fixed sample of 5,000 programs when
        N > 5,000); 0.0 where it is undefined (fewer than 2 clusters used, or N ≤ k).

    Raises
    ------
    ValueError
        Fewer than k programs (e.g. the density filter dropped too many).
    """
    from sklearn.cluster import KMeans

    unit = np.asarray(unit, dtype=np.float64)
    if unit.shape[0] < k:
        raise ValueError(
            f"Only {unit.shape[0]} replicate programs to cluster into k = {k} programs: "
            "raise density_threshold (2 keeps every program) or run more replicates."
        )
    model = KMeans(n_clusters=k, n_init=10, random_state=random_state).fit(unit)
    labels = model.labels_.astype(np.int64)
    medians = _cluster_medians(unit, labels, k)
    silhouette = 0.0 if unit.shape[0] <= k else _silhouette(unit, labels, random_state)
    return labels, medians, silhouette


def _group_order(members: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """One cluster's members in average-linkage leaf order.

    Above :data:`MAX_LINKAGE` members (where linkage's N² distances would be too large) they
    are ordered by distance to their mean instead.
    """
    if members.size < 3:
        return members
    points = unit[members]
    if members.size > MAX_LINKAGE:
        spread = np.linalg.norm(points - points.mean(axis=0), axis=1)
        return members[np.argsort(spread, kind="stable")]
    from scipy.cluster.hierarchy import leaves_list, linkage

    return members[leaves_list(linkage(points, method="average", metric="euclidean"))]


def _thin(order: np.ndarray, at_most: int) -> np.ndarray:
    if order.size <= at_most:
        return order.copy()
    # Spacing > 1 when there are more programs than slots, so rounding never repeats one.
    return order[np.round(np.linspace(0, order.size - 1, at_most)).astype(np.int64)]


def _correlation(rows: np.ndarray) -> np.ndarray:
    if rows.shape[0] == 0:
        return np.zeros((0, 0), dtype=np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.atleast_2d(np.corrcoef(rows))
    # A constant program has no defined correlation: show it uncorrelated with the rest.
    corr = np.nan_to_num(corr, nan=0.0, posinf=0.0, neginf=0.0)
    np.fill_diagonal(corr, 1.0)
    return corr.astype(np.float32)


def replicate_set(
    unit: np.ndarray, density: np.ndarray, kept: np.ndarray, labels: np.ndarray
) -> ReplicateSet:
    """The clustergram record of one k: order, thinned correlation, filter and labels.

    Parameters
    ----------
    unit
        N × m unit-norm replicate programs (rows), replicate-major.
    density
        (N,) local density (:func:`local_density`).
    kept
        (N,) bool, programs that passed the density filter.
    labels
        (N,) cluster of every program, −1 for the filtered ones.

    Returns
    -------
    ReplicateSet
        ``order``: the kept programs grouped by label 0 … k − 1, each group in average-linkage
        leaf order, then the filtered programs by increasing density; ``correlation``: the
        float32 Pearson correlation of the programs ``correlation_index`` (``order`` evenly
        thinned to at most :data:`MAX_CLUSTERGRAM`), finite, with unit diagonal.
    """
    unit = np.asarray(unit, dtype=np.float64)
    density = np.asarray(density, dtype=np.float64)
    kept = np.asarray(kept, dtype=bool)
    labels = np.asarray(labels, dtype=np.int64)
    n_groups = int(labels[kept].max()) + 1 if kept.any() else 0
    groups = [_group_order(np.flatnonzero(kept & (labels == c)), unit) for c in range(n_groups)]
    filtered = np.flatnonzero(~kept)
    filtered = filtered[np.argsort(density[filtered], kind="stable")]
    order = np.concatenate([*groups, filtered]).astype(np.int64)
    index = _thin(order, MAX_CLUSTERGRAM)
    return ReplicateSet(
        local_density=density.copy(),
        kept=kept.copy(),
        labels=labels.copy(),
        order=order,
        correlation=_correlation(unit[index]),
        correlation_index=index,
    )
