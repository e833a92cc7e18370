"""Cell graphs: candidate edges (kNN ∪ MST), ε-graphs with heat-kernel weights, Laplacians.

Everything is sparse: a graph on ``n`` cells is held as a list of candidate edges
``(rows, cols, dists)`` (each undirected edge once, ``rows < cols``) sorted by length, so
the ε-graph ``{(i, j): d_ij < ε}`` is a prefix of that list and costs O(edges) to build.
"""

from __future__ import annotations

import time

import numba as nb
import numpy as np
import scipy.sparse as sp

from .distances import (
    _BLOCK,
    _dense_rows,
    _row_norms_sq,
    _sq_dists,
    all_pairs,
    knn_edges,
    pair_distances,
)
from .mst import (
    EXACT_MAX_CELLS,
    PRIM_MAX_CELLS,
    EdgeList,
    _prim_mst,
    _sorted_edges,
    connected_component_labels,
)

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
