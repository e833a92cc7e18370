"""``pl.k_selection`` (stability and error against k) and ``pl.consensus_clustergram``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from anndata import AnnData

from .. import _keys as C
from .._docs import doc_params
from ._utils import PL_DOCS, _a, finish, new_axes, stored_record

U = C.ConsensusUns
_STABILITY_COLOR = "#3a6ea5"
_ERROR_COLOR = "#c0392b"
#: Filtered (outlier) programs: black is in none of scanpy's category palettes.
_FILTERED_COLOR = "#000000"
_KEPT_COLOR = "#7f9fc4"


def _producer(key: str) -> str:
    return f"scnmf.tl.consensus_nmf(adata, key_added={key!r})"


def _record(adata: AnnData, key: str, field: str) -> tuple[Mapping, Mapping]:
    """``uns[key]`` and its entry ``field`` (a mapping), or a KeyError/TypeError with the fix."""
    record = stored_record(adata, key, _producer(key), [field])
    entry = record[field]
    if not isinstance(entry, Mapping):
        raise TypeError(
            f"adata.uns[{key!r}][{field!r}] is {_a(entry)}, not a record; rerun {_producer(key)}."
        )
    return record, entry


def _arrays(entry: Mapping, fields: Sequence[str], where: str, key: str) -> dict:
    missing = [f for f in fields if f not in entry]
    if missing:
        raise KeyError(f"{where} holds no {missing[0]!r}; rerun {_producer(key)}.")
    return {f: np.asarray(entry[f]) for f in fields}


def _thinned(ks: np.ndarray, ax) -> np.ndarray:
    """The tried ks as ticks, thinned when they would not fit the axis width.

    Thinned: the multiples of a round step (1, 2, 5, 10, 20, …) among them, else every
    step-th one.
    """
    width = ax.get_position().width * ax.figure.get_figwidth()
    # two-digit labels at the default size take ~0.25 in; keep a gap of the same again
    fit = max(2, int(width / 0.45))
    if len(ks) <= fit:
        return ks
    need = len(ks) / fit
    steps = [m * 10**e for e in range(6) for m in (1, 2, 5)]
    step = next(s for s in steps if s >= need)
    round_ticks = ks[ks % step == 0]
    # a round step may skip every tried k (e.g. 11, 13, …) or thin too much: fall back
    return round_ticks if 2 <= len(round_ticks) <= fit else ks[:: int(np.ceil(need))]


@doc_params(**PL_DOCS)
def k_selection(
    adata: AnnData,
    *,
    key: str = C.CONSENSUS_KEY,
    ax=None,
    show: bool | None = None,
    return_fig: bool | None = None,
    save: str | bool | None = None,
):
    """Stability and error of the consensus against k, to choose the number of programs.

    As cNMF's k-selection figure: stability (left axis) is the silhouette of the
    clustering of all replicate programs of each k, error (right axis) the reconstruction
    error of each k's consensus. A good k is stable with a low error; the stored k
    (``uns[key]['k']``, by default the most stable one) is marked by a dashed line.

    Parameters
    ----------
    adata
        AnnData after :func:`scnmf.tl.consensus_nmf` (reads ``uns[key]['k_selection']``
        and ``uns[key]['k']``).
    key
        ``key_added`` used there.
    {doc_ax}
    show, return_fig
        Show the figure, or return it instead of the Axes.
    save
        As scanpy: ``True`` writes ``sc.settings.figdir/k_selection.<file_format_figs>``; a
        str is a suffix of that name (its extension sets the format); a str with a folder
        or a Path is the file itself.

    Returns
    -------
    The Axes of the stability (the error's twin Axes is ``ax.right_ax``), or the Figure
    with ``return_fig=True``; ``None`` when shown.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.synthetic_counts(n_cells=200, n_genes=100, n_programs=4)
    >>> snmf.tl.consensus_nmf(adata, [3, 4, 5], n_replicates=4, max_iter=50)
    >>> ax = snmf.pl.k_selection(adata, show=False)
    """
    from matplotlib.lines import Line2D

    record, table = _record(adata, key, U.K_SELECTION)
    where = f"adata.uns[{key!r}][{U.K_SELECTION!r}]"
    values = _arrays(table, (U.K, U.STABILITY, U.ERROR), where, key)
    ks = values[U.K].ravel()
    if (
        ks.size == 0
        or ks.dtype.kind not in "iu"
        or any(values[f].ravel().shape != ks.shape for f in (U.STABILITY, U.ERROR))
    ):
        raise ValueError(
            f"{where} is not one integer k with one stability and one error per k tried "
            f"(shapes {[values[f].shape for f in values]}); rerun {_producer(key)}."
        )
    order = np.argsort(ks, kind="stable")
    ks = ks[order].astype(int)
    stability = values[U.STABILITY].ravel()[order].astype(float)
    error = values[U.ERROR].ravel()[order].astype(float)
    selected = record.get(U.K)

    own = ax is None
    fig, ax = new_axes(ax, figsize=(5.5, 3.8))
    ax.plot(ks, stability, "o-", color=_STABILITY_COLOR, lw=1.5, ms=4)
    right = ax.twinx()
    right.plot(ks, error, "s-", color=_ERROR_COLOR, lw=1.5, ms=4)
    ax.right_ax = right  # as pandas' secondary_y, so a caller finds the twin
    ax.set_xlabel("number of programs k")
    ax.set_ylabel("stability (silhouette)", color=_STABILITY_COLOR)
    right.set_ylabel("error of the consensus", color=_ERROR_COLOR)
    ax.tick_params(axis="y", colors=_STABILITY_COLOR)
    right.tick_params(axis="y", colors=_ERROR_COLOR)
    handles = [
        Line2D([], [], marker="o", color=_STABILITY_COLOR, label="stability"),
        Line2D([], [], marker="s", color=_ERROR_COLOR, label="error"),
    ]
    if selected is not None and np.isfinite(selected):
        ax.axvline(int(selected), color="0.35", ls="--", lw=1.0)
        handles.append(Line2D([], [], color="0.35", ls="--", label=f"selected k = {selected}"))
    ax.set_title(f"choosing k ({key})", fontsize=10)
    # the legend sits above the plot: inside, it would cover one series or the other
    ax.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.08),
        ncol=len(handles),
        frameon=False,
        fontsize=8,
    )
    pad = max(0.5, 0.04 * (ks[-1] - ks[0]))
    ax.set_xlim(ks[0] - pad, ks[-1] + pad)
    if own:  # a caller's figure is the caller's to lay out
        fig.tight_layout()
    ax.set_xticks(_thinned(ks, ax))
    ax.set_xticks([], minor=True)
    return finish(
        fig,
        ax,
        show=show,
        return_fig=False if return_fig is None else return_fig,
        save=save,
        name="k_selection",
    )


def _palette(palette: Any, k: int) -> list:
    """``k`` colours: scanpy's category palettes by default, a colormap name, or a list."""
    import matplotlib as mpl
    from matplotlib.colors import to_rgba

    if palette is None:
        from scanpy.plotting import palettes

        for colors in (palettes.default_20, palettes.default_28, palettes.default_102):
            if k <= len(colors):
                return [to_rgba(c) for c in colors[:k]]
        return [to_rgba(palettes.default_102[i % 102]) for i in range(k)]
    if isinstance(palette, str):
        if palette not in mpl.colormaps:
            raise ValueError(
                f"palette={palette!r} is not a matplotlib colormap; pass a colormap name "
                "(e.g. 'tab20') or a list of colours."
            )
        cmap = mpl.colormaps[palette]
        n = getattr(cmap, "N", 256)
        if n < 256:  # a qualitative map: its own colours in turn
            return [cmap(i % n) for i in range(k)]
        return [cmap(x) for x in np.linspace(0.0, 1.0, k)]
    if not isinstance(palette, Sequence) or len(palette) < k:
        raise ValueError(
            f"palette holds {len(palette) if isinstance(palette, Sequence) else 'no'} colours "
            f"for {k} programs; pass at least {k} colours, a colormap name, or None."
        )
    try:
        return [to_rgba(c) for c in palette[:k]]
    except ValueError as err:
        raise ValueError(f"palette: {err}; pass matplotlib colours such as '#1f77b4'.") from None


def _replicates(adata: AnnData, key: str) -> tuple[Mapping, dict]:
    record, entry = _record(adata, key, U.REPLICATES)
    where = f"adata.uns[{key!r}][{U.REPLICATES!r}]"
    r = _arrays(entry, U.REPLICATE_FIELDS, where, key)
    n = r[U.LOCAL_DENSITY].size
    corr, index = r[U.CORRELATION], r[U.CORRELATION_INDEX].ravel()
    problems = []
    if any(r[f].ravel().size != n for f in (U.KEPT, U.LABELS)):
        problems.append("local_density, kept and labels differ in length")
    if corr.ndim != 2 or corr.shape != (index.size, index.size):
        problems.append(f"correlation {corr.shape} is not square over correlation_index")
    elif index.size and (index.dtype.kind not in "iu" or index.min() < 0 or index.max() >= n):
        problems.append("correlation_index points outside the programs")
    if problems:
        raise ValueError(
            f"{where} is inconsistent ({'; '.join(problems)}); rerun {_producer(key)}."
        )
    r[U.CORRELATION_INDEX] = index
    return record, r


def _strip_image(codes: np.ndarray, colors: list) -> np.ndarray:
    from matplotlib.colors import to_rgba

    table = np.array([*colors, to_rgba(_FILTERED_COLOR)])  # code −1 → the last row
    return table[np.where(codes < 0, len(colors), codes)]


@doc_params(**PL_DOCS)
def consensus_clustergram(
    adata: AnnData,
    *,
    key: str = C.CONSENSUS_KEY,
    cmap: str = "RdBu_r",
    palette: str | Sequence | None = None,
    show: bool | None = None,
    return_fig: bool | None = None,
    save: str | bool | None = None,
):
    """How the replicate programs of the selected k cluster, and which were filtered.

    Left: Pearson correlation of the replicate programs, ordered by consensus program
    (clustergram order: the kept programs of each cluster together, then the filtered
    outliers). The strips along the top and left give each replicate program's consensus
    program; black marks the programs the density filter dropped. Tight blocks along the
    diagonal mean the replicates agree on that program. Right: histogram of the local
    density of every replicate program with the threshold above which a program counts
    as an outlier.

    This is a multi-panel figure, so it takes no ``ax``.

    Parameters
    ----------
    adata
        AnnData after :func:`scnmf.tl.consensus_nmf` (reads ``uns[key]['replicates']``
        and ``uns[key]['params']['density_threshold']``).
    key
        ``key_added`` used there.
    cmap
        Colormap of the correlation (from −1 to 1).
    palette
        Colours of the consensus programs: a list (one per program), a matplotlib
        colormap name, or ``None`` for scanpy's default category palette.
    show, return_fig
        Show the figure, or return it instead of the Axes.
    save
        As scanpy: ``True`` writes
        ``sc.settings.figdir/consensus_clustergram.<file_format_figs>``; a str is a suffix
        of that name (its extension sets the format); a str with a folder or a Path is the
        file itself.

    Returns
    -------
    An array of the two main Axes, ``[heatmap, histogram]``, or the Figure with
    ``return_fig=True``; ``None`` when shown.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.synthetic_counts(n_cells=200, n_genes=100, n_programs=4)
    >>> snmf.tl.consensus_nmf(adata, [3, 4, 5], n_replicates=4, max_iter=50)
    >>> axes = snmf.pl.consensus_clustergram(adata, show=False)
    """
    import matplotlib as mpl
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    if not isinstance(cmap, str | mpl.colors.Colormap) or (
        isinstance(cmap, str) and cmap not in mpl.colormaps
    ):
        raise ValueError(f"cmap={cmap!r} is not a matplotlib colormap; pass e.g. cmap='RdBu_r'.")
    record, r = _replicates(adata, key)
    params = record.get(U.PARAMS, {})
    threshold = params.get("density_threshold") if isinstance(params, Mapping) else None
    if threshold is None:
        raise KeyError(
            f"adata.uns[{key!r}][{U.PARAMS!r}] holds no 'density_threshold'; rerun "
            f"{_producer(key)}."
        )
    threshold = float(threshold)
    labels = r[U.LABELS].ravel().astype(int)
    kept = r[U.KEPT].ravel().astype(bool)
    density = r[U.LOCAL_DENSITY].ravel().astype(float)
    corr, index = r[U.CORRELATION].astype(float), r[U.CORRELATION_INDEX]
    k = int(record.get(U.K, labels.max() + 1 if labels.size else 0))
    colors = _palette(palette, max(k, int(labels.max()) + 1 if labels.size else 0))
    n, m = labels.size, index.size

    codes = labels[index]
    present = set(codes.tolist())
    handles = [
        Patch(color=colors[c], label=f"program {c}") for c in range(len(colors)) if c in present
    ]
    if -1 in present:
        handles.append(Patch(color=_FILTERED_COLOR, label="filtered (outlier)"))
    ncol = max(1, int(np.ceil(len(handles) / 28)))  # ≤ 28 entries per column
    # fixed boxes, in inches: the colorbar label, each legend column and the histogram's
    # y label get their own room, so nothing overlaps at any k
    heat_w, gap, legend_w, hist_w, height = 4.7, 0.95, 1.3 * ncol, 4.0, 5.4
    width = 0.5 + heat_w + gap + legend_w + 0.75 + hist_w + 0.3
    fig = plt.figure(figsize=(width, height))

    def box(x0: float, w: float, bottom: float = 0.55, h: float = 4.3):
        return (x0 / width, bottom / height, w / width, h / height)

    heat = fig.add_axes(box(0.5, heat_w))
    image = heat.imshow(corr, cmap=cmap, vmin=-1.0, vmax=1.0, aspect="equal")
    heat.set_xticks([])
    heat.set_yticks([])
    # boundaries between consensus programs (and before the filtered block)
    cuts = np.flatnonzero(np.diff(codes)) + 0.5
    for cut in cuts:
        heat.axhline(cut, color="white", lw=0.6)
        heat.axvline(cut, color="white", lw=0.6)
    divider = make_axes_locatable(heat)
    divider.set_anchor("W")  # the square heatmap hugs the left edge of its box
    top = divider.append_axes("top", size="4%", pad=0.03)
    left = divider.append_axes("left", size="4%", pad=0.03)
    bar = divider.append_axes("right", size="4%", pad=0.08)
    strip = _strip_image(codes, colors)
    top.imshow(strip[None], aspect="auto", interpolation="nearest")
    left.imshow(strip[:, None], aspect="auto", interpolation="nearest")
    for a in (top, left):
        a.set_xticks([])
        a.set_yticks([])
    fig.colorbar(image, cax=bar, label="Pearson correlation")
    shown = f" ({m} of {n} shown)" if m < n else ""
    top.set_title(f"correlation of {n} replicate programs, k = {k}{shown}", fontsize=10)
    heat.set_xlabel("replicate programs, grouped by consensus program")
    left.set_ylabel("replicate programs")

    legend_ax = fig.add_axes(box(0.5 + heat_w + gap, legend_w))
    legend_ax.axis("off")
    legend_ax.legend(
        handles=handles,
        loc="center left",
        ncol=ncol,
        fontsize=7 if len(handles) > 20 else 8,
        frameon=False,
        title="consensus program",
        title_fontsize=8,
        handlelength=1.0,
        columnspacing=0.8,
    )

    hist = fig.add_axes(box(width - 0.3 - hist_w, hist_w, 0.65, 4.0))
    # bins span 0 … the threshold too: bins fitted to the data alone are hairlines when
    # every program lies far below the threshold (the usual case for a stable k)
    high = max(float(density.max()) if n else 0.0, threshold) * 1.03
    edges = np.linspace(0.0, high, int(np.clip(2 * np.sqrt(n), 20, 60)) + 1)
    hist.hist(
        [density[kept], density[~kept]],
        bins=edges,
        stacked=True,
        color=[_KEPT_COLOR, _FILTERED_COLOR],
        label=[f"kept ({int(kept.sum())})", f"filtered ({int((~kept).sum())})"],
    )
    hist.axvline(threshold, color=_ERROR_COLOR, ls="--", lw=1.2, label=f"threshold {threshold:.3g}")
    hist.set_xlabel("local density (mean distance to nearest replicates)")
    hist.set_ylabel("replicate programs")
    hist.set_title(
        f"{int(kept.sum())} of {n} kept, {int((~kept).sum())} filtered as outliers", fontsize=10
    )
    hist.legend(frameon=False, fontsize=8)
    hist.set_xlim(0.0, high)
    axes = np.array([heat, hist], dtype=object)
    return finish(
        fig,
        axes,
        show=show,
        return_fig=False if return_fig is None else return_fig,
        save=save,
        name="consensus_clustergram",
    )
