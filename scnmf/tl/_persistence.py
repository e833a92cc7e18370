"""``tl.persistence``: 0-dimensional persistent homology of the cell graph and its scales."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from anndata import AnnData
from scanpy import logging as logg

from scnmf import _keys as C

from .._core._backends.dask import is_dask
from .._core.graph.distances import pair_distances
from .._core.graph.edges import candidate_edges
from .._core.graph.mst import EXACT_MAX_CELLS, EdgeList
from .._core.graph.persistence import Persistence, betti0, select_scales
from .._core.graph.persistence import persistence as _persistence
from ._utils import check_adata, check_positive_int, check_random_state, h5ad_safe, prepare_target

#: ``uns`` key of scanpy's default neighbour graph (``sc.pp.neighbors``).
SCANPY_NEIGHBORS_KEY = "neighbors"
#: Stored kNN distances checked against the representation before a graph is reused.
_N_DISTANCE_CHECKS = 1000


def _compute_dask(rep, use_rep: str):
    """Materialise a dask representation block by block.

    ``compute`` runs on the active ``dask.distributed`` client when there is one (dask's
    default scheduler then), else on the local threads. Only the representation (n × p)
    comes back to this process; whatever it was derived from never needs to.
    """
    if np.dtype(rep.dtype).kind not in "biuf":
        raise ValueError(f"Representation {use_rep!r} has dtype {rep.dtype}; expected numbers.")
    return rep.compute()


def representation(adata: AnnData, use_rep: str | None) -> tuple[Any, str]:
    """The matrix cell–cell distances are measured on, and its name.

    ``None`` means ``obsm['X_pca']`` when present, else ``adata.X``. A dask array is
    computed (:func:`_compute_dask`): the representation must fit in memory.
    """
    if use_rep is None:
        use_rep = C.DEFAULT_REP if C.DEFAULT_REP in adata.obsm else "X"
    if not isinstance(use_rep, str):
        raise TypeError(f"use_rep must be 'X' or a key of adata.obsm, got {use_rep!r}.")
    if use_rep == "X":
        rep = adata.X
        if rep is None:
            raise ValueError(
                "No representation to build a cell graph from: adata.X is empty and "
                "adata.obsm has no 'X_pca'. Run sc.pp.pca(adata) or pass use_rep=<obsm key>."
            )
    else:
        if use_rep not in adata.obsm:
            raise KeyError(
                f"use_rep={use_rep!r} is not a key of adata.obsm "
                f"(available: {list(adata.obsm.keys())}); pass use_rep='X' for adata.X."
            )
        rep = adata.obsm[use_rep]
    if is_dask(rep):
        rep = _compute_dask(rep, use_rep)
    if hasattr(rep, "to_memory"):
        rep = rep.to_memory()
    if hasattr(rep, "to_numpy"):
        rep = rep.to_numpy()
    if sp.issparse(rep):
        rep = sp.csr_matrix(rep, dtype=np.float64)
        values = rep.data
    else:
        rep = np.asarray(rep, dtype=np.float64)
        values = rep
    if rep.ndim != 2 or rep.shape[0] != adata.n_obs or rep.shape[1] == 0:
        raise ValueError(f"Representation {use_rep!r} has shape {rep.shape}; expected (n_obs, p).")
    if values.size and not np.isfinite(values).all():
        raise ValueError(f"Representation {use_rep!r} contains NaN or infinite values.")
    return rep, use_rep


def _distances_key(adata: AnnData, neighbors_key: str) -> str:
    """``obsp`` key of the distances of ``uns[neighbors_key]`` (KeyError naming the fix)."""
    if neighbors_key not in adata.uns or not isinstance(adata.uns[neighbors_key], Mapping):
        raise KeyError(
            f"neighbors_key={neighbors_key!r} not found in adata.uns; run "
            f"sc.pp.neighbors(adata, key_added=...) first or pass neighbors_key=None."
        )
    dist_key = adata.uns[neighbors_key].get("distances_key", "distances")
    if dist_key not in adata.obsp:
        raise KeyError(f"adata.obsp[{dist_key!r}] (from uns[{neighbors_key!r}]) not found.")
    return dist_key


def _knn_from_neighbors(adata: AnnData, neighbors_key: str, rep=None):
    """Directed kNN edges ``(rows, cols, dists)`` of a scanpy neighbour graph.

    With ``rep`` given, a sample of the stored distances must be the Euclidean distances of
    ``rep`` (else ``ValueError``): a graph built on another representation or metric, or
    one left over from before the representation changed, is not silently reused.
    """
    dist_key = _distances_key(adata, neighbors_key)
    D = sp.csr_matrix(adata.obsp[dist_key])
    if D.shape != (adata.n_obs, adata.n_obs):
        raise ValueError(f"adata.obsp[{dist_key!r}] has shape {D.shape}; expected n_obs × n_obs.")
    if rep is not None:
        problem = _distance_mismatch(D, rep)
        if problem:
            raise ValueError(
                f"adata.obsp[{dist_key!r}] (uns[{neighbors_key!r}]) does not hold Euclidean "
                f"distances of the representation: {problem}. Build the graph on the same "
                "representation (sc.pp.neighbors(adata, use_rep=..., metric='euclidean')) or "
                "pass neighbors_key=None to compute one."
            )
    rows = np.repeat(np.arange(D.shape[0], dtype=np.int64), np.diff(D.indptr))
    return rows, D.indices.astype(np.int64), D.data.astype(np.float64)


def _distance_mismatch(D: sp.csr_matrix, rep) -> str:
    """Empty when a random sample of the stored distances matches ``rep``; else why not."""
    if D.nnz == 0:
        return "the graph has no edges"
    rng = np.random.default_rng(0)
    pick = np.unique(rng.integers(0, D.nnz, min(D.nnz, _N_DISTANCE_CHECKS)))
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
        their = "X" if small else C.DEFAULT_REP
    if their != rep_name:
        return f"it was built on {their!r}, persistence uses {rep_name!r}"
    if their != "X" and n_pcs is not None and int(n_pcs) != n_dims:
        return f"it was built on the first {n_pcs} of {n_dims} dimensions of {rep_name!r}"
    return ""


def _auto_neighbors_key(adata: AnnData, rep_name: str, rep) -> str | None:
    """``'neighbors'`` when scanpy's default graph was built on ``rep``, else ``None``."""
    record = adata.uns.get(SCANPY_NEIGHBORS_KEY)
    if not isinstance(record, Mapping):
        return None
    params = record.get("params", {})
    why = _scanpy_rep_mismatch(
        adata, params if isinstance(params, Mapping) else {}, rep_name, rep.shape[1]
    )
    if not why:
        dist_key = record.get("distances_key", "distances")
        D = adata.obsp[dist_key] if dist_key in adata.obsp else None
        if D is None:
            why = f"adata.obsp[{dist_key!r}] is missing"
        elif D.shape != (adata.n_obs, adata.n_obs):
            why = f"adata.obsp[{dist_key!r}] has shape {D.shape}"
        else:
            why = _distance_mismatch(sp.csr_matrix(D), rep)
    if why:
        logg.info(f"    not reusing uns[{SCANPY_NEIGHBORS_KEY!r}] ({why}): computing a kNN graph")
        return None
    return SCANPY_NEIGHBORS_KEY


