"""``pl.activities`` (programs on an embedding) and ``pl.programs_by_group`` (matrixplot)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _keys as C
from .._docs import doc_params
from ._colors import category_colors, check_cmap
from ._utils import PL_DOCS, _a, _is_integer, count, finish, indices, new_axes, obs_column

#: Panel size of one small multiple (inches): a square scatter plus its colorbar.
_PANEL = (2.7, 2.3)
#: Marker area (pt²) per panel is _DOT_AREA / n_obs, kept within _DOT_RANGE: 300 cells get
#: large dots, 300,000 cells hairline ones that still show density when rasterised.
_DOT_AREA = 8000.0
_DOT_RANGE = (0.15, 30.0)
_STANDARD_SCALES = ("var", "group")


def _activities(adata: AnnData, key: str, scale: Any, layer: Any) -> pd.DataFrame:
    """The obs × programs table of ``get.activities`` (every check of the result is there)."""
    from ..get import activities

    return activities(adata, key, scale=scale, layer=layer)


def _embedding(adata: AnnData, basis: Any) -> tuple[np.ndarray, str]:
    """The first two coordinates of ``obsm['X_<basis>']`` and the axis label stem."""
    if not isinstance(basis, str) or not basis:
        raise TypeError(
            f"basis={basis!r} is {_a(basis)}, not the name of an embedding; pass e.g. "
            "basis='umap' (reads adata.obsm['X_umap'])."
        )
    name = basis if basis.startswith("X_") and basis in adata.obsm else C.obsm_key(basis)
    if name not in adata.obsm:
        stored = [k[2:] for k in adata.obsm if k.startswith("X_")]
        shown = ", ".join(repr(b) for b in stored) or "none"
        raise KeyError(
            f"adata.obsm[{name!r}] not found; compute the embedding first (sc.tl.umap(adata) "
            f"writes 'X_umap') or pass one of the stored bases ({shown})."
        )
    coords = np.asarray(adata.obsm[name])
    if coords.ndim != 2 or coords.shape[1] < 2 or coords.dtype.kind not in "fiu":
        raise ValueError(
            f"adata.obsm[{name!r}] (shape {coords.shape}, dtype {coords.dtype}) is not a "
            "numeric embedding with at least two columns; pass another basis."
        )
    coords = coords[:, :2].astype(float)
    if not np.isfinite(coords).all():
        raise ValueError(
            f"adata.obsm[{name!r}] holds NaN or inf coordinates; recompute the embedding."
        )
    stem = name[2:]
    return coords, stem.upper() if len(stem) <= 5 else stem


def _chosen(table: pd.DataFrame, programs: Any) -> list[int]:
    """Positions of the ``programs`` to draw: all, indices, program names or a mix."""
    names = [str(c) for c in table.columns]
    if programs is None:
        return list(range(len(names)))
    items = [programs] if isinstance(programs, str) or _is_integer(programs) else programs
    if isinstance(items, Sequence | np.ndarray) and not isinstance(items, str):
        items = list(items)
        by_name = [v for v in items if isinstance(v, str)]
        unknown = [v for v in by_name if v not in names]
        if unknown:
            shown = ", ".join(repr(n) for n in names[:10]) + (", …" if len(names) > 10 else "")
            raise KeyError(
                f"programs holds {unknown[0]!r}, which is not a program of this result; pass "
                f"indices 0 … {len(names) - 1} or program names ({shown})."
            )
        positions = [names.index(v) if isinstance(v, str) else v for v in items]
        return indices(positions, len(names), "programs", "programs")
    return indices(programs, len(names), "programs", "programs")


def _limits(values: np.ndarray, vmax: Any) -> tuple[list[tuple[float, float]], bool]:
    """Colour limits per panel (columns of ``values``) and whether they are shared."""
    low = min(0.0, float(values.min())) if values.size else 0.0
    if vmax is None:
        tops = values.max(axis=0)
    elif isinstance(vmax, str) and vmax == "shared":
        tops = np.full(values.shape[1], values.max())
    elif isinstance(vmax, str) and vmax.startswith("p"):
        try:
            q = float(vmax[1:])
        except ValueError:
            q = -1.0
        if not 0 < q <= 100:
            raise ValueError(
                f"vmax={vmax!r}: a percentile is written 'p' and a number in (0, 100], "
                "e.g. vmax='p99'."
            )
        tops = np.percentile(values, q, axis=0)
    elif isinstance(vmax, int | float | np.number) and not isinstance(vmax, bool | np.bool_):
        if not np.isfinite(vmax) or vmax <= low:
            raise ValueError(f"vmax={vmax!r} must be a finite number above {low:g}.")
        tops = np.full(values.shape[1], float(vmax))
    else:
        raise TypeError(
            f"vmax={vmax!r} is {_a(vmax)}; pass None (each program its own scale), "
            "'shared' (one scale for all panels), a percentile such as 'p99', or a number."
        )
    shared = vmax is not None and not (isinstance(vmax, str) and vmax.startswith("p"))
    # a program that is zero everywhere still needs an interval for the colour scale
    return [(low, float(t) if t > low else low + 1.0) for t in tops], shared


@doc_params(**PL_DOCS)
def activities(
    adata: AnnData,
    key: str,
    *,
    basis: str = "umap",
    scale: int | None = None,
    layer: int | None = None,
    programs: int | str | Sequence[int | str] | None = None,
    ncols: int = 4,
    cmap: Any = "viridis",
    vmax: float | str | None = None,
    show: bool | None = None,
    return_fig: bool | None = None,
    save: str | bool | None = None,
):
    """Program activities on an embedding: one small panel per program.

    Cells are drawn in order of activity, so the most active ones lie on top; markers
    shrink with the number of cells and are rasterised, so 300 or 300,000 cells read the
    same (and a PDF stays small). Panels are titled by the program names.

    Parameters
    ----------
    adata
        AnnData with a result under ``key`` and an embedding in ``obsm['X_<basis>']``.
    key
        ``key_added`` of the factorisation (any result :func:`scnmf.get.activities` reads,
        projections included).
    basis
        Embedding to draw on: ``'umap'`` reads ``obsm['X_umap']``; any stored ``X_*`` key
        works (``'pca'``, ``'tsne'``, ``'nmf'``, …). Its first two columns are used.
    scale
        pNMF scale to show (``tl.pnmf`` results; its reference scale by default).
    layer
        Deep-NMF layer to show (``tl.deep_nmf`` results; 1-based).
    programs
        Programs to draw: indices (0-based), program names, or a list of them; all by
        default.
    ncols
        Panels per row (an integer ≥ 1).
    cmap
        Matplotlib colormap (name or Colormap).
    vmax
        Top of the colour scale. ``None``: each program its own maximum; ``'shared'``:
        one scale (the largest activity shown) for every panel, with one colorbar; a
        percentile per program such as ``'p99'`` (outliers then do not wash out the
        rest); or a number shared by every panel.
    {doc_output}

    Returns
    -------
    {doc_returns_axes_array}

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import scanpy as sc
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.pbmc68k_counts()
    >>> snmf.tl.nmf(adata, 4, max_iter=20)
    >>> sc.pp.neighbors(adata, use_rep="X_nmf")
    >>> sc.tl.umap(adata)
    >>> axes = snmf.pl.activities(adata, "nmf", show=False)
    """
    import matplotlib.pyplot as plt

    ncols = count(ncols, "ncols", example=4)
    colormap = check_cmap(cmap)
    coords, stem = _embedding(adata, basis)
    table = _activities(adata, key, scale, layer)
    chosen = _chosen(table, programs)
    values = table.to_numpy(dtype=float)[:, chosen]
    names = [str(table.columns[j]) for j in chosen]
    limits, shared = _limits(values, vmax)

    ncols = min(ncols, len(chosen))
    nrows = int(np.ceil(len(chosen) / ncols))
    # constrained layout keeps every colorbar beside its own panel at any grid size
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(_PANEL[0] * ncols + (0.6 if shared else 0.0), _PANEL[1] * nrows),
        squeeze=False,
        layout="constrained",
    )
    size = float(np.clip(_DOT_AREA / max(adata.n_obs, 1), *_DOT_RANGE))
    mappable = None
    for j, (ax, name) in enumerate(zip(axes.flat, names, strict=False)):
        order = np.argsort(values[:, j], kind="stable")  # highest drawn last, on top
        vmin, top = limits[j]
        mappable = ax.scatter(
            coords[order, 0],
            coords[order, 1],
            c=values[order, j],
            s=size,
            cmap=colormap,
            vmin=vmin,
            vmax=top,
            linewidths=0,
            rasterized=True,
            plotnonfinite=True,
        )
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"{stem}1", fontsize=7, labelpad=1)
        ax.set_ylabel(f"{stem}2", fontsize=7, labelpad=1)
        if not shared:
            # an arrow on the bar says the brightest colour also stands for higher values
            extend = "max" if values[:, j].max() > top else "neither"
            bar = fig.colorbar(mappable, ax=ax, shrink=0.85, pad=0.02, aspect=20, extend=extend)
            bar.ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(chosen) :]:
        ax.set_visible(False)
    if shared and mappable is not None:
        extend = "max" if values.max() > limits[0][1] else "neither"
        bar = fig.colorbar(
            mappable, ax=axes, shrink=min(0.9, 0.5 + 0.1 * nrows), aspect=30, extend=extend
        )
        bar.ax.tick_params(labelsize=7)
        bar.set_label("activity", fontsize=8)
    return finish(
        fig, axes, show=show, return_fig=False if return_fig is None else return_fig, save=save
    )


def _groups(adata: AnnData, groupby: Any) -> pd.Categorical:
    """``obs[groupby]`` as categories (a copy; ``adata`` is left as it is)."""
    column = obs_column(adata, groupby, "groupby")
    values = adata.obs[column]
    if isinstance(values.dtype, pd.CategoricalDtype):
        return pd.Categorical(values)
    if values.dtype.kind == "f":
        raise ValueError(
            f"groupby={column!r} is a numeric column; pass a categorical one, or convert it "
            f"first: adata.obs[{column!r}] = adata.obs[{column!r}].astype('category')."
        )
    return pd.Categorical(values.astype(str).where(values.notna()))


def _standardised(means: np.ndarray, standard_scale: Any) -> tuple[np.ndarray, str]:
    """``means`` (programs × groups) scaled as scanpy's matrixplot, and the colorbar label."""
    if standard_scale is None:
        return means, "mean activity"
    if standard_scale not in _STANDARD_SCALES:
        raise ValueError(
            f"Invalid option {standard_scale!r} for standard_scale. Valid options are 'var' "
            "(each program scaled 0–1 across groups), 'group' (each group scaled 0–1 across "
            "programs) and None (the means)."
        )
    axis = 1 if standard_scale == "var" else 0
    low = means.min(axis=axis, keepdims=True)
    span = means.max(axis=axis, keepdims=True) - low
    scaled = np.divide(means - low, span, out=np.zeros_like(means), where=span > 0)
    what = "program" if standard_scale == "var" else "group"
    return scaled, f"mean activity\n(0–1 per {what})"


