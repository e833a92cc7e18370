"""Drawing of the deep-NMF Sankey: node extents, curved bands, stacked composition bars."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._legible import renderer_of

#: Band colour when the nodes show cell-type composition: colour then means cell type only.
NEUTRAL_BAND = "#9aa5b1"


def node_extents(masses: Sequence[np.ndarray], gap: float) -> list[list[tuple[float, float]]]:
    """(bottom, top) of every program of every layer: heights ∝ mass, ``gap`` between."""
    extents = []
    for mass in masses:
        r = len(mass)
        scale = 1.0 - gap * (r - 1)
        tops, pos = [], 1.0
        for k in range(r):
            h = mass[k] * scale
            tops.append((pos - h, pos))
            pos -= h + gap
        extents.append(tops)
    return extents


def band(x0, x1, y0_lo, y0_hi, y1_lo, y1_hi) -> np.ndarray:
    """A band from [y0_lo, y0_hi] at x0 to [y1_lo, y1_hi] at x1, as a polygon (S-curves)."""
    xs = np.linspace(x0, x1, 24)
    ease = (1 - np.cos(np.linspace(0, np.pi, 24))) / 2
    low = y0_lo + (y1_lo - y0_lo) * ease
    high = y0_hi + (y1_hi - y0_hi) * ease
    return np.column_stack([np.r_[xs, xs[::-1]], np.r_[low, high[::-1]]])


def draw_bands(ax, flows, extents, width: float, min_flow: float, colors) -> None:
    """Bands between consecutive layers; ``colors(ell, k)`` colours source program k.

    One collection for all bands: thousands of them (many programs) draw in a moment,
    where one patch each would take a millisecond apiece.
    """
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import to_rgba

    polys, faces = [], []
    for ell, F in enumerate(flows):
        src, dst = extents[ell], extents[ell + 1]
        out_share = F / np.maximum(F.sum(axis=1, keepdims=True), np.finfo(float).tiny)
        in_share = F / np.maximum(F.sum(axis=0, keepdims=True), np.finfo(float).tiny)
        src_cursor = [top for _, top in src]
        dst_cursor = [top for _, top in dst]
        for k in range(F.shape[0]):
            for j in range(F.shape[1]):
                hs = out_share[k, j] * (src[k][1] - src[k][0])
                ht = in_share[k, j] * (dst[j][1] - dst[j][0])
                if out_share[k, j] >= min_flow:
                    polys.append(
                        band(
                            ell + width / 2,
                            ell + 1 - width / 2,
                            src_cursor[k] - hs,
                            src_cursor[k],
                            dst_cursor[j] - ht,
                            dst_cursor[j],
                        )
                    )
                    faces.append(to_rgba(colors(ell, k), 0.35))
                src_cursor[k] -= hs
                dst_cursor[j] -= ht
    ax.add_collection(PolyCollection(polys, facecolors=faces, edgecolors="none"), autolim=False)


def node_segments(x: float, bottom: float, top: float, width: float, shares, colors) -> list:
    """One program's bar as ``(polygon, colour)``: one colour, or stacked ``shares``."""
    x0, x1 = x - width / 2, x + width / 2

    def rect(lo: float, hi: float) -> np.ndarray:
        return np.array([(x0, lo), (x1, lo), (x1, hi), (x0, hi)])

    if shares is None:
        return [(rect(bottom, top), colors)]
    out, y = [], top
    for share, color in zip(shares, colors, strict=True):
        h = share * (top - bottom)
        if h > 0:
            out.append((rect(y - h, y), color))
        y -= h
    if y - bottom > 1e-9:  # cells without a category
        out.append((rect(bottom, y), "0.85"))
    return out


def draw_nodes(ax, segments: list) -> None:
    """All the bars' segments in one collection (see :func:`draw_bands`)."""
    from matplotlib.collections import PolyCollection

    polys = [p for p, _ in segments]
    colors = [c for _, c in segments]
    ax.add_collection(
        PolyCollection(polys, facecolors=colors, edgecolors="none", zorder=2), autolim=False
    )


def fit_xlim(ax, widths: tuple[float, float], x_left: float, x_right: float) -> None:
    """Widen the x range so the outer columns' labels lie inside the Axes.

    Outside they would run into the y label or the legend. ``widths`` are the widest
    left and right labels in pixels; left labels end at ``x_left``, right ones start at
    ``x_right`` (data units).
    """
    W = ax.get_window_extent(renderer_of(ax.figure)).width
    fl, fr = ((w + 6.0) / W if w else 0.02 for w in widths)
    span = (x_right - x_left) / max(1.0 - fl - fr, 0.1)
    ax.set_xlim(x_left - fl * span, x_right + fr * span)


def widest_label(texts: list) -> float:
    """Width in pixels of the widest of ``texts`` (0 when there are none)."""
    renderer = renderer_of(texts[0].figure) if texts else None
    return max((t.get_window_extent(renderer).width for t in texts), default=0.0)