def _edges(adata: AnnData, rep, params: dict, knn_from: str | None, timings: dict) -> EdgeList:
    """Candidate edges from ``rep``, with kNN edges from ``uns[knn_from]`` when given."""
    t0 = time.perf_counter()
    knn = None
    n = adata.n_obs
    if n <= params["exact_max_cells"]:
        how = "every pair of cells (exact)"
    elif knn_from is not None:
        knn = _knn_from_neighbors(adata, knn_from)
        dist_key = adata.uns[knn_from].get("distances_key", "distances")
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
            _knn_from_neighbors(adata, knn_from, rep)
        except (KeyError, ValueError) as err:
            logg.warning(
                f"the kNN graph used by tl.persistence cannot be reused ({err}); computing one"
            )
            knn_from = None
    return _edges(adata, rep, params, knn_from, timings), name


def _check_scales(scales: Any) -> np.ndarray | str | None:
    if scales is None or (isinstance(scales, str) and scales == "all"):
        return scales
    if isinstance(scales, str):
        raise ValueError(f"scales must be None, 'all' or increasing numbers, got {scales!r}.")
    arr = np.asarray(scales, dtype=np.float64).ravel()
    if arr.size == 0 or not np.isfinite(arr).all() or arr.min() <= 0:
        raise ValueError("Explicit scales must be finite positive numbers.")
    if arr.size > 1 and np.any(np.diff(arr) <= 0):
        raise ValueError(f"Explicit scales must be strictly increasing, got {arr.tolist()}.")
    return arr


