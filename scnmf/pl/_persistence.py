"""``pl.persistence`` (β0 against ε, deaths), ``pl.persistence_diagram`` and ``pl.barcode``."""

from __future__ import annotations

import numpy as np
from anndata import AnnData

from .. import _keys as C
from .._docs import doc_params
from .._records import check_persistence, reuse_fix
from ._legible import renderer_of, spread_order, thin
from ._utils import PL_DOCS, count, finish, given_axes, new_axes, stored

#: Colour of the selected scales in every persistence figure.
SCALE_COLOR = "#e67e22"
_CLASS_COLOR = "#3a6ea5"
_ESSENTIAL_COLOR = "#c0392b"


def _read(adata: AnnData, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Diagram, scales and β0 counts of ``uns[key]``, checked as tl.pnmf checks them."""
    record = stored(adata, key, f"scnmf.tl.persistence(adata, key_added={key!r})")
    record = check_persistence(
        record, adata, where=f"adata.uns[{key!r}]", fix=reuse_fix(key, reader="key")
    )
    U = C.PersistenceUns
    return record[U.DIAGRAM], record[U.SCALES], record[U.N_COMPONENTS]


def _cap(diagram: np.ndarray, scales: np.ndarray) -> float:
    finite = diagram[np.isfinite(diagram[:, 1]), 1]
    top = max(finite.max(initial=0.0), scales.max(initial=0.0))
    return top * 1.08 if top > 0 else 1.0


def _plain_log(ax, axis: str) -> None:
    """A log axis with ticks at 1, 2, 5 × 10ⁿ written as plain numbers (not 10^n)."""
    from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(StrMethodFormatter("{x:g}"))
    target.set_minor_formatter(NullFormatter())


def _scale_lines(n: int) -> dict:
    """Line style of the selected scales: fainter when there are many, so they stay lines."""
    return {"color": SCALE_COLOR, "lw": 0.6 if n <= 20 else 0.4, "alpha": 0.8 if n <= 20 else 0.4}


@doc_params(**PL_DOCS)
def persistence(
    adata: AnnData,
    *,
    key: str = C.PERSISTENCE_KEY,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
    save: str | bool | None = None,
):
    """How many groups of cells there are at each scale ε, and where groups merge.

    Top: β0, the number of connected components of the ε-graph (cells joined when closer
    than ε), against ε on log–log axes; the selected scales (``uns[key]['scales']``) are
    the orange points, labelled with their β0 (labels are thinned so none overlap, so 8
    or 1,000 scales read alike). Long flat stretches are scales where the grouping is
    stable. Bottom: the distribution of the death values, the ε at which two components
    merge; gaps in it are the flat stretches above. Essential classes (never merged) are
    counted in β0 but have no death.

    Parameters
    ----------
    adata
        AnnData after :func:`scnmf.tl.persistence` (reads ``uns[key]``).
    key
        ``key_added`` used there.
    ax
        Two Axes (a list: the β0 curve, then the death histogram) to draw on; a new
        figure otherwise.
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
    >>> snmf.tl.persistence(adata, scales="all")
    >>> axes = snmf.pl.persistence(adata, show=False)
    """
    import matplotlib.pyplot as plt

    diagram, scales, counts = _read(adata, key)
    given = given_axes(ax, 2, "panel (β0 curve, death histogram)")
    if given is None:
        fig, (top, bottom) = plt.subplots(
            2, 1, figsize=(5.5, 5.2), sharex=True, gridspec_kw={"height_ratios": (3, 2)}
        )
    else:
        top, bottom = given
        fig = top.figure
    deaths = diagram[:, 1]
    finite = np.sort(deaths[np.isfinite(deaths)])
    n_essential = int((~np.isfinite(deaths)).sum())
    positive = np.concatenate([finite[finite > 0], scales[scales > 0]])
    floor = positive.min() if positive.size else 1.0  # zero deaths (duplicate cells) sit here
    high = max(finite.max(initial=floor), scales.max(initial=floor)) * 1.15
    low = floor / 1.15
    # β0(ε) = classes still alive at ε = those dying at ε or later (+ the essential ones)
    eps = np.unique(np.concatenate([np.maximum(finite, floor), [high]]))
    beta = finite.size - np.searchsorted(finite, eps, side="left") + n_essential
    top.step(eps, np.maximum(beta, 1), where="pre", color=_CLASS_COLOR, lw=1.3, label="β0(ε)")
    shown = np.maximum(scales, floor)
    top.plot(shown, np.maximum(counts, 1), "o", color=SCALE_COLOR, ms=4, label="selected scales")
    _plain_log(top, "x")
    _plain_log(top, "y")
    top.set_xlim(low, high)
    top.set_ylabel("β0 (groups of cells)")
    top.set_title(f"groups of cells across scales ({scales.size} selected)", fontsize=10)
    top.legend(frameon=False, fontsize=8, loc="lower left")
    edges = np.geomspace(low, high, int(np.clip(2 * np.sqrt(max(finite.size, 1)), 20, 60)))
    bottom.hist(np.maximum(finite, floor), bins=edges, color=_CLASS_COLOR, alpha=0.85)
    _plain_log(bottom, "x")
    bottom.set_xlim(low, high)
    for e in shown:  # a rug: 1,000 selected scales stay ticks, not a band
        bottom.axvline(e, ymin=0.92, ymax=1.0, **_scale_lines(scales.size))
    bottom.set_xlabel("ε (distance between cells)")
    bottom.set_ylabel("merges (H0 deaths)")
    bottom.set_title("where groups merge: death values", fontsize=9)
    if given is None:
        fig.tight_layout()
    top.set_ylim(0.7, max(int(beta.max(initial=1)), 1) * 2.2)  # room above for the labels
    renderer_of(fig)
    right = np.log(low) + 0.85 * (np.log(high) - np.log(low))  # labels near the edge turn left
    labels = [
        top.annotate(
            f"{int(b)}",
            (e, max(int(b), 1)),
            xytext=(4, 4) if np.log(e) < right else (-4, 4),
            ha="left" if np.log(e) < right else "right",
            textcoords="offset points",
            fontsize=8,
            color="#a04000",
        )
        for e, b in zip(shown, counts, strict=True)
    ]
    keep_clear = [top.title, *top.get_legend().get_texts()]
    thin([labels[i] for i in spread_order(len(labels))], pad=3.0, avoid=keep_clear)
    return finish(
        fig, np.array([top, bottom], dtype=object), show=show, return_fig=return_fig, save=save
    )


@doc_params(**PL_DOCS)
def persistence_diagram(
    adata: AnnData,
    *,
    key: str = C.PERSISTENCE_KEY,
    mark_scales: bool = True,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
    save: str | bool | None = None,
):
    """Birth–death diagram of the H0 classes, selected scales as horizontal lines.

    Essential classes (infinite death) are drawn on a dashed line labelled ∞ above the
    largest finite death. For the H0 classes of a cell graph every birth is 0, so the
    diagram is one column of deaths: :func:`persistence` shows the same information as
    β0 against ε, which is easier to read.

    Parameters
    ----------
    adata
        AnnData after :func:`scnmf.tl.persistence` (reads ``uns[key]``).
    key
        ``key_added`` used there.
    mark_scales
        Draw the selected scales (ε values) as horizontal lines, labelled with β0 at the
        right (thinned so labels never overlap).
    {doc_ax}
    {doc_output}

    Returns
    -------
    {doc_returns_axes}

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.concentric_circles()
    >>> snmf.tl.persistence(adata)
    >>> ax = snmf.pl.persistence_diagram(adata, show=False)
    """
    diagram, scales, counts = _read(adata, key)
    own = ax is None
    fig, ax = new_axes(ax, figsize=(4.8, 4.2))
    cap = _cap(diagram, scales)
    death = np.where(np.isfinite(diagram[:, 1]), diagram[:, 1], cap)
    essential = ~np.isfinite(diagram[:, 1])
    ax.scatter(diagram[~essential, 0], death[~essential], s=12, color=_CLASS_COLOR, label="H0")
    if essential.any():
        ax.scatter(
            diagram[essential, 0],
            death[essential],
            s=30,
            marker="^",
            color=_ESSENTIAL_COLOR,
            label=f"essential ({int(essential.sum())})",
        )
        ax.axhline(cap, ls="--", lw=0.8, color="grey")
        ax.text(0, cap, " ∞", va="bottom", fontsize=8, color="grey")
    ax.plot([0, cap], [0, cap], lw=0.8, color="black")
    ax.set_xlim(-0.04 * cap, cap * 1.02)
    ax.set_xlabel("birth")
    ax.set_ylabel("death (ε)")
    ax.set_title("H0 persistence diagram")
    ax.legend(fontsize=7, loc="lower right")
    if mark_scales:
        style = _scale_lines(scales.size)
        for eps in scales:
            ax.axhline(eps, **style)
        transform = ax.get_yaxis_transform()  # x in axes units, y in data units
        labels = [
            ax.text(
                1.01,
                eps,
                f"β0={int(b)}",
                transform=transform,
                fontsize=7,
                va="center",
                color="#a04000",
            )
            for eps, b in zip(scales, counts, strict=True)
        ]
    if own:  # room for the labels at the right
        fig.tight_layout()
    if mark_scales:
        thin([labels[i] for i in spread_order(len(labels))], pad=1.5)
    return finish(fig, ax, show=show, return_fig=return_fig, save=save)


@doc_params(**PL_DOCS)
def barcode(
    adata: AnnData,
    *,
    key: str = C.PERSISTENCE_KEY,
    max_bars: int | None = 200,
    mark_scales: bool = True,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
    save: str | bool | None = None,
):
    """Barcode of the H0 classes (longest last), selected scales as vertical lines.

    Each bar is one group of cells, from its birth (0) to the ε at which it merges into
    another. The β0 of each selected scale is written above the plot, horizontally, thinned
    so that labels never overlap (8 or 1,000 scales alike).

    Parameters
    ----------
    adata
        AnnData after :func:`scnmf.tl.persistence` (reads ``uns[key]``).
    key
        ``key_added`` used there.
    max_bars
        Draw only the longest ``max_bars`` bars (``None`` for all).
    mark_scales
        Draw the selected scales as vertical lines labelled with β0.
    {doc_ax}
    {doc_output}

    Returns
    -------
    {doc_returns_axes}

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.concentric_circles()
    >>> snmf.tl.persistence(adata, scales="all")
    >>> ax = snmf.pl.barcode(adata, show=False)
    """
    if max_bars is not None:
        max_bars = count(max_bars, "max_bars", example=200)
    diagram, scales, counts = _read(adata, key)
    own = ax is None
    fig, ax = new_axes(ax, figsize=(5.8, 4.2))
    cap = _cap(diagram, scales)
    death = np.where(np.isfinite(diagram[:, 1]), diagram[:, 1], cap)
    order = np.argsort(death - diagram[:, 0], kind="stable")
    if max_bars is not None:
        order = order[-int(max_bars) :]
    y = np.arange(order.size)
    colors = np.where(np.isfinite(diagram[order, 1]), _CLASS_COLOR, _ESSENTIAL_COLOR)
    ax.hlines(y, diagram[order, 0], death[order], colors=colors, lw=1.2 if y.size <= 300 else 0.5)
    ax.set_ylim(-1, max(order.size, 1))
    ax.set_yticks([])
    ax.set_xlabel("ε (distance between cells)")
    ax.set_ylabel(f"H0 classes ({order.size} of {diagram.shape[0]}, longest at top)")
    ax.set_title("H0 barcode; β0 at the selected scales above", fontsize=10, pad=22)
    if mark_scales:
        style = _scale_lines(scales.size)
        for eps in scales:
            ax.axvline(eps, **style)
        transform = ax.get_xaxis_transform()  # x in data units, y in axes units
        labels = [
            ax.text(
                eps,
                1.01,
                f"{int(b)}",
                transform=transform,
                fontsize=8,
                ha="center",
                va="bottom",
                color="#a04000",
            )
            for eps, b in zip(scales, counts, strict=True)
        ]
    if own:
        fig.tight_layout()
    if mark_scales:
        # a gap of a few pixels: "1000" next to "17" must not read as "100017"
        thin([labels[i] for i in spread_order(len(labels))], pad=3.0, avoid=[ax.title])
    return finish(fig, ax, show=show, return_fig=return_fig, save=save)
