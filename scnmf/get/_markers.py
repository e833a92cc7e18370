"""``get.marker_overlap``: which cell-type markers each program's top genes are."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _keys as C
from ._programs import programs


def _positive_int(value: Any, name: str, example: int) -> int:
    if not isinstance(value, int | np.integer) or isinstance(value, bool | np.bool_) or value < 1:
        raise ValueError(
            f"Invalid option {value!r} for {name}. Valid options are integers ≥ 1; pass e.g. "
            f"{name}={example}."
        )
    return int(value)


def _markers(adata: AnnData, rank_genes_key: Any, n_markers: int) -> tuple[dict, str]:
    """The first ``n_markers`` genes of every group of ``sc.tl.rank_genes_groups``."""
    fix = (
        f"run sc.tl.rank_genes_groups(adata, groupby, key_added={rank_genes_key!r}) first "
        "(or pass its key_added as rank_genes_key)"
    )
    if not isinstance(rank_genes_key, str) or rank_genes_key not in adata.uns:
        raise KeyError(f"adata.uns[{rank_genes_key!r}] not found; {fix}.")
    record = adata.uns[rank_genes_key]
    names = record.get("names") if isinstance(record, Mapping) else None
    fields = getattr(getattr(names, "dtype", None), "names", None)
    if not fields:
        raise KeyError(
            f"adata.uns[{rank_genes_key!r}] holds no per-group 'names'; it was not written by "
            f"sc.tl.rank_genes_groups: {fix}."
        )
    if len(names) < n_markers:
        raise ValueError(
            f"adata.uns[{rank_genes_key!r}] ranks {len(names)} genes per group, fewer than "
            f"n_markers={n_markers}; pass n_markers ≤ {len(names)} or rerun "
            f"sc.tl.rank_genes_groups(..., n_genes={n_markers})."
        )
    params = record.get(C.Scanpy.PARAMS, {})
    groupby = params.get("groupby", "group") if isinstance(params, Mapping) else "group"
    # sc.tl.filter_rank_genes_groups leaves NaN where it removed a gene: not a marker
    markers = {
        str(g): {str(v) for v in names[g][:n_markers] if isinstance(v, str) and v} for g in fields
    }
    return markers, str(groupby)


def marker_overlap(
    adata: AnnData,
    key: str,
    *,
    rank_genes_key: str = "rank_genes_groups",
    n_genes: int = 50,
    n_markers: int = 50,
    scale: int | None = None,
    layer: int | None = None,
    method: str = "specificity",
) -> pd.DataFrame:
    """How many of each program's top genes are markers of each group of cells.

    For every program, its ``n_genes`` top genes (:func:`scnmf.get.programs` with
    ``method``) are compared with the first ``n_markers`` genes that
    ``sc.tl.rank_genes_groups`` ranked for every group; the table counts the genes in both.
    A program that marks a cell type shares many genes with that type's markers and few
    with the others'.

    Parameters
    ----------
    adata
        AnnData with a result under ``key`` and a ``sc.tl.rank_genes_groups`` result.
    key
        ``key_added`` of the factorisation.
    rank_genes_key
        ``key_added`` of ``sc.tl.rank_genes_groups`` (its default ``'rank_genes_groups'``).
        A result of ``sc.tl.filter_rank_genes_groups`` works too: removed genes count as
        no marker.
    n_genes
        Top genes per program (an integer ≥ 1).
    n_markers
        Markers per group (an integer ≥ 1, at most the genes ranked per group).
    scale
        pNMF scale (``tl.pnmf`` results).
    layer
        Deep-NMF layer (``tl.deep_nmf`` results; 1-based).
    method
        How the top genes of a program are chosen: ``'specificity'`` (genes that mark this
        program rather than the others, which keeps housekeeping genes out) or
        ``'loading'`` (largest loadings).

    Returns
    -------
    DataFrame of **overlap counts** (integers 0 … min(``n_genes``, ``n_markers``)): one row
    per program (index: the program names, named ``'program'``), one column per group of
    ``rank_genes_groups`` (named after its ``groupby``). ``attrs`` records ``n_genes``,
    ``n_markers``, ``method`` and ``rank_genes_key``. Divide by ``n_genes`` for the
    fraction of a program's top genes that are the group's markers.

    Examples
    --------
    >>> import scanpy as sc
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.pbmc68k_counts()
    >>> snmf.tl.nmf(adata, 4, max_iter=20)
    >>> sc.pp.log1p(adata)
    >>> sc.tl.rank_genes_groups(adata, "label", method="t-test")
    >>> snmf.get.marker_overlap(adata, "nmf", n_genes=20, n_markers=20).shape
    (4, 10)
    """
    n_genes = _positive_int(n_genes, "n_genes", 50)
    n_markers = _positive_int(n_markers, "n_markers", 50)
    markers, groupby = _markers(adata, rank_genes_key, n_markers)
    top = programs(
        adata, key, n_genes=min(n_genes, adata.n_vars), scale=scale, layer=layer, method=method
    )
    column = top["program"]
    order = (
        list(column.cat.categories)
        if isinstance(column.dtype, pd.CategoricalDtype)
        else list(pd.unique(column))
    )
    genes = {p: set(top.loc[column == p, "gene"].astype(str)) for p in order}
    counts = np.array([[len(genes[p] & markers[g]) for g in markers] for p in order], dtype=int)
    table = pd.DataFrame(
        counts,
        index=pd.Index([str(p) for p in order], name="program"),
        columns=pd.Index(list(markers), name=groupby),
    )
    table.attrs = {
        "values": "overlap counts",
        "n_genes": n_genes,
        "n_markers": n_markers,
        "method": method,
        "rank_genes_key": rank_genes_key,
    }
    return table
