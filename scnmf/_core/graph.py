"""Cell graphs: candidate edges (kNN ∪ MST), ε-graphs with heat-kernel weights, Laplacians.

Everything is sparse: a graph on ``n`` cells is held as a list of candidate edges
``(rows, cols, dists)`` (each undirected edge once, ``rows < cols``) sorted by length, so
the ε-graph ``{(i, j): d_ij < ε}`` is a prefix of that list and costs O(edges) to build.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numba as nb
import numpy as np
import scipy.sparse as sp

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


#: Points sampled per Borůvka round to find links between components (exhaustive, so the
#: links are the exact shortest ones, when the data has at most this many cells).
LINK_SAMPLE = 16384
#: Above this many components a round samples one point per component and pairs them by a
#: kNN search instead of the exhaustive sample-to-sample search.
LINK_MAX_GROUPS = 2048
#: Candidate partner components refined per component and round.
LINK_CANDIDATES = 6
#: Alternating nearest-neighbour rounds that refine a candidate link, and the width of
#: their beam (nearest points tried on the other side per step).
LINK_REFINE = 8
LINK_BEAM = 8
#: Memory (number of float64 distances) of one block of a distance computation.
_BLOCK = 1 << 22


@nb.njit(parallel=True, cache=True)
def _group_minima(
    G, q_sq, s_sq, row_group, col_start, best, arg_row, arg_col, row_offset
):  # pragma: no cover
    # best[a, b]: smallest squared distance |q|² + |s|² − 2 q·s (G holds q·s) from a sample
    # row of group a to a sample column of group b (b != a); parallel over target groups,
    # so each thread writes its own column.
    n_groups = col_start.size - 1
    for b in nb.prange(n_groups):
        c0, c1 = col_start[b], col_start[b + 1]
        for i in range(G.shape[0]):
            a = row_group[i]
            if a == b:
                continue
            cur = best[a, b]
            ci = -1
            for c in range(c0, c1):
                d = q_sq[i] + s_sq[c] - 2.0 * G[i, c]
                if d < cur:
                    cur = d
                    ci = c
            if ci >= 0:
                best[a, b] = max(cur, 0.0)
                arg_row[a, b] = row_offset + i
                arg_col[a, b] = ci


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


def _nearest_in_group(Xp, sq_p, starts, queries, targets, k: int = 1) -> np.ndarray:
    """The ``k`` nearest rows of each query's target group (rows ``starts[t]:starts[t + 1]``).

    ``queries`` are row positions in ``Xp``; so are the answers, (len(queries), k), with −1
    where the group has fewer than ``k`` rows. Queries sharing a target are answered by one
    blocked matrix product over that group's rows.
    """
    out = np.full((queries.size, k), -1, dtype=np.int64)
    for t in np.unique(targets):
        which = np.flatnonzero(targets == t)
        Q = Xp[queries[which]]
        q_sq = sq_p[queries[which]]
        t0, t1 = int(starts[t]), int(starts[t + 1])
        step = max(1024, _BLOCK // max(which.size, 1))
        best_d = np.full((which.size, k), np.inf)
        best_i = np.full((which.size, k), -1, dtype=np.int64)
        for c0 in range(t0, t1, step):
            c1 = min(c0 + step, t1)
            D2 = _sq_dists(Q, q_sq, Xp[c0:c1], sq_p[c0:c1])
            if k == 1:
                j = np.argmin(D2, axis=1)[:, None]
            elif k < D2.shape[1]:
                j = np.argpartition(D2, k - 1, axis=1)[:, :k]
            else:
                j = np.broadcast_to(np.arange(D2.shape[1]), D2.shape)
            cand_d = np.hstack([best_d, np.take_along_axis(D2, j, axis=1)])
            cand_i = np.hstack([best_i, c0 + j])
            sel = np.argsort(cand_d, axis=1, kind="stable")[:, :k]
            best_d = np.take_along_axis(cand_d, sel, axis=1)
            best_i = np.take_along_axis(cand_i, sel, axis=1)
        out[which] = best_i
    return out


def _refine_links(Xp, sq_p, starts, pa, pb, px, py, pd, active, n_refine: int, beam: int):
    """Shorten candidate links ``(px ∈ group pa, py ∈ group pb)`` in place.

    Alternating nearest-neighbour search: the ``beam`` nearest points of ``x`` in B, each
    with its nearest point in A, keep the shortest pair; then the same from ``y``'s side.
    A pass never lengthens a link; a link stops when neither side improves it.
    """
    stall = np.zeros(active.size, dtype=np.int64)
    for it in range(2 * n_refine):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        # even passes move y (search B from x), odd passes move x (search A from y)
        src, dst = (px, py) if it % 2 == 0 else (py, px)
        g_src, g_dst = (pa, pb) if it % 2 == 0 else (pb, pa)
        near = _nearest_in_group(Xp, sq_p, starts, src[idx], g_dst[idx], beam)  # (m, beam)
        flat = near.ravel()
        ok = flat >= 0
        back = np.full(flat.size, -1, dtype=np.int64)
        back[ok] = _nearest_in_group(
            Xp, sq_p, starts, flat[ok], np.repeat(g_src[idx], beam)[ok], 1
        )[:, 0]
        d = np.full(flat.size, np.inf)
        d[ok] = pair_distances(Xp, back[ok], flat[ok])
        j = np.argmin(d.reshape(-1, beam), axis=1)
        pick = np.arange(idx.size) * beam + j
        nd = d[pick]
        better = nd < pd[idx] * (1.0 - 1e-12)
        upd = idx[better]
        src[upd], dst[upd], pd[upd] = back[pick][better], flat[pick][better], nd[better]
        stall[upd] = 0
        stall[idx[~better]] += 1
        active &= stall < 2  # neither side improved: a mutually nearest (beam-local) pair


def _link_components(
    X,
    labels: np.ndarray,
    *,
    random_state: int | None = 0,
    sample: int = LINK_SAMPLE,
    max_groups: int = LINK_MAX_GROUPS,
    n_candidates: int = LINK_CANDIDATES,
    n_refine: int = LINK_REFINE,
    beam: int = LINK_BEAM,
) -> tuple[np.ndarray, ...]:
    """Edges joining the components ``labels`` (0 … c−1) into one: Borůvka rounds.

    Each round, every current group (union of components) is paired with its nearest other
    groups, measured on a random sample of at most ``sample`` points in all (exhaustive
    blocked search; when there are more than ``max_groups`` groups, one random point per
    group and a kNN search between them). Each candidate pair of points is then refined by
    alternating exact nearest-neighbour searches (``y ← nn of x in B``, ``x ← nn of y in A``,
    one blocked matrix product per target group), which never lengthens it and stops at a
    mutually nearest pair. Each group keeps its shortest link; the links join at least half
    of the groups per round (Kruskal on the links), so there are at most log₂ c rounds.

    When every point of two groups is in the sample, their link is the exact shortest edge
    between them (so data up to ``sample`` cells gets exact Borůvka rounds); otherwise it is
    locally shortest (mutual nearest neighbours), an upper bound on the shortest.

    Returns every refined candidate pair (rows, cols, exact Euclidean lengths), not only the
    links kept: all are genuine cell pairs and only improve the candidate set.
    Cost per round: O(sample² · p) for the sampled search plus O(n · p) per refinement
    pass; memory O(n · p) for one reordered copy of ``X``.
    """
    n = X.shape[0]
    rng = np.random.default_rng(random_state)
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64)
    else:
        X = np.ascontiguousarray(X, dtype=np.float64)
    sq = _row_norms_sq(X)
    comp = np.asarray(labels, dtype=np.int64)
    n_comp = int(comp.max()) + 1 if n else 0
    comp_group = np.arange(n_comp)  # union–find parents over components
    out_r, out_c, out_d = [], [], []

    def root(v: int) -> int:
        while comp_group[v] != v:
            comp_group[v] = comp_group[comp_group[v]]
            v = comp_group[v]
        return v

    while True:
        roots = np.array([root(v) for v in range(n_comp)], dtype=np.int64)
        _, comp_to_g = np.unique(roots, return_inverse=True)
        n_groups = int(comp_to_g.max()) + 1
        if n_groups <= 1:
            break
        g = comp_to_g[comp]
        order = np.lexsort((rng.random(n), g))  # grouped, random within each group
        starts = np.concatenate([[0], np.cumsum(np.bincount(g, minlength=n_groups))])
        sizes = np.diff(starts)
        Xp, sq_p = X[order], sq[order]
        per = sample // n_groups
        if n_groups <= max_groups and per >= 2:
            take = np.minimum(sizes, per)
            s_start = np.concatenate([[0], np.cumsum(take)])
            pos = np.repeat(starts[:-1] - s_start[:-1], take) + np.arange(s_start[-1])
            S, s_sq = Xp[pos], sq_p[pos]
            s_group = np.repeat(np.arange(n_groups), take)
            best = np.full((n_groups, n_groups), np.inf)
            arg_row = np.zeros((n_groups, n_groups), dtype=np.int64)
            arg_col = np.zeros((n_groups, n_groups), dtype=np.int64)
            step = max(1, _BLOCK // pos.size)
            for r0 in range(0, pos.size, step):
                r1 = min(r0 + step, pos.size)
                G = _dense_rows(S[r0:r1] @ S.T).astype(np.float64, copy=False)
                _group_minima(
                    G, s_sq[r0:r1], s_sq, s_group[r0:r1], s_start, best, arg_row, arg_col, r0
                )
            k = min(n_candidates, n_groups - 1)
            part = np.argpartition(best, k - 1, axis=1)[:, :k]  # the diagonal is inf
            pa = np.repeat(np.arange(n_groups), k)
            pb = part.ravel()
            keep = np.isfinite(best[pa, pb])
            pa, pb = pa[keep], pb[keep]
            px = pos[arg_row[pa, pb]]  # positions in Xp
            py = pos[arg_col[pa, pb]]
            full = take == sizes
        else:
            reps = starts[:-1]  # a random point of every group (positions in Xp)
            k = min(n_candidates, n_groups - 1)
            r, c, _ = knn_edges(Xp[reps], k, random_state=random_state)
            keep = (r != c) & (c >= 0)  # NN-descent marks missing neighbours with −1
            pa, pb = r[keep], c[keep]
            px, py = reps[pa], reps[pb]
            full = sizes == 1
        pd = pair_distances(Xp, px, py)
        active = ~(full[pa] & full[pb])  # exhaustively sampled pairs are already exact
        _refine_links(Xp, sq_p, starts, pa, pb, px, py, pd, active, n_refine, beam)
        gx, gy = order[px], order[py]
        out_r.append(gx)
        out_c.append(gy)
        out_d.append(pd)
        # Borůvka: every group's shortest link; Kruskal over them merges the groups.
        first = np.lexsort((np.maximum(gx, gy), np.minimum(gx, gy), pd, pa))
        first = first[np.r_[True, pa[first][1:] != pa[first][:-1]]]
        merged = 0
        for e in first[np.lexsort((gy[first], gx[first], pd[first]))]:
            a, b = root(int(comp[gx[e]])), root(int(comp[gy[e]]))
            if a != b:
                comp_group[max(a, b)] = min(a, b)
                merged += 1
        if merged == 0:  # only if an approximate search found no partner at all: chain
            reps = order[starts[:-1]]
            out_r.append(reps[:-1])
            out_c.append(reps[1:])
            out_d.append(pair_distances(X, reps[:-1], reps[1:]))
            break
    if not out_r:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(out_r), np.concatenate(out_c), np.concatenate(out_d)


def _insert_edges(base: EdgeList, rows, cols, dists) -> EdgeList:
    """``base`` plus a few new edges (none of them in ``base``), still sorted by length."""
    extra = _sorted_edges(base.n, rows, cols, dists, exact=False)
    if extra.n_edges == 0:
        return base
    at = np.searchsorted(base.dists, extra.dists, side="right")
    return EdgeList(
        base.n,
        np.insert(base.rows, at, extra.rows),
        np.insert(base.cols, at, extra.cols),
        np.insert(base.dists, at, extra.dists),
        base.exact,
        dict(base.timings),
    )


def candidate_edges(
    X,
    n_neighbors: int = 15,
    *,
    knn: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    exact_max_cells: int = EXACT_MAX_CELLS,
    prim_max_cells: int = PRIM_MAX_CELLS,
    random_state: int | None = 0,
) -> EdgeList:
    """Candidate edges for the ε-graph filtration: all pairs (small n) or kNN ∪ spanning tree.

    Parameters
    ----------
    X
        n × p representation (dense or CSR); rows are cells.
    n_neighbors
        Neighbours per cell for the kNN part.
    knn
        Precomputed directed kNN edges ``(rows, cols, dists)`` (e.g. scanpy's neighbour
        graph); computed from ``X`` when ``None``. Only the pairs are used: every length
        is recomputed exactly (float64) from ``X``.
    exact_max_cells
        Up to this many cells every pair is a candidate (exact, as the reference code).
    prim_max_cells
        Up to this many cells (dense ``X``) the spanning tree is the exact Euclidean MST.
    random_state
        Seed for approximate neighbour search and for the samples that link components.

    Returns
    -------
    EdgeList
        Sorted undirected edges, with the wall time of each stage in ``timings``. Beyond
        ``exact_max_cells`` they are the kNN edges plus a spanning tree. The ε-graph of
        these edges has the components of the full ε-graph at every ε when the tree is a
        Euclidean MST: exactly so up to ``prim_max_cells`` cells (dense Prim). Beyond, the
        kNN graph's components are joined by Borůvka rounds of links between components
        (:func:`_link_components`: exact shortest links up to ``LINK_SAMPLE`` cells,
        sampled then refined to mutually nearest pairs beyond). The minimum spanning tree
        of this candidate set can then over-estimate a death where a shorter bridge between
        two kNN-connected regions is not itself a kNN edge, or where the refinement stops
        at a locally shortest link between two kNN components. Time O(n·k log(n·k)) for
        the one sort by length, memory O(n · n_neighbors).
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    n = X.shape[0]
    if n <= exact_max_cells and knn is None:
        edges = all_pairs(X)
        edges.timings["all_pairs"] = time.perf_counter() - t0
        return edges
    if knn is None:
        knn = knn_edges(X, n_neighbors, random_state=random_state)
        timings["knn"] = time.perf_counter() - t0
    r, c = np.asarray(knn[0], dtype=np.int64), np.asarray(knn[1], dtype=np.int64)
    # Exact float64 lengths (kNN searches and scanpy store float32, sklearn the dot form), so
    # a reused graph gives the same edges as a recomputed one and matches the tree's lengths.
    t0 = time.perf_counter()
    d = pair_distances(X, r, c)
    timings["knn_lengths"] = time.perf_counter() - t0
    del knn
    if n <= prim_max_cells and not sp.issparse(X):
        t0 = time.perf_counter()
        tr, tc, _ = _prim_mst(np.ascontiguousarray(X, dtype=np.float64))
        td = pair_distances(X, tr, tc)  # Prim's sums may be vectorised: exact lengths here
        timings["prim_mst"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        rows = np.concatenate([r, tr])
        cols = np.concatenate([c, tc])
        edges = _sorted_edges(n, rows, cols, np.concatenate([d, td]), exact=False)
        timings["dedup_sort"] = time.perf_counter() - t0
        edges.timings.update(timings)
        return edges
    t0 = time.perf_counter()
    base = _sorted_edges(n, r, c, d, exact=False)
    del r, c, d
    timings["dedup_sort"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    labels, n_comp = connected_component_labels(n, base.rows, base.cols)
    timings["knn_components"] = time.perf_counter() - t0
    timings["n_knn_components"] = float(n_comp)
    if n_comp > 1:
        t0 = time.perf_counter()
        lr, lc, ld = _link_components(X, labels, random_state=random_state)
        timings["link_components"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        base = _insert_edges(base, lr, lc, np.maximum(ld, 0.0))
        timings["insert_links"] = time.perf_counter() - t0
    base.timings.update(timings)
    return base


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
