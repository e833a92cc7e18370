"""``tl.persistence``: 0-dimensional persistent homology of the cell graph and its scales."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from anndata import AnnData
from scanpy import logging as logg

from .. import _constants as C
from .._core.graph import EXACT_MAX_CELLS, EdgeList, candidate_edges
from .._core.persistence import Persistence, betti0, select_scales
from .._core.persistence import persistence as _persistence
from ._utils import check_adata, check_positive_int, check_random_state, h5ad_safe, prepare_target


def representation(adata: AnnData, use_rep: str | None) -> tuple[Any, str]:
    """The matrix cell–cell distances are measured on, and its name.

    ``None`` means ``obsm['X_pca']`` when present, else ``adata.X``.
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


def _knn_from_neighbors(adata: AnnData, neighbors_key: str):
    if neighbors_key not in adata.uns:
        raise KeyError(
            f"neighbors_key={neighbors_key!r} not found in adata.uns; run "
            f"sc.pp.neighbors(adata, key_added=...) first or pass neighbors_key=None."
        )
    dist_key = adata.uns[neighbors_key].get("distances_key", "distances")
    if dist_key not in adata.obsp:
        raise KeyError(f"adata.obsp[{dist_key!r}] (from uns[{neighbors_key!r}]) not found.")
    D = sp.coo_matrix(adata.obsp[dist_key])
    return D.row.astype(np.int64), D.col.astype(np.int64), D.data.astype(np.float64)


def cell_edges(adata: AnnData, params: dict) -> tuple[EdgeList, str]:
    """Candidate edges for the settings recorded in a persistence result's ``params``."""
    rep, name = representation(adata, None if params["use_rep"] == "None" else params["use_rep"])
    nk = params.get("neighbors_key", "None")
    knn = None
    if nk != "None" and adata.n_obs > params["exact_max_cells"]:
        knn = _knn_from_neighbors(adata, nk)
    rs = params.get("random_state", 0)
    edges = candidate_edges(
        rep,
        params["n_neighbors"],
        knn=knn,
        exact_max_cells=params["exact_max_cells"],
        random_state=None if rs == "None" else rs,
    )
    return edges, name


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


def run_persistence(
    adata: AnnData,
    *,
    use_rep: str | None,
    n_neighbors: int,
    neighbors_key: str | None,
    n_scales: int,
    scales: Any,
    random_state: int | None,
) -> tuple[dict, EdgeList]:
    """Validate, compute and return the ``uns`` record (without storing it) and the edges."""
    check_adata(adata)
    n_neighbors = check_positive_int(n_neighbors, "n_neighbors")
    n_scales = check_positive_int(n_scales, "n_scales")
    random_state = check_random_state(random_state)
    scales = _check_scales(scales)
    rep, name = representation(adata, use_rep)
    if neighbors_key is not None:
        _knn_from_neighbors(adata, neighbors_key)  # validate up front
    params = {
        "use_rep": name,
        "n_neighbors": n_neighbors,
        "neighbors_key": neighbors_key,
        "n_scales": n_scales,
        "scales": "explicit" if isinstance(scales, np.ndarray) else scales,
        "random_state": random_state,
        "exact_max_cells": EXACT_MAX_CELLS,
    }
    params = h5ad_safe(params)
    edges, _ = cell_edges(adata, params)
    result: Persistence = _persistence(edges)
    if isinstance(scales, np.ndarray):
        chosen = scales
        counts = betti0(result.diagram[:, 1], adata.n_obs, chosen)
    elif scales == "all":
        chosen, counts = result.canonical, result.n_components
    else:
        idx = select_scales(result.canonical, result.n_components, n_scales)
        chosen, counts = result.canonical[idx], result.n_components[idx]
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
    neighbors_key: str | None = None,
    n_scales: int = 8,
    scales: Sequence[float] | Literal["all"] | None = None,
    random_state: int | None = 0,
    key_added: str = C.PERSISTENCE_KEY,
    copy: bool = False,
) -> AnnData | None:
    """0-dimensional persistent homology of the cell graph, and the scales to factorise at.

    Cells are joined by edges of their Euclidean length; as the threshold ε grows, the
    ε-graph (edge iff ``d < ε``) merges components, and each merge kills one H0 class
    (computed with gudhi on a sparse candidate edge set). The canonical scales are the
    distinct death values, where the number of components β0 changes, plus one coarsest
    scale just above the longest candidate edge.

    Candidate edges are every pair up to 1,000 cells (the exact Vietoris–Rips 1-skeleton,
    as the reference code), beyond that the kNN edges plus a spanning tree: the exact
    Euclidean MST up to 30,000 cells (dense representations), an approximate one (kNN
    spanning forest joined by exact nearest inter-component links) beyond. Memory stays
    O(n · n_neighbors). Duplicate cells (zero distances) and disconnected data are fine.

    Parameters
    ----------
    adata
        Annotated data matrix, cells × genes.
    use_rep
        ``'X'`` (``adata.X``, which should then be normalised, e.g. log1p) or a key of
        ``adata.obsm``; by default ``'X_pca'`` when present, else ``'X'``.
    n_neighbors
        Neighbours per cell in the candidate edge set (large data).
    neighbors_key
        Take the kNN edges from scanpy's neighbour graph ``adata.uns[neighbors_key]``
        (its ``obsp`` distances; build it on the same ``use_rep``) instead of computing them.
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
        ``params`` (settings, whether the edge set was exact, number of candidate edges).

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
    logg.info(
        f"    finished: {edges.n_edges} candidate edges, {record['scales'].size} scales "
        f"(β0 {record['n_components'][0]} → {record['n_components'][-1]})",
        time=start,
        deep=f"added\n    .uns[{key_added!r}]",
    )
    return target if copy else None
