"""Reuse of ``sc.pp.neighbors``' graph, and the candidate edges of the cell graph.

``tl.persistence`` builds its cell graph from candidate edges: every pair of cells on
small data, else kNN edges plus a spanning tree. The kNN edges come from scanpy's graph
when it was built on the same representation with the Euclidean metric (checked on a
sample of its distances, so a stale graph is never silently reused), else they are
computed. ``tl.pnmf`` rebuilds the same edges from a persistence record's ``params``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp
from anndata import AnnData
from scanpy import logging as logg

from .. import _keys as C
from .._core.graph.distances import pair_distances
from .._core.graph.edges import candidate_edges
from .._core.graph.mst import EdgeList
from ._matrix import representation

#: Stored kNN distances checked against the representation before a graph is reused.
N_DISTANCE_CHECKS = 1000


def distances_key(adata: AnnData, neighbors_key: str) -> str:
    """``obsp`` key of the distances of ``uns[neighbors_key]`` (KeyError naming the fix)."""
    if neighbors_key not in adata.uns or not isinstance(adata.uns[neighbors_key], Mapping):
        raise KeyError(
            f"neighbors_key={neighbors_key!r} not found in adata.uns; run "
            f"sc.pp.neighbors(adata, key_added=...) first or pass neighbors_key=None."
        )
    dist_key = adata.uns[neighbors_key].get(C.Scanpy.DISTANCES_KEY, C.Scanpy.DISTANCES)
    if dist_key not in adata.obsp:
        raise KeyError(f"adata.obsp[{dist_key!r}] (from uns[{neighbors_key!r}]) not found.")
    return dist_key


def knn_from_neighbors(adata: AnnData, neighbors_key: str, rep=None):
    """Directed kNN edges ``(rows, cols, dists)`` of a scanpy neighbour graph.

    With ``rep`` given, a sample of the stored distances must be the Euclidean distances of
    ``rep`` (else ``ValueError``): a graph built on another representation or metric, or
    one left over from before the representation changed, is not silently reused.
    """
    dist_key = distances_key(adata, neighbors_key)
    D = sp.csr_matrix(adata.obsp[dist_key])
    if D.shape != (adata.n_obs, adata.n_obs):
        raise ValueError(f"adata.obsp[{dist_key!r}] has shape {D.shape}; expected n_obs × n_obs.")
    if rep is not None:
        problem = distance_mismatch(D, rep)
        if problem:
            raise ValueError(
                f"adata.obsp[{dist_key!r}] (uns[{neighbors_key!r}]) does not hold Euclidean "
                f"distances of the representation: {problem}. Build the graph on the same "
                "representation (sc.pp.neighbors(adata, use_rep=..., metric='euclidean')) or "
                "pass neighbors_key=None to compute one."
            )
    rows = np.repeat(np.arange(D.shape[0], dtype=np.int64), np.diff(D.indptr))
    return rows, D.indices.astype(np.int64), D.data.astype(np.float64)


def distance_mismatch(D: sp.csr_matrix, rep) -> str:
    """Empty when a random sample of the stored distances matches ``rep``; else why not."""
    if D.nnz == 0:
        return "the graph has no edges"
    rng = np.random.default_rng(0)
    pick = np.unique(rng.integers(0, D.nnz, min(D.nnz, N_DISTANCE_CHECKS)))
    rows = np.searchsorted(D.indptr, pick, side="right") - 1
    cols = D.indices[pick].astype(np.int64)
    stored = np.asarray(D.data[pick], dtype=np.float64)
    exact = pair_distances(rep, rows, cols)
    # float32 kNN searches are accurate to ~1e-6 relative; scanpy's exact path uses the
    # dot-product form, off by up to ~sqrt(float32 eps)·|x| for near-duplicate cells.
    tol = 1e-3 * exact + 1e-3 * (float(np.median(exact)) + 1e-12)
    bad = np.abs(stored - exact) > tol
    if bad.mean() > 0.01:
        i = int(np.flatnonzero(bad)[0])
        return (
            f"{bad.sum()} of {pick.size} checked entries differ, e.g. cells {rows[i]}–{cols[i]} "
            f"stored {stored[i]:.4g}, computed {exact[i]:.4g}"
        )
    return ""


def _scanpy_rep_mismatch(adata: AnnData, params: Mapping, rep_name: str, n_dims: int) -> str:
    """Why scanpy's neighbour params describe another representation ('' when the same)."""
    import scanpy as sc

    metric = params.get("metric", "euclidean")
    if metric != "euclidean":
        return f"it uses metric={metric!r}"
    their = params.get("use_rep")
    n_pcs = params.get("n_pcs")
    if their is None:  # scanpy's choice: X for few genes or n_pcs=0, else X_pca
        small = n_pcs == 0 or adata.n_vars <= sc.settings.N_PCS
        their = C.Scanpy.X if small else C.Scanpy.PCA
    if their != rep_name:
        return f"it was built on {their!r}, persistence uses {rep_name!r}"
    if their != C.Scanpy.X and n_pcs is not None and int(n_pcs) != n_dims:
        return f"it was built on the first {n_pcs} of {n_dims} dimensions of {rep_name!r}"
    return ""


