"""``pl.scale_path``: how cells and clusters move across the scales of a pNMF result."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _keys as C
from .._docs import doc_params
from .._records import check_scales, is_index
from ._alluvial import draw_alluvial
from ._colors import (
    Coloring,
    add_legend,
    categorical,
    check_cmap,
    check_legend_loc,
    label_on_data,
    marker_size,
    resolve_color,
)
from ._legible import renderer_of, thin
from ._utils import PL_DOCS, count, finish, flag, given_axes, indices, stored


def _read(record, key: str, n_obs: int, T: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Scales, β0 counts and reference scale of a ``tl.pnmf`` record, checked as tl checks."""
    U = C.PnmfUns
    where = f"adata.uns[{key!r}]"
    fix = f"Rerun snmf.tl.pnmf(adata, key_added={key!r}) on this AnnData."
    if not isinstance(record, Mapping):
        raise ValueError(f"{where} is a {type(record).__name__}, not a tl.pnmf record. {fix}")
    missing = [f for f in (U.SCALES, U.N_COMPONENTS) if f not in record]
    if missing:
        raise KeyError(f"{where} lacks {missing}; it was not written by scnmf.tl.pnmf. {fix}")
    eps, counts = check_scales(record[U.SCALES], record[U.N_COMPONENTS], n_obs, where, fix)
    if eps.size != T:
        raise ValueError(
            f"{where}['scales'] has {eps.size} scales but its embedding has {T}. {fix}"
        )
    reference = record.get(U.REFERENCE_SCALE, 0)
    if not is_index(reference, T):
        raise ValueError(
            f"{where}['reference_scale'] = {reference!r} is not one of 0 … {T - 1}. {fix}"
        )
    return eps, counts, int(reference)


def _projection(emb: np.ndarray, reference: int) -> np.ndarray:
    """Linear map (k × 2) shared by all scales: identity for k ≤ 2, else the reference's PCs."""
    k = emb.shape[2]
    if k <= 2:
        P = np.zeros((k, 2))
        P[:k, :k] = np.eye(k)
        return P
    ref = emb[:, reference] - emb[:, reference].mean(axis=0)
    _, _, Vt = np.linalg.svd(ref, full_matrices=False)
    return Vt[:2].T


def _reference_clusters(emb: np.ndarray, reference: int, params: Mapping) -> Coloring:
    """KMeans (seed 0) on the reference scale's embedding: the default colouring.

    ``tl.pnmf`` stores no clusters; KMeans with ``params['n_clusters']`` (stored with
    ``reference_scale='stable'``), else k clusters, as ``tl.pnmf`` and the project's
    evaluation use. Clusters are numbered by size (1 = largest).
    """
    from sklearn.cluster import KMeans

    n_obs, _, k = emb.shape
    n_clusters = params.get("n_clusters") if isinstance(params, Mapping) else None
    n_clusters = int(min(n_clusters or k, n_obs))
    X = emb[:, reference].astype(np.float64)
    labels = KMeans(n_clusters, n_init=10, random_state=0).fit_predict(X)
    sizes = np.bincount(labels, minlength=n_clusters)
    rank = np.empty(n_clusters, dtype=np.int64)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(n_clusters)
    names = pd.Categorical.from_codes(rank[labels], [str(i + 1) for i in range(n_clusters)])
    return categorical(names, f"KMeans cluster (scale t={reference + 1})")


def _limits(xy: list[np.ndarray]) -> tuple[tuple[float, float], tuple[float, float]]:
    """One x and one y range for every panel, so the collapse across scales shows."""
    allxy = np.concatenate(xy)
    low, high = allxy.min(axis=0), allxy.max(axis=0)
    pad = 0.05 * np.maximum(high - low, 1e-12)
    return (low[0] - pad[0], high[0] + pad[0]), (low[1] - pad[1], high[1] + pad[1])


