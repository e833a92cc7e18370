"""Cell graphs: candidate edges (kNN ∪ MST), ε-graphs with heat-kernel weights, Laplacians.

Everything is sparse: a graph on ``n`` cells is held as a list of candidate edges
``(rows, cols, dists)`` (each undirected edge once, ``rows < cols``) sorted by length, so
the ε-graph ``{(i, j): d_ij < ε}`` is a prefix of that list and costs O(edges) to build.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
import scipy.sparse as sp

#: Up to this many cells the candidate set is every pair (exact ε-graphs, as the reference).
EXACT_MAX_CELLS = 1000
#: Up to this many cells (dense representation) the spanning tree is the exact Euclidean MST
#: (Prim, O(n²·p) time, O(n) memory); beyond, kNN minimum spanning forest + exact links.
PRIM_MAX_CELLS = 30000


@nb.njit(parallel=True, cache=True)
def _prim_mst(X):  # pragma: no cover - numba
    # Dense Prim on the implicit complete graph: distances are recomputed from the vertex
    # just added, so memory stays O(n) and lengths are exact (no dot-product trick).
    n, p = X.shape
    in_tree = np.zeros(n, dtype=np.bool_)
    best = np.full(n, np.inf)
    parent = np.full(n, -1, dtype=np.int64)
    rows = np.empty(n - 1, dtype=np.int64)
    cols = np.empty(n - 1, dtype=np.int64)
    dists = np.empty(n - 1, dtype=np.float64)
    cur = 0
    in_tree[0] = True
    for it in range(n - 1):
        for j in nb.prange(n):
            if not in_tree[j]:
                acc = 0.0
                for c in range(p):
                    diff = X[cur, c] - X[j, c]
                    acc += diff * diff
                d = np.sqrt(acc)
                if d < best[j]:
                    best[j] = d
                    parent[j] = cur
        nxt = -1
        low = np.inf
        for j in range(n):
            if not in_tree[j] and best[j] < low:
                low = best[j]
                nxt = j
        in_tree[nxt] = True
        rows[it] = parent[nxt]
        cols[it] = nxt
        dists[it] = low
        cur = nxt
    return rows, cols, dists


@dataclass
class EdgeList:
    """Undirected candidate edges sorted by length (each edge once, ``rows < cols``).

    Attributes
    ----------
    n
        Number of vertices (cells).
    rows, cols
        int64 endpoints.
    dists
        float64 Euclidean lengths, non-decreasing.
    exact
        Whether the list holds every pair (ε-graphs then equal the dense construction).
    """

    n: int
    rows: np.ndarray
    cols: np.ndarray
    dists: np.ndarray
    exact: bool

    @property
    def n_edges(self) -> int:
        """Number of candidate edges."""
        return int(self.dists.size)


def _sorted_edges(n: int, rows, cols, dists, exact: bool) -> EdgeList:
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    dists = np.asarray(dists, dtype=np.float64)
    lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
    keep = lo != hi
    lo, hi, dists = lo[keep], hi[keep], dists[keep]
    # Deduplicate undirected pairs (kNN lists name most edges twice).
    key = lo * n + hi
    key, first = np.unique(key, return_index=True)
    lo, hi, dists = lo[first], hi[first], dists[first]
    order = np.lexsort((hi, lo, dists))  # deterministic order among ties
    return EdgeList(n, lo[order], hi[order], dists[order], exact)


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


def _link_components(X, labels: np.ndarray) -> tuple[np.ndarray, ...]:
    """Shortest edge from each component to the rest (one Borůvka round, exact queries)."""
    from sklearn.neighbors import NearestNeighbors

    rows, cols, dists = [], [], []
    for c in np.unique(labels):
        inside = np.flatnonzero(labels == c)
        outside = np.flatnonzero(labels != c)
        nn = NearestNeighbors(n_neighbors=1).fit(X[outside])
        d, j = nn.kneighbors(X[inside])
        best = int(np.argmin(d[:, 0]))
        rows.append(inside[best])
        cols.append(outside[j[best, 0]])
        dists.append(d[best, 0])
    return np.asarray(rows), np.asarray(cols), np.asarray(dists, dtype=np.float64)


def candidate_edges(
    X,
    n_neighbors: int = 15,
    *,
    knn: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    exact_max_cells: int = EXACT_MAX_CELLS,
    prim_max_cells: int = PRIM_MAX_CELLS,
    random_state: int | None = 0,
) -> EdgeList:
    """Candidate edges for the ε-graph filtration: all pairs (small n) or kNN ∪ MST.

    Parameters
    ----------
    X
        n × p representation (dense or CSR); rows are cells.
    n_neighbors
        Neighbours per cell for the kNN part.
    knn
        Precomputed directed kNN edges ``(rows, cols, dists)`` (e.g. scanpy's neighbour
        graph); computed from ``X`` when ``None``.
    exact_max_cells
        Up to this many cells every pair is a candidate (exact, as the reference code).
    prim_max_cells
        Up to this many cells (dense ``X``) the spanning tree is the exact Euclidean MST.
    random_state
        Seed for approximate neighbour search.

    Returns
    -------
    EdgeList
        Sorted undirected edges. Beyond ``exact_max_cells`` they are the kNN edges plus a
        spanning tree. The ε-graph of these edges has the components of the full ε-graph at
        every ε when the tree is a Euclidean MST: exactly so up to ``prim_max_cells`` cells
        (dense Prim). Beyond, the tree is the minimum spanning forest of the kNN graph with
        its components joined by Borůvka rounds of exact nearest-inter-component queries,
        which can over-estimate a death where a shorter bridge between two kNN-connected
        regions is not itself a kNN edge.
    """
    n = X.shape[0]
    if n <= exact_max_cells and knn is None:
        return all_pairs(X)
    if knn is None:
        knn = knn_edges(X, n_neighbors, random_state=random_state)
    r, c, d = knn
    if n <= prim_max_cells and not sp.issparse(X):
        tr, tc, td = _prim_mst(np.ascontiguousarray(X, dtype=np.float64))
        rows = np.concatenate([r, tr])
        cols = np.concatenate([c, tc])
        return _sorted_edges(n, rows, cols, np.concatenate([d, td]), exact=False)
    from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

    base = _sorted_edges(n, r, c, d, exact=False)
    # Zero-length edges (duplicate cells) would vanish from a sparse matrix: shift by a tiny
    # constant for the spanning-tree search only; the lengths kept are the true ones.
    shift = 1.0 + base.dists.max(initial=0.0)
    G = sp.coo_matrix((base.dists + shift, (base.rows, base.cols)), shape=(n, n)).tocsr()
    T = minimum_spanning_tree(G).tocoo()
    tree_r, tree_c = [T.row], [T.col]
    tree_d = [T.data - shift]
    n_comp, labels = connected_components(T, directed=False)
    while n_comp > 1:
        lr, lc, ld = _link_components(X, labels)
        tree_r.append(lr)
        tree_c.append(lc)
        tree_d.append(ld)
        links = sp.coo_matrix((np.ones(lr.size), (lr, lc)), shape=(n, n))
        n_comp, labels = connected_components(T + links, directed=False)
        T = (T + links).tocoo()
    rows = np.concatenate([base.rows, *tree_r])
    cols = np.concatenate([base.cols, *tree_c])
    dists = np.concatenate([base.dists, *tree_d])
    return _sorted_edges(n, rows, cols, np.maximum(dists, 0.0), exact=False)


def heat_weights(dists: np.ndarray, eps: float) -> np.ndarray:
    """Edge weights ``exp(−d² / ε^1.5)`` (the reference's kernel)."""
    return np.exp(-(dists**2) / eps**1.5)


def epsilon_graph(edges: EdgeList, eps: float) -> sp.csr_matrix:
    """Symmetric weighted adjacency of the ε-graph: edge iff ``d < ε``, no self-loops."""
    m = int(np.searchsorted(edges.dists, eps, side="left"))
    r, c = edges.rows[:m], edges.cols[:m]
    w = heat_weights(edges.dists[:m], eps)
    A = sp.coo_matrix(
        (np.concatenate([w, w]), (np.concatenate([r, c]), np.concatenate([c, r]))),
        shape=(edges.n, edges.n),
    ).tocsr()
    A.sum_duplicates()
    return A


def degrees(A: sp.spmatrix) -> np.ndarray:
    """Weighted degree vector of a symmetric adjacency."""
    return np.asarray(A.sum(axis=1), dtype=np.float64).ravel()


def laplacian(A: sp.spmatrix) -> sp.csr_matrix:
    """Unnormalised Laplacian ``L = D − A`` (sparse)."""
    return (sp.diags(degrees(A)) - A).tocsr()


def knn_graph(X, n_neighbors: int = 5, *, weight: str = "heat", random_state: int | None = 0):
    """Symmetric kNN adjacency for GNMF (Cai et al. 2011).

    Parameters
    ----------
    X
        n × p data, rows are cells.
    n_neighbors
        Neighbours per cell; an edge is kept when either end lists the other.
    weight
        ``'heat'``: ``exp(−d² / σ²)`` with σ the mean kNN distance; ``'binary'``: 1.
    random_state
        Seed for approximate neighbour search (large n).

    Returns
    -------
    scipy.sparse.csr_matrix
        n × n symmetric adjacency, zero diagonal.
    """
    n = X.shape[0]
    r, c, d = knn_edges(X, n_neighbors, random_state=random_state)
    edges = _sorted_edges(n, r, c, d, exact=False)
    if weight == "binary":
        w = np.ones(edges.n_edges)
    elif weight == "heat":
        sigma2 = float(np.mean(edges.dists**2)) or 1.0
        w = np.exp(-(edges.dists**2) / sigma2)
    else:
        raise ValueError(f"Unknown weight {weight!r}; use 'heat' or 'binary'.")
    A = sp.coo_matrix(
        (
            np.concatenate([w, w]),
            (np.concatenate([edges.rows, edges.cols]), np.concatenate([edges.cols, edges.rows])),
        ),
        shape=(n, n),
    ).tocsr()
    return A