def auto_neighbors_key(adata: AnnData, rep_name: str, rep) -> str | None:
    """``'neighbors'`` when scanpy's default graph was built on ``rep``, else ``None``."""
    record = adata.uns.get(C.Scanpy.NEIGHBORS)
    if not isinstance(record, Mapping):
        return None
    params = record.get(C.Scanpy.PARAMS, {})
    why = _scanpy_rep_mismatch(
        adata, params if isinstance(params, Mapping) else {}, rep_name, rep.shape[1]
    )
    if not why:
        dist_key = record.get(C.Scanpy.DISTANCES_KEY, C.Scanpy.DISTANCES)
        D = adata.obsp[dist_key] if dist_key in adata.obsp else None
        if D is None:
            why = f"adata.obsp[{dist_key!r}] is missing"
        elif D.shape != (adata.n_obs, adata.n_obs):
            why = f"adata.obsp[{dist_key!r}] has shape {D.shape}"
        else:
            why = distance_mismatch(sp.csr_matrix(D), rep)
    if why:
        logg.info(f"    not reusing uns[{C.Scanpy.NEIGHBORS!r}] ({why}): computing a kNN graph")
        return None
    return C.Scanpy.NEIGHBORS


def edges_for(adata: AnnData, rep, params: dict, knn_from: str | None, timings: dict) -> EdgeList:
    """Candidate edges from ``rep``, with kNN edges from ``uns[knn_from]`` when given."""
    t0 = time.perf_counter()
    knn = None
    n = adata.n_obs
    if n <= params["exact_max_cells"]:
        how = "every pair of cells (exact)"
    elif knn_from is not None:
        knn = knn_from_neighbors(adata, knn_from)
        dist_key = adata.uns[knn_from].get(C.Scanpy.DISTANCES_KEY, C.Scanpy.DISTANCES)
        how = (
            f"kNN graph reused from adata.obsp[{dist_key!r}] (uns[{knn_from!r}], "
            f"{knn[0].size / n:.3g} neighbours per cell) + spanning tree"
        )
    else:
        engine = "scikit-learn, exact" if n <= 20000 else "pynndescent"
        how = f"kNN graph computed ({engine}, n_neighbors={params['n_neighbors']}) + spanning tree"
    timings["load_knn"] = time.perf_counter() - t0
    logg.info(f"    candidate edges: {how}")
    rs = params.get("random_state", 0)
    edges = candidate_edges(
        rep,
        params["n_neighbors"],
        knn=knn,
        exact_max_cells=params["exact_max_cells"],
        random_state=None if rs == "None" else rs,
    )
    edges.timings.update(timings)
    return edges


def cell_edges(adata: AnnData, params: dict) -> tuple[EdgeList, str]:
    """Candidate edges for the settings recorded in a persistence result's ``params``.

    The kNN graph recorded as reused (``params['knn_from']``) is reused again when it still
    matches the representation; otherwise it is recomputed, with a warning.
    """
    t0 = time.perf_counter()
    rep, name = representation(adata, None if params["use_rep"] == "None" else params["use_rep"])
    timings = {"representation": time.perf_counter() - t0}
    # Records written before 'knn_from' existed used an explicit neighbors_key or none.
    knn_from = params.get("knn_from", params.get("neighbors_key", "None"))
    if not isinstance(knn_from, str) or knn_from == "None":
        knn_from = None
    if knn_from is not None and adata.n_obs > params["exact_max_cells"]:
        try:
            knn_from_neighbors(adata, knn_from, rep)
        except (KeyError, ValueError) as err:
            logg.warning(
                f"the kNN graph used by tl.persistence cannot be reused ({err}); computing one"
            )
            knn_from = None
    return edges_for(adata, rep, params, knn_from, timings), name
