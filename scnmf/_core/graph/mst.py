"""Edge lists and spanning forests of cell graphs (Prim on small exact graphs, else Kruskal)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numba as nb
import numpy as np

#: Up to this many cells the candidate set is every pair (exact ε-graphs, as the reference).
EXACT_MAX_CELLS = 1000
#: Up to this many cells (dense representation) the spanning tree is the exact Euclidean MST
#: (Prim, O(n²·p) time, O(n·p) memory: ~5 s at 30,000 × 50); beyond, the kNN graph's
#: components joined by Borůvka links (see :func:`candidate_edges`).
PRIM_MAX_CELLS = 30000


@nb.njit(cache=True, fastmath={"reassoc", "contract"})
def _prim_mst(X):  # pragma: no cover - numba
    # Dense Prim on the implicit complete graph: distances are recomputed from the vertex
    # just added, so memory stays O(n) and lengths are exact up to rounding (difference
    # form, no dot-product trick; the sum over coordinates may be vectorised). Vertices not
    # yet in the tree are kept packed in Y[:m] (their ids in order[:m]), so iteration t
    # scans n − t contiguous rows. Serial on purpose: a parallel region per iteration costs
    # more than it saves, badly so on a busy machine.
    n, p = X.shape
    rows = np.empty(max(n - 1, 0), dtype=np.int64)
    cols = np.empty(max(n - 1, 0), dtype=np.int64)
    dists = np.empty(max(n - 1, 0), dtype=np.float64)
    if n < 2:
        return rows, cols, dists
    Y = np.empty((n, p), dtype=np.float64)
    for i in range(n):
        for c in range(p):
            Y[i, c] = X[i, c]
    order = np.arange(n)
    best = np.full(n, np.inf)  # squared distance to the tree
    parent = np.full(n, -1, dtype=np.int64)
    xc = Y[0].copy()
    cur = 0
    m = n - 1
    Y[0] = Y[m]
    order[0] = order[m]
    for it in range(n - 1):
        low = np.inf
        low_t = 0
        for t in range(m):
            acc = 0.0
            for c in range(p):
                diff = xc[c] - Y[t, c]
                acc += diff * diff
            if acc < best[t]:
                best[t] = acc
                parent[t] = cur
            if best[t] < low:
                low = best[t]
                low_t = t
        cur = order[low_t]
        rows[it] = parent[low_t]
        cols[it] = cur
        dists[it] = np.sqrt(low)
        xc[:] = Y[low_t]
        m -= 1
        Y[low_t] = Y[m]
        order[low_t] = order[m]
        best[low_t] = best[m]
        parent[low_t] = parent[m]
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
        float64 Euclidean lengths, non-decreasing (ties ordered by ``(rows, cols)``).
    exact
        Whether the list holds every pair (ε-graphs then equal the dense construction).
    timings
        Wall time in seconds of each construction stage (diagnostics; may be empty).
    """

    n: int
    rows: np.ndarray
    cols: np.ndarray
    dists: np.ndarray
    exact: bool
    timings: dict[str, float] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_edges(self) -> int:
        """Number of candidate edges."""
        return int(self.dists.size)


@nb.njit(cache=True)
def _first_of_each_pair(lo, hi, n):  # pragma: no cover - numba
    # Indices of the first occurrence of every (lo, hi) pair, in lexicographic (lo, hi) order:
    # a stable counting sort by lo, then a stable sort by hi inside each (short) bucket.
    m = lo.size
    start = np.zeros(n + 1, dtype=np.int64)
    for e in range(m):
        start[lo[e] + 1] += 1
    for v in range(n):
        start[v + 1] += start[v]
    fill = start[:-1].copy()
    order = np.empty(m, dtype=np.int64)
    for e in range(m):
        order[fill[lo[e]]] = e
        fill[lo[e]] += 1
    keep = np.empty(m, dtype=np.int64)
    n_keep = 0
    for v in range(n):
        a, b = start[v], start[v + 1]
        if b - a > 32:
            seg = order[a:b].copy()
            sub = np.argsort(hi[seg], kind="mergesort")
            for t in range(b - a):
                order[a + t] = seg[sub[t]]
        else:  # insertion sort (stable) on the few edges of a typical vertex
            for i in range(a + 1, b):
                e = order[i]
                j = i - 1
                while j >= a and hi[order[j]] > hi[e]:
                    order[j + 1] = order[j]
                    j -= 1
                order[j + 1] = e
        last = -1
        for i in range(a, b):
            e = order[i]
            if hi[e] != last:
                keep[n_keep] = e
                n_keep += 1
                last = hi[e]
    return keep[:n_keep]


def _sorted_edges(n: int, rows, cols, dists, exact: bool) -> EdgeList:
    """Undirected, deduplicated (first listing wins), self-loop-free edges sorted by length.

    Ties in length are ordered by ``(rows, cols)``. O(edges) apart from one sort by length.
    """
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    dists = np.asarray(dists, dtype=np.float64)
    lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
    keep = lo != hi
    if not keep.all():
        lo, hi, dists = lo[keep], hi[keep], dists[keep]
    first = _first_of_each_pair(lo, hi, n)  # kNN lists name most edges twice
    lo, hi, dists = lo[first], hi[first], dists[first]
    # (lo, hi) is already lexicographic, so a stable sort by length orders ties by (lo, hi).
    order = np.argsort(dists, kind="stable")
    return EdgeList(n, lo[order], hi[order], dists[order], exact)


@nb.njit(cache=True)
def _find(parent, v):  # pragma: no cover - numba
    while parent[v] != v:
        parent[v] = parent[parent[v]]  # path halving
        v = parent[v]
    return v


@nb.njit(cache=True)
def _kruskal(n, rows, cols):  # pragma: no cover - numba
    parent = np.arange(n)
    size = np.ones(n, dtype=np.int64)
    picked = np.empty(max(n - 1, 0), dtype=np.int64)
    n_picked = 0
    for e in range(rows.size):
        if n_picked == n - 1:
            break
        a = _find(parent, rows[e])
        b = _find(parent, cols[e])
        if a == b:
            continue
        if size[a] < size[b]:
            a, b = b, a
        parent[b] = a
        size[a] += size[b]
        picked[n_picked] = e
        n_picked += 1
    return picked[:n_picked]


@nb.njit(cache=True)
def _component_labels(n, rows, cols):  # pragma: no cover - numba
    parent = np.arange(n)
    for e in range(rows.size):
        a = _find(parent, rows[e])
        b = _find(parent, cols[e])
        if a != b:
            if a < b:
                parent[b] = a
            else:
                parent[a] = b
    labels = np.empty(n, dtype=np.int64)
    compact = np.full(n, -1, dtype=np.int64)
    n_comp = 0
    for v in range(n):
        r = _find(parent, v)
        if compact[r] < 0:
            compact[r] = n_comp
            n_comp += 1
        labels[v] = compact[r]
    return labels, n_comp


def minimum_spanning_forest(edges: EdgeList) -> np.ndarray:
    """Indices (into ``edges``) of a minimum spanning forest: Kruskal on the sorted list.

    O(edges · α(n)) with union–find. Its edge lengths are the finite H0 deaths of the
    filtration (elder rule), so its ε-graphs have the components of the full candidate set's.
    """
    return _kruskal(edges.n, edges.rows, edges.cols)


def connected_component_labels(n: int, rows, cols) -> tuple[np.ndarray, int]:
    """Component of every vertex (``0 … c−1``, numbered by first vertex) and ``c``."""
    labels, n_comp = _component_labels(
        n, np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    )
    return labels, int(n_comp)