def _panels(n: int, ncols: int, alluvial: bool, legend_w: float):
    """A figure with ``n`` shared-axes panels in rows of ``ncols`` and a spanning alluvial."""
    import matplotlib.pyplot as plt

    ncols = min(ncols, n)
    rows = int(np.ceil(n / ncols))
    fig = plt.figure(
        figsize=(2.5 * ncols + legend_w, 2.6 * rows + (2.9 if alluvial else 0.0)),
        layout="constrained",
    )
    grid = fig.add_gridspec(
        rows + int(alluvial), ncols, height_ratios=[1] * rows + [1.1] * alluvial
    )
    first = fig.add_subplot(grid[0, 0])
    panels = [first] + [
        fig.add_subplot(grid[i // ncols, i % ncols], sharex=first, sharey=first)
        for i in range(1, n)
    ]
    big = fig.add_subplot(grid[rows, :]) if alluvial else None
    return fig, panels, big, ncols


@doc_params(**PL_DOCS)
def scale_path(
    adata: AnnData,
    *,
    key: str = C.PNMF_KEY,
    scales: Sequence[int] | None = None,
    color: str | None = None,
    layer: str | None = None,
    use_raw: bool | None = None,
    palette=None,
    cmap="viridis",
    legend_loc: str | None = "right margin",
    max_panels: int = 8,
    ncols: int = 8,
    alluvial: bool = True,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
    save: str | bool | None = None,
):
    """Small multiples of the cell embedding per scale, and an alluvial of clusters.

    Top: each panel shows the cells in one 2-D view shared by all scales (the embedding
    itself when k = 2, else the first two principal axes of the reference scale's
    embedding), on the same axes, so the collapse of groups across scales reads directly.
    Cells are coloured by ``color``, or, without it, by KMeans clusters of the reference
    scale's embedding (``tl.pnmf`` stores no clusters; computed here with seed 0, and the
    legend says so). Bottom: each cell's cluster at each scale is its dominant program
    (argmax of its embedding row); bars give the cluster sizes and bands the cells two
    consecutive scales share, coloured by the categories of ``color`` (else by the
    reference clusters), with one legend for dots and bands.

    Parameters
    ----------
    adata
        AnnData after :func:`scnmf.tl.pnmf` (reads ``obsm['X_<key>_scales']`` and
        ``uns[key]``).
    key
        ``key_added`` used by ``tl.pnmf``.
    scales
        Scale indices to show (0 = finest); by default up to ``max_panels`` evenly spaced.
    color
        As ``sc.pl.embedding``: a column of ``adata.obs`` (categorical or numeric) or a
        gene of ``adata.var_names`` (``adata.raw`` with ``use_raw``).
    layer, use_raw
        Where gene values come from (as scanpy: ``adata.raw`` by default when present and
        no ``layer`` is given).
    palette
        Colours of the categories (colormap name, list, or mapping); by default
        ``uns[color + '_colors']`` as scanpy stored them, else scanpy's defaults.
    cmap
        Colormap of a numeric ``color`` (or a gene).
    legend_loc
        ``'right margin'`` (default), ``'on data'`` (names at the groups' medians),
        a matplotlib location, or ``'none'``/``None``.
    max_panels
        Maximum number of panels when ``scales`` is ``None``.
    ncols
        Panels per row (an integer ≥ 1).
    alluvial
        Draw the alluvial row.
    ax
        A list of Axes to draw on: one per scale, then one for the alluvial (when
        ``alluvial``); they get the same limits. A new figure otherwise (this is a
        multi-panel figure, as scanpy's with several ``color`` values).
    {doc_output}

    Returns
    -------
    {doc_returns_axes_array}

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.concentric_circles()
    >>> snmf.tl.persistence(adata, n_scales=4)
    >>> snmf.tl.pnmf(adata, 2, n_sweeps=1)
    >>> axes = snmf.pl.scale_path(adata, color="label", show=False)
    """
    producer = f"scnmf.tl.pnmf(adata, key_added={key!r})"
    keys = C.pnmf_keys(key)
    emb = np.asarray(stored(adata, keys.obsm_scales, producer, where="obsm"))
    record = stored(adata, key, producer)
    if emb.ndim != 3:
        raise ValueError(f"adata.obsm[{keys.obsm_scales!r}] is not n_obs × T × k.")
    T = emb.shape[1]
    if scales is None:
        max_panels = count(max_panels, "max_panels", example=8)
        scales = np.unique(np.linspace(0, T - 1, min(T, max_panels)).round().astype(int))
    scales = indices(scales, T, "scales", "scales")
    ncols = count(ncols, "ncols", example=8)
    alluvial = bool(flag(alluvial, "alluvial"))
    coloring = None
    if color is not None:
        coloring = resolve_color(adata, color, layer=layer, use_raw=use_raw, palette=palette)
    colormap = check_cmap(cmap)
    legend_loc = check_legend_loc(legend_loc)
    eps, counts, reference = _read(record, key, adata.n_obs, T)
    given = given_axes(ax, len(scales) + int(alluvial), "scale panel (then the alluvial)")
    params = record.get(C.PnmfUns.PARAMS, {})
    groups = coloring if coloring is not None and coloring.kind == "cat" else None
    if groups is None and (coloring is None or alluvial):  # dots or bands need categories
        groups = _reference_clusters(emb, reference, params)
    P = _projection(emb, reference)
    xy = [emb[:, t] @ P for t in scales]
    xlim, ylim = _limits(xy)
    k = emb.shape[2]
    names = ("program 0", "program 1") if k <= 2 else ("PC1", "PC2")
    dots = coloring if coloring is not None else groups

    if given is None:
        room = 2.2 if legend_loc == "right margin" else 0.0
        fig, panels, big, ncols = _panels(len(scales), ncols, alluvial, room)
    else:
        fig, panels = given[0].figure, given[: len(scales)]
        big = given[-1] if alluvial else None
    size = marker_size(adata.n_obs, 2.4)
    rng = np.random.default_rng(0)
    if dots.kind == "cat":  # a fixed shuffle: no category hides under another
        order = rng.permutation(adata.n_obs)
        rgba = dots.rgba()[order]
    else:  # as scanpy: the highest values on top, missing ones at the bottom
        values = dots.values
        order = np.argsort(np.where(np.isnan(values), -np.inf, values), kind="stable")
        finite = values[np.isfinite(values)]
        vmin, vmax = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    mappable = None
    for i, (panel, t) in enumerate(zip(panels, scales, strict=True)):
        pts = xy[i][order]
        if dots.kind == "cat":
            panel.scatter(pts[:, 0], pts[:, 1], c=rgba, s=size, linewidths=0, rasterized=True)
        else:
            mappable = panel.scatter(
                pts[:, 0],
                pts[:, 1],
                c=dots.values[order],
                cmap=colormap,
                vmin=vmin,
                vmax=vmax,
                s=size,
                linewidths=0,
                rasterized=True,
                plotnonfinite=True,
            )
        ref = " (reference)" if t == reference else ""
        panel.set_title(f"t={t + 1}{ref}  ε={eps[t]:.3g}\nβ0={int(counts[t])}", fontsize=8)
        panel.set_xlim(*xlim)
        panel.set_ylim(*ylim)
        panel.set_xticks([])
        panel.set_yticks([])
        panel.set_xlabel(names[0], fontsize=7)
        panel.set_ylabel(names[1] if given is not None or i % ncols == 0 else "", fontsize=7)
        if dots.kind == "cat" and legend_loc == "on data":
            label_on_data(panel, xy[i], dots, fontsize=7)
    last = panels[-1]
    # own figure: legends in the figure's right margin, so every panel keeps its width
    host = fig if given is None else last
    if dots.kind == "cat":
        add_legend(host, dots, legend_loc)
    elif mappable is not None:
        fig.colorbar(mappable, ax=panels if given is None else last, shrink=0.85, label=dots.label)
    texts = []
    if big is not None:
        clusters = np.argmax(emb[:, scales], axis=2)
        title = f"clusters (dominant program) across scales; bands coloured by {groups.label}"
        texts = draw_alluvial(big, clusters, groups, [f"t={t + 1}" for t in scales], title)
        if groups is not dots:  # the dots show a number: the bands need their own legend
            loc = "outside right lower" if given is None else None
            where = "none" if legend_loc == "none" else "right margin"
            add_legend(big if given is not None else fig, groups, where, loc=loc)
    if given is None:
        fig.draw_without_rendering()  # runs the constrained layout: thin labels where drawn
    renderer_of(fig)
    thin(texts, pad=0.5)
    for panel in panels:
        thin(list(panel.texts), pad=0.5)
    axes = np.array([*panels] + ([big] if big is not None else []), dtype=object)
    return finish(fig, axes, show=show, return_fig=return_fig, save=save, name="scale_path")