def _check_neighbors_key(neighbors_key: Any) -> str | None | Literal[False]:
    if neighbors_key is None or neighbors_key is False:
        return neighbors_key
    if not isinstance(neighbors_key, str) or not neighbors_key:
        raise ValueError(
            "neighbors_key must be None (reuse sc.pp.neighbors' graph when it fits), False "
            f"(always compute) or a key of adata.uns, got {neighbors_key!r}."
        )
    return neighbors_key


def run_persistence(
    adata: AnnData,
    *,
    use_rep: str | None,
    n_neighbors: int,
    neighbors_key: str | None | Literal[False],
    n_scales: int,
    scales: Any,
    random_state: int | None,
) -> tuple[dict, EdgeList]:
    """Validate, compute and return the ``uns`` record (without storing it) and the edges.

    ``edges.timings`` holds the wall time of every stage (representation, kNN loading or
    search, deduplication and sort, linking, spanning forest, gudhi, scale selection).
    """
    check_adata(adata)
    n_neighbors = check_positive_int(n_neighbors, "n_neighbors")
    n_scales = check_positive_int(n_scales, "n_scales")
    random_state = check_random_state(random_state)
    scales = _check_scales(scales)
    neighbors_key = _check_neighbors_key(neighbors_key)
    t0 = time.perf_counter()
    rep, name = representation(adata, use_rep)
    timings = {"representation": time.perf_counter() - t0}
    if isinstance(neighbors_key, str):
        _distances_key(adata, neighbors_key)  # validate up front
    knn_from = None
    if adata.n_obs > EXACT_MAX_CELLS:
        t0 = time.perf_counter()
        if isinstance(neighbors_key, str):
            _knn_from_neighbors(adata, neighbors_key, rep)  # raises when it does not match
            knn_from = neighbors_key
        elif neighbors_key is None:
            knn_from = _auto_neighbors_key(adata, name, rep)
        timings["check_neighbors"] = time.perf_counter() - t0
    params = {
        "use_rep": name,
        "n_neighbors": n_neighbors,
        "neighbors_key": neighbors_key,
        "knn_from": knn_from,
        "n_scales": n_scales,
        "scales": "explicit" if isinstance(scales, np.ndarray) else scales,
        "random_state": random_state,
        "exact_max_cells": EXACT_MAX_CELLS,
    }
    params = h5ad_safe(params)
    edges = _edges(adata, rep, params, knn_from, timings)
    del rep
    result: Persistence = _persistence(edges)
    edges.timings.update(result.timings)
    t0 = time.perf_counter()
    if isinstance(scales, np.ndarray):
        chosen = scales
        counts = betti0(result.diagram[:, 1], adata.n_obs, chosen)
    elif scales == "all":
        chosen, counts = result.canonical, result.n_components
    else:
        idx = select_scales(result.canonical, result.n_components, n_scales)
        chosen, counts = result.canonical[idx], result.n_components[idx]
    edges.timings["select_scales"] = time.perf_counter() - t0
    params["exact"] = bool(edges.exact)
    params["n_candidate_edges"] = int(edges.n_edges)
    record = {
        "diagram": result.diagram,
        "scales": np.asarray(chosen, dtype=np.float64),
        "n_components": np.asarray(counts, dtype=np.int64),
        "canonical_scales": result.canonical,
        "canonical_n_components": np.asarray(result.n_components, dtype=np.int64),
        "params": params,
    }
    return record, edges


