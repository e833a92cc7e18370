"""Text that stays readable with 10 or 1,000 labels: overlapping labels are thinned.

Labels are placed first, then :func:`thin` measures them with the figure's renderer and
hides each one that would overlap a label kept before it (callers pass the labels in order
of importance). This runs after the layout is fixed, so the measured boxes are the drawn
ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def renderer_of(fig):
    """The renderer that measures text (drawing once when the canvas has none yet)."""
    try:
        return fig.canvas.get_renderer()
    except AttributeError:  # a canvas without get_renderer (e.g. some interactive ones)
        fig.canvas.draw()
        return fig.canvas.get_renderer()


def _boxes(texts: Sequence, renderer, pad: float) -> np.ndarray:
    out = np.empty((len(texts), 4))
    for i, t in enumerate(texts):
        b = t.get_window_extent(renderer)
        out[i] = (b.x0 - pad, b.y0 - pad, b.x1 + pad, b.y1 + pad)
    return out


def thin(texts: Sequence, renderer=None, *, pad: float = 1.0, avoid: Sequence = ()) -> list:
    """Hide every text that overlaps one kept before it; return the kept ones.

    ``texts`` in order of importance (the first is always kept unless it overlaps
    something in ``avoid``, e.g. a title). ``pad`` is the minimum gap in pixels.
    """
    texts = [t for t in texts if t.get_visible() and t.get_text()]
    if not texts:
        return []
    renderer = renderer or renderer_of(texts[0].figure)
    boxes = _boxes(texts, renderer, pad)
    fixed = _boxes([t for t in avoid if t.get_visible() and t.get_text()], renderer, 0.0)
    kept_boxes = list(fixed)
    kept = []
    for text, box in zip(texts, boxes, strict=True):
        if kept_boxes:
            k = np.asarray(kept_boxes)
            hit = (k[:, 0] < box[2]) & (box[0] < k[:, 2]) & (k[:, 1] < box[3]) & (box[1] < k[:, 3])
            if hit.any():
                text.set_visible(False)
                continue
        kept_boxes.append(box)
        kept.append(text)
    return kept


def spread_vertically(ax, texts: Sequence, low: float, high: float, renderer=None) -> list:
    """Move a column of ``va='center'`` labels apart (data y) so they do not overlap.

    Each label stays as near its anchor as the others allow, within ``[low, high]``; when
    they cannot all fit, nothing moves and :func:`thin` drops the labels that overlap.
    Returns ``(text, anchor y)`` for the labels that moved, for leader lines.
    """
    if not texts:
        return []
    renderer = renderer or renderer_of(ax.figure)
    y0, y1 = ax.get_ylim()
    px = ax.get_window_extent(renderer).height / (y1 - y0)  # pixels per data unit
    anchors = np.array([t.get_position()[1] for t in texts], dtype=float)
    heights = np.array([t.get_window_extent(renderer).height + 2.0 for t in texts]) / px
    if heights.sum() > high - low:
        return []
    order = np.argsort(-anchors, kind="stable")  # top to bottom
    pos = np.empty(len(texts))
    ceiling = high
    for i in order:  # downwards: below the label above, at most at the anchor
        pos[i] = min(anchors[i], ceiling - heights[i] / 2)
        ceiling = pos[i] - heights[i] / 2
    floor = low
    for i in order[::-1]:  # upwards: above the label below (and the bottom)
        pos[i] = max(pos[i], floor + heights[i] / 2)
        floor = pos[i] + heights[i] / 2
    moved = []
    for t, y, anchor in zip(texts, pos, anchors, strict=True):
        if abs(y - anchor) > 1e-9:
            x = t.get_position()[0]
            t.set_position((x, y))
            moved.append((t, anchor))
    return moved


def spread_order(n: int) -> list[int]:
    """0 … n−1 ordered ends first, then midpoints of the widest gaps (an even thinning)."""
    if n <= 2:
        return list(range(n))
    order, seen = [0, n - 1], {0, n - 1}
    gaps = [(0, n - 1)]
    while gaps:
        nxt = []
        for a, b in gaps:
            if b - a > 1:
                m = (a + b) // 2
                if m not in seen:
                    seen.add(m)
                    order.append(m)
                nxt += [(a, m), (m, b)]
        gaps = nxt
    return order


def thin_ticks(ax, axis: str, positions: Sequence[float], labels: Sequence[str], priority=None):
    """Ticks at every position, labels only where they do not overlap (``priority`` order)."""
    setter = ax.set_xticks if axis == "x" else ax.set_yticks
    setter(list(positions), list(labels))
    ticks = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    order = spread_order(len(ticks)) if priority is None else list(priority)
    kept = {id(t) for t in thin([ticks[i] for i in order], pad=1.5)}
    shown = [str(lab) if id(t) in kept else "" for t, lab in zip(ticks, labels, strict=True)]
    setter(list(positions), shown)


def plain_log_numbers(axis) -> None:
    """Tick labels of a log axis as plain numbers (40,000, not 4×10⁴ in TeX markup)."""
    from matplotlib.ticker import FuncFormatter

    def text(x, _pos=None):
        return f"{x:,.0f}" if x >= 100 else f"{x:g}"

    def minor(x, _pos=None):  # minor ticks only when the axis spans less than a decade
        low, high = sorted(axis.get_view_interval())
        return text(x) if low > 0 and high / low < 10 else ""

    axis.set_major_formatter(FuncFormatter(text))
    axis.set_minor_formatter(FuncFormatter(minor))


def visible_texts(fig) -> list:
    """Every drawn, non-empty text of ``fig``: titles, labels, ticks, legends, annotations.

    Call after ``fig.canvas.draw()``. For the legibility tests and for callers that check.
    """
    out = [t for t in fig.texts]
    if getattr(fig, "_suptitle", None) is not None:
        out.append(fig._suptitle)
    for a in fig.axes:
        if not a.get_visible():
            continue
        out += [a.title, a._left_title, a._right_title]
        for axis in (a.xaxis, a.yaxis):
            if not axis.get_visible():  # e.g. the x axis of a twinx: not drawn
                continue
            out.append(axis.label)
            for tick in axis._update_ticks():  # the ticks inside the view: those drawn
                out += [label for label in (tick.label1, tick.label2) if label.get_visible()]
        out += list(a.texts)
        legend = a.get_legend()
        if legend is not None and legend.get_visible():
            out += list(legend.get_texts()) + [legend.get_title()]
    for legend in fig.legends:
        out += list(legend.get_texts()) + [legend.get_title()]
    seen, unique = set(), []
    for t in out:
        if id(t) not in seen and t.get_visible() and t.get_text().strip():
            seen.add(id(t))
            unique.append(t)
    return unique
