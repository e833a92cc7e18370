"""``tl.persistence``: 0-dimensional persistent homology of the cell graph and its scales."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import scanpy as sc
from anndata import AnnData
from scanpy import logging as logg

from .. import _keys as C
from .._core.graph.mst import EXACT_MAX_CELLS, EdgeList
from .._core.graph.persistence import Persistence, betti0, select_scales
from .._core.graph.persistence import persistence as _persistence
from .._records import check_persistence, fingerprint
from ._checks import check_adata
from ._matrix import representation
from ._neighbors import auto_neighbors_key, distances_key, edges_for, knn_from_neighbors
from ._store import added, h5ad_safe, store
from ._validate import PERSISTENCE_PARAMS

#: The fix of a check that only a bug can fail.
BUG = "This is a bug in scnmf: please report it."


def pca_as_neighbors(adata: AnnData, use_rep: str | None) -> dict:
    """The PCA ``sc.pp.neighbors`` would compute for ``use_rep``, as slots to store, or ``{}``.

    scanpy's rule (``_choose_representation``): without ``use_rep``, ``obsm['X_pca']`` when
    present, ``X`` itself up to ``sc.settings.N_PCS`` genes, otherwise ``sc.pp.pca`` with its
    defaults (here: ``n_comps`` min(``N_PCS``, min(n_obs, genes) − 1), the
    ``var['highly_variable']`` mask when present, ``random_state=0``), written to the AnnData
    as ``sc.pp.neighbors`` writes it. It runs on a shell AnnData sharing ``X`` and ``var``
    (no copy), so the caller's AnnData only changes when the whole call succeeds.
    """
    if use_rep is not None or C.DEFAULT_REP in adata.obsm or adata.X is None:
        return {}
    if adata.n_vars <= sc.settings.N_PCS:
        return {}
    if adata.isbacked:
        raise ValueError(
            "tl.persistence computes a PCA when adata.obsm has no 'X_pca', and sc.pp.pca "
            "cannot read a backed X. Run sc.pp.pca on the data in memory "
            "(adata.to_memory()) first, or pass use_rep='X' to measure distances on X."
        )
    start = logg.info(
        f"    no adata.obsm[{C.DEFAULT_REP!r}]: computing a PCA of adata.X ({adata.n_obs} × "
        f"{adata.n_vars}) as sc.pp.neighbors does (pass use_rep='X' to use every gene)"
    )
    shell = AnnData(X=adata.X, obs=pd.DataFrame(index=adata.obs_names), var=adata.var)
    sc.pp.pca(shell)
    pcs = shell.obsm[C.DEFAULT_REP]
    logg.info(f"    PCA done: {pcs.shape[1]} components", time=start)
    return {
        "obsm": {C.DEFAULT_REP: pcs},
        "varm": {C.Scanpy.PCA_LOADINGS: shell.varm[C.Scanpy.PCA_LOADINGS]},
        "uns": {C.Scanpy.PCA_UNS: dict(shell.uns[C.Scanpy.PCA_UNS])},
    }


def run_persistence(
    adata: AnnData,
    *,
    use_rep: str | None,
    n_neighbors: int,
    neighbors_key: str | None | Literal[False],
    n_scales: int,
    scales: Any,
    random_state: int | None,
    pca: dict | None = None,
) -> tuple[dict, EdgeList]:
    """Compute and return the ``uns`` record (without storing it) and the edges.

    The options are trusted (:func:`persistence` validates them; ``scales`` is ``None``,
    ``'all'`` or an increasing array). ``edges.timings`` holds the wall time of every stage
    (representation, kNN loading or search, deduplication and sort, linking, spanning
    forest, gudhi, scale selection). ``pca``: the slots of :func:`pca_as_neighbors`, which
    callers run first (when it computed a PCA, the record is built on it and the caller
    stores both).
    """
    t0 = time.perf_counter()
    if pca:  # as representation() would read it back from obsm
        rep, name = np.asarray(pca["obsm"][C.DEFAULT_REP], dtype=np.float64), C.DEFAULT_REP
    else:
        rep, name = representation(adata, use_rep)
    timings = {"representation": time.perf_counter() - t0}
    if isinstance(neighbors_key, str):
        distances_key(adata, neighbors_key)  # validate up front
    knn_from = None
    if adata.n_obs > EXACT_MAX_CELLS:
        t0 = time.perf_counter()
        if isinstance(neighbors_key, str):
            knn_from_neighbors(adata, neighbors_key, rep)  # raises when it does not match
            knn_from = neighbors_key
        elif neighbors_key is None:
            knn_from = auto_neighbors_key(adata, name, rep)
        timings["check_neighbors"] = time.perf_counter() - t0
    params = {
        "use_rep": name,
        # What the record was computed on: readers refuse it for other cells (check_persistence).
        "n_obs": adata.n_obs,
        "fingerprint": fingerprint(adata, name, rep),
        "n_neighbors": n_neighbors,
        "neighbors_key": neighbors_key,
        "knn_from": knn_from,
        "n_scales": n_scales,
        "scales": "explicit" if isinstance(scales, np.ndarray) else scales,
        "random_state": random_state,
        "exact_max_cells": EXACT_MAX_CELLS,
    }
    params = h5ad_safe(params)
    edges = edges_for(adata, rep, params, knn_from, timings)
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
    U = C.PersistenceUns
    record = {
        U.DIAGRAM: result.diagram,
        U.SCALES: np.asarray(chosen, dtype=np.float64),
        U.N_COMPONENTS: np.asarray(counts, dtype=np.int64),
        U.CANONICAL_SCALES: result.canonical,
        U.CANONICAL_N_COMPONENTS: np.asarray(result.n_components, dtype=np.int64),
        U.PARAMS: params,
    }
    # The record readers will check, checked before it is stored (β0 ≤ n_obs, sorted scales).
    check_persistence(
        record, adata, where="the new persistence record", fix=BUG, current=params["fingerprint"]
    )
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
        ``adata.obsm``. By default as ``sc.pp.neighbors`` chooses: ``'X_pca'`` when present;
        else ``X`` itself when it has at most ``sc.settings.N_PCS`` (50) genes; else a PCA
        is computed as ``sc.pp.neighbors`` does, with ``sc.pp.pca``'s defaults (50
        components, fewer when min(cells, genes) ≤ 50; the ``var['highly_variable']`` genes
        when flagged; ``random_state=0``), logged with its time, and stored as
        ``sc.pp.neighbors`` stores it (see Returns): the result equals running
        ``sc.pp.pca(adata)`` first. On pbmc3k (2,638 cells × 13,656 normalised, log1p genes)
        it takes about as long as distances on every gene (≈ 2 s), with the same β0 per
        scale, but the ε-graphs join cells of the same type far more often (0.67 vs 0.44 of
        the edges, mean over the scales; ``benchmarks/results/pnmf_defaults.md``). Pass
        ``use_rep='X'`` to measure distances on every gene.
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
        whether the edge set was exact, number of candidate edges, and what the record was
        computed on: ``n_obs`` and a ``fingerprint`` of the representation ``use_rep``).
        :func:`pnmf` and the plots refuse a record whose ``n_obs`` or fingerprint does not
        match the AnnData (another AnnData, cells subset, representation recomputed).
    ``adata.obsm['X_pca']``, ``adata.varm['PCs']``, ``adata.uns['pca']``
        Only when the PCA fallback of ``use_rep`` ran: ``sc.pp.pca``'s output.

    Examples
    --------
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.concentric_circles()
    >>> snmf.tl.persistence(adata, use_rep="X", n_scales=5)
    >>> adata.uns["persistence"]["n_components"]
    array([80, 27,  9,  3,  1])
    """
    check_adata(adata)
    o = PERSISTENCE_PARAMS.validate(locals())
    start = logg.info("computing H0 persistence of the cell graph")
    pca = pca_as_neighbors(adata, o.use_rep)
    record, edges = run_persistence(
        adata,
        pca=pca,
        use_rep=o.use_rep,
        n_neighbors=o.n_neighbors,
        neighbors_key=o.neighbors_key,
        n_scales=o.n_scales,
        scales=o.scales,
        random_state=o.random_state,
    )
    slots = {**pca, "uns": {**pca.get("uns", {}), o.key_added: record}}
    target = store(adata, copy, **slots)
    stages = ", ".join(f"{k} {v:.2f}" for k, v in edges.timings.items() if k[:2] != "n_")
    logg.debug(f"    stage times (s): {stages}")
    counts = record[C.PersistenceUns.N_COMPONENTS]
    logg.info(
        f"    finished: {edges.n_edges} candidate edges, {counts.size} scales "
        f"(β0 {counts[0]} → {counts[-1]})",
        time=start,
        deep=added(**slots),
    )
    return target if copy else None