@doc_params(**PL_DOCS)
def programs_by_group(
    adata: AnnData,
    key: str,
    groupby: str,
    *,
    scale: int | None = None,
    layer: int | None = None,
    standard_scale: str | None = "var",
    cmap: Any = "viridis",
    show: bool | None = None,
    return_fig: bool | None = None,
    save: str | bool | None = None,
    ax=None,
):
    """Mean activity of each program in each group of cells: a matrixplot.

    Rows are programs (named), columns the categories of ``obs[groupby]`` under a strip of
    their colours as scanpy draws them (``uns[groupby + '_colors']`` when stored, else
    scanpy's default palette). Each program should light up in one or a few related
    groups.

    Parameters
    ----------
    adata
        AnnData with a result under ``key``.
    key
        ``key_added`` of the factorisation (any result :func:`scnmf.get.activities` reads).
    groupby
        A categorical column of ``adata.obs`` (cell types, clusters). Cells with a missing
        value are left out.
    scale
        pNMF scale to show (``tl.pnmf`` results).
    layer
        Deep-NMF layer to show (``tl.deep_nmf`` results; 1-based).
    standard_scale
        ``'var'``: each program scaled to 0–1 across groups (as genes in
        ``sc.pl.matrixplot``), so a weakly used program still shows where it is used;
        ``'group'``: each group scaled to 0–1 across programs; ``None``: the means.
    cmap
        Matplotlib colormap (name or Colormap).
    {doc_output}
    {doc_ax}

    Returns
    -------
    {doc_returns_axes}

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.pbmc68k_counts()
    >>> snmf.tl.nmf(adata, 4, max_iter=20)
    >>> ax = snmf.pl.programs_by_group(adata, "nmf", "label", show=False)
    """
    from matplotlib.colors import ListedColormap
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    colormap = check_cmap(cmap)
    groups = _groups(adata, groupby)
    table = _activities(adata, key, scale, layer)
    means_df = table.groupby(groups, observed=True).mean()
    if means_df.empty:
        raise ValueError(
            f"obs[{groupby!r}] has no values; pass a column that assigns cells to groups."
        )
    shown = list(means_df.index)
    means, label = _standardised(means_df.to_numpy(dtype=float).T, standard_scale)
    # scanpy's colours of all categories (stored, else its defaults), then those shown
    palette = category_colors(adata, groupby, [str(c) for c in groups.categories])
    colors = [palette[list(groups.categories).index(g)] for g in shown]

    n_programs, n_groups = means.shape
    # 8-pt labels take ~0.07 in per character: the figure grows with the longest names, so
    # long cell-type names rotated under the heatmap never squeeze it away
    group_chars = max(len(str(g)) for g in shown)
    program_chars = max(len(str(p)) for p in table.columns)
    size = (
        1.5 + 0.07 * program_chars + 0.32 * n_groups,
        1.2 + 0.07 * group_chars + 0.28 * n_programs,
    )
    own = ax is None
    fig, ax = new_axes(ax, figsize=size)
    image = ax.imshow(means, aspect="auto", cmap=colormap, interpolation="nearest")
    ax.set_xticks(np.arange(n_groups), [str(g) for g in shown], rotation=90, fontsize=8)
    ax.set_yticks(np.arange(n_programs), [str(p) for p in table.columns], fontsize=8)
    ax.set_xlabel(str(groupby), fontsize=9)
    ax.set_ylabel("program", fontsize=9)
    ax.tick_params(length=0)
    # the colorbar and strip take fixed widths beside ax, inside ax's own space, so a
    # caller's grid of several matrixplots stays aligned
    divider = make_axes_locatable(ax)
    bar_ax = divider.append_axes("right", size=0.12, pad=0.08)
    bar = fig.colorbar(image, cax=bar_ax)
    bar.ax.tick_params(labelsize=7)
    bar.set_label(label, fontsize=8)
    strip = divider.append_axes("top", size=0.12, pad=0.03)
    strip.imshow(np.arange(n_groups)[None, :], aspect="auto", cmap=ListedColormap(colors))
    strip.set_axis_off()
    strip.set_title(f"{key}: mean activity per {groupby}", fontsize=10)
    if own:
        fig.tight_layout()
    return finish(
        fig, ax, show=show, return_fig=False if return_fig is None else return_fig, save=save
    )