def persistence(
    adata: AnnData,
    *,
    use_rep: str | None = None,
    n_neighbors: int = 15,
    neighbors_key: str | None | Literal[False] = None,
    n_scales: int = 8,
    scales: Sequence[float] | Literal["all"] | None = None,
    random_state: int | None = 0,
    key_added: str = C.PERSISTENCE_KEY,
    copy: bool = False,
) -> AnnData | None:
    """0-dimensional persistent homology of the cell graph, and the scales to factorise at.

    Cells are joined by edges of their Euclidean length; as the threshold ε grows, the
    ε-graph (edge iff ``d < ε``) merges components, and each merge kills one H0 class. The
    diagram is computed with gudhi on the minimum spanning forest of a sparse candidate edge
    set (the H0 diagram of a graph filtration is that of its minimum spanning forest). The
    canonical scales are the distinct death values, where the number of components β0
    changes, plus one coarsest scale just above the longest candidate edge.

    Candidate edges are every pair up to 1,000 cells (the exact Vietoris–Rips 1-skeleton,
    as the reference code), beyond that the kNN edges plus a spanning tree: the exact
    Euclidean MST up to 30,000 cells (dense representations); beyond, the kNN graph's
    components are joined by Borůvka rounds of links between components (exact shortest
    links up to 16,384 cells; beyond, found on a random sample and refined by alternating
    nearest-neighbour search to a locally shortest link, which can over-estimate the death
    of a merge between two kNN components). Memory stays O(n · n_neighbors): one million
    cells × 50 dimensions take about 30 s and 2.5 GiB on two cores with a reused kNN
    graph, about 70 s computing it with pynndescent (``benchmarks/persistence_scale.py``).
    Duplicate cells (zero distances) and disconnected data are fine.

    Dask: a dask-backed representation (e.g. ``obsm['X_pca']``, or ``X`` with
    ``use_rep='X'``) is computed chunk by chunk, on the active ``dask.distributed`` client
    when there is one, and persistence then runs in this process: the representation
    (n × p, small for a PCA) must fit in memory, the count matrix never needs to.
    The kNN search, spanning tree and gudhi are not distributed.

    Parameters
    ----------
    adata
        Annotated data matrix, cells × genes.
    use_rep
        ``'X'`` (``adata.X``, which should then be normalised, e.g. log1p) or a key of
        ``adata.obsm``; by default ``'X_pca'`` when present, else ``'X'``.
    n_neighbors
        Neighbours per cell in the candidate edge set when the kNN graph is computed here
        (large data; a reused graph keeps its own number).
    neighbors_key
        Where the kNN edges come from (used beyond 1,000 cells). ``None`` (default):
        reuse scanpy's graph, ``obsp['distances']`` of ``sc.pp.neighbors``
        (``uns['neighbors']``), when it was built with the Euclidean metric on the same
        representation (its ``use_rep``/``n_pcs``, with scanpy's default of ``X_pca``) and
        a sample of its distances matches; otherwise compute one (scikit-learn up to 20,000
        cells, pynndescent beyond). The log says which graph was used and
        ``params['knn_from']`` records it. A key of ``adata.uns``: reuse that graph (an
        error when its distances are not those of the representation). ``False``: always
        compute.
    n_scales
        How many canonical scales to keep when ``scales`` is ``None``: the finest, the
        coarsest and those whose β0 is nearest to targets spaced geometrically between
        β0(finest) and 1 (each kept scale merges components by a similar factor).
    scales
        ``None`` (choose ``n_scales``), ``'all'`` (every canonical scale: the reference's
        setting, for small data) or explicit strictly increasing ε values.
    random_state
        Seed of the approximate neighbour search (large data).
    key_added
        Key in ``adata.uns``.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None``, or a copy of ``adata`` when ``copy=True``, with

    ``adata.uns['persistence' | key_added]`` : :class:`dict`
        ``diagram`` ((n_obs, 2) birth/death pairs, ``inf`` for essential classes),
        ``scales`` ((T,) increasing ε), ``n_components`` ((T,) β0 at each scale),
        ``canonical_scales`` and ``canonical_n_components`` (every canonical scale) and
        ``params`` (settings, the reused neighbour graph ``knn_from`` or ``'None'``,
        whether the edge set was exact, number of candidate edges).

    Examples
    --------
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.concentric_circles()
    >>> snmf.tl.persistence(adata, n_scales=5)
    >>> adata.uns["persistence"]["n_components"]
    array([80, 27,  9,  3,  1])
    """
    if not isinstance(key_added, str) or not key_added:
        raise ValueError("key_added must be a non-empty string.")
    start = logg.info("computing H0 persistence of the cell graph")
    record, edges = run_persistence(
        adata,
        use_rep=use_rep,
        n_neighbors=n_neighbors,
        neighbors_key=neighbors_key,
        n_scales=n_scales,
        scales=scales,
        random_state=random_state,
    )
    target = prepare_target(adata, copy)
    target.uns[key_added] = record
    stages = ", ".join(f"{k} {v:.2f}" for k, v in edges.timings.items() if k[:2] != "n_")
    logg.debug(f"    stage times (s): {stages}")
    logg.info(
        f"    finished: {edges.n_edges} candidate edges, {record['scales'].size} scales "
        f"(β0 {record['n_components'][0]} → {record['n_components'][-1]})",
        time=start,
        deep=f"added\n    .uns[{key_added!r}]",
    )
    return target if copy else None
