"""Euclidean distances between cells: all pairs (small data), kNN edges, pairs by index."""

from __future__ import annotations

import numba as nb
import numpy as np
import scipy.sparse as sp

from .mst import EdgeList, _sorted_edges


def _row_norms_sq(X) -> np.ndarray:
    if sp.issparse(X):
        return np.asarray(X.multiply(X).sum(axis=1), dtype=np.float64).ravel()
    return np.einsum("ij,ij->i", X, X, dtype=np.float64)


def all_pairs(X) -> EdgeList:
    """Every pair of rows of ``X`` as a candidate edge (small ``n`` only: O(n²) memory)."""
    n = X.shape[0]
    rows, cols = np.triu_indices(n, k=1)
    if sp.issparse(X):
        from sklearn.metrics.pairwise import euclidean_distances

        dists = euclidean_distances(X.astype(np.float64))[rows, cols]
    else:
        from scipy.spatial.distance import pdist

        # pdist is exact (duplicate cells are at distance 0, not ~1e-8 as with the dot trick).
        dists = pdist(np.asarray(X, dtype=np.float64))
    return _sorted_edges(n, rows, cols, dists, exact=True)


def knn_edges(X, n_neighbors: int, random_state: int | None = 0) -> tuple[np.ndarray, ...]:
    """Directed kNN edges ``(rows, cols, dists)`` of the rows of ``X`` (self excluded).

    Exact (scikit-learn) up to 20,000 cells, NN-descent (pynndescent) beyond.
    """
    n = X.shape[0]
    k = min(n_neighbors, n - 1)
    if n <= 20000:
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(n_neighbors=k + 1).fit(X)
        dist, idx = nn.kneighbors(X)
    else:
        from pynndescent import NNDescent

        index = NNDescent(X, n_neighbors=k + 1, random_state=random_state, n_jobs=-1)
        idx, dist = index.neighbor_graph
    rows = np.repeat(np.arange(n), idx.shape[1])
    return rows, idx.ravel().astype(np.int64), dist.ravel().astype(np.float64)


#: Memory (number of float64 distances) of one block of a distance computation.
_BLOCK = 1 << 22


def _dense_rows(M) -> np.ndarray:
    return M.toarray() if sp.issparse(M) else np.asarray(M)


def _sq_dists(Q, q_sq, T, t_sq) -> np.ndarray:
    """Squared Euclidean distances ``|q − t|²`` (dot-product form, clipped at 0)."""
    D2 = _dense_rows(Q @ T.T).astype(np.float64, copy=False)
    D2 *= -2.0
    D2 += q_sq[:, None]
    D2 += t_sq[None, :]
    np.maximum(D2, 0.0, out=D2)
    return D2


@nb.njit(parallel=True, cache=True)
def _dense_pair_dists(X, a, b):  # pragma: no cover - numba
    out = np.empty(a.size)
    for e in nb.prange(a.size):
        i, j = a[e], b[e]
        acc = 0.0
        for c in range(X.shape[1]):
            diff = np.float64(X[i, c]) - np.float64(X[j, c])
            acc += diff * diff
        out[e] = np.sqrt(acc)
    return out


@nb.njit(parallel=True, cache=True)
def _csr_pair_dists(indptr, indices, data, a, b):  # pragma: no cover - numba
    # Sorted column indices: merge the two rows' nonzeros.
    out = np.empty(a.size)
    for e in nb.prange(a.size):
        p, p_end = indptr[a[e]], indptr[a[e] + 1]
        q, q_end = indptr[b[e]], indptr[b[e] + 1]
        acc = 0.0
        while p < p_end or q < q_end:
            if q >= q_end or (p < p_end and indices[p] < indices[q]):
                v = np.float64(data[p])
                p += 1
            elif p >= p_end or indices[q] < indices[p]:
                v = np.float64(data[q])
                q += 1
            else:
                v = np.float64(data[p]) - np.float64(data[q])
                p += 1
                q += 1
            acc += v * v
        out[e] = np.sqrt(acc)
    return out


def pair_distances(X, a, b) -> np.ndarray:
    """Exact Euclidean distances (float64, difference form) between rows ``a[i]`` and ``b[i]``.

    O(len(a) · p) time, no temporaries of that size (dense or CSR ``X``).
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if a.size == 0:
        return np.zeros(0)
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        if not X.has_sorted_indices:
            X = X.sorted_indices()
        return _csr_pair_dists(X.indptr, X.indices, X.data, a, b)
    return _dense_pair_dists(np.ascontiguousarray(X), a, b)
