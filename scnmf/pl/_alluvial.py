"""The alluvial of ``pl.scale_path``: cells' clusters at each scale, bands coloured by group."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._colors import NA_COLOR, Coloring

_WIDTH = 0.22  # bar width, in scale steps
_GAP = 0.012  # space between clusters, as a fraction of the cells


def _layout(clusters: np.ndarray, n: int) -> tuple[list[dict[int, float]], float]:
    """Bottom of every cluster's bar at every scale (fraction of cells) and the bar scale."""
    most = max(len(np.unique(clusters[:, t])) for t in range(clusters.shape[1]))
    unit = (1.0 - _GAP * (most - 1)) / n  # height of one cell
    bottoms = []
    for t in range(clusters.shape[1]):
        ids, sizes = np.unique(clusters[:, t], return_counts=True)
        y, pos = 0.0, {}
        for c, s in zip(ids, sizes, strict=True):
            pos[int(c)] = y
            y += s * unit + _GAP
        bottoms.append(pos)
    return bottoms, unit


def _ribbon(x0: float, x1: float, low0: float, low1: float, h: float) -> np.ndarray:
    xs = np.linspace(x0, x1, 24)
    ease = (1 - np.cos(np.linspace(0, np.pi, 24))) / 2
    low = low0 + (low1 - low0) * ease
    return np.column_stack([np.r_[xs, xs[::-1]], np.r_[low, (low + h)[::-1]]])


def draw_alluvial(
    ax, clusters: np.ndarray, groups: Coloring, scale_names: Sequence[str], title: str
) -> list:
    """Stacked bars per scale (clusters, split by group) joined by bands of shared cells.

    ``clusters`` is cells × shown scales (each cell's dominant program); ``groups`` colours
    the cells (categories, −1 grey). A band carries the cells of one group that go from
    cluster a at one scale to cluster b at the next; bars are labelled with the program.
    Returns the bar labels, largest cluster first, for thinning once the layout is fixed.
    """
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import to_rgba

    n, T = clusters.shape
    table = [to_rgba(c) for c in [*groups.colors, NA_COLOR]]  # code −1 → the last
    codes = np.where(groups.codes < 0, len(groups.colors), groups.codes)
    present = np.unique(codes)
    color_of = {int(g): table[int(g)] for g in present}
    bottoms, unit = _layout(clusters, n)
    polys, faces = [], []
    labels = []
    for t in range(T):  # bars: each cluster stacked by group
        for c, bottom in bottoms[t].items():
            inside = codes[clusters[:, t] == c]
            y = bottom
            for g in present:
                h = np.count_nonzero(inside == g) * unit
                if h > 0:
                    x0, x1 = t - _WIDTH / 2, t + _WIDTH / 2
                    polys.append([(x0, y), (x1, y), (x1, y + h), (x0, y + h)])
                    faces.append(color_of[int(g)])
                    y += h
            labels.append(((t, bottom + 0.5 * (y - bottom)), f"p{c}", y - bottom))
    for t in range(T - 1):  # bands: (cluster at t, cluster at t+1, group) triples
        out_cursor = dict(bottoms[t])
        in_cursor = dict(bottoms[t + 1])
        # bands leave a bar grouped by group (as the bar is stacked), then by target, and
        # enter theirs grouped by group, then by source: colours meet their segments
        triples = np.column_stack([clusters[:, t], codes, clusters[:, t + 1]])
        keys, counts = np.unique(triples, axis=0, return_counts=True)  # sorted (a, g, b)
        arrive = {}
        for i in sorted(range(len(keys)), key=lambda i: (keys[i][2], keys[i][1], keys[i][0])):
            b = int(keys[i][2])
            arrive[i] = in_cursor[b]
            in_cursor[b] += counts[i] * unit
        for i, ((a, g, _b), c) in enumerate(zip(keys, counts, strict=True)):
            h = c * unit
            polys.append(
                _ribbon(t + _WIDTH / 2, t + 1 - _WIDTH / 2, out_cursor[int(a)], arrive[i], h)
            )
            face = np.array(color_of[int(g)], dtype=float)
            face[3] = 0.45
            faces.append(face)
            out_cursor[int(a)] += h
    ax.add_collection(PolyCollection(polys, facecolors=faces, edgecolors="none"))
    ax.set_xticks(range(T), list(scale_names), fontsize=7)
    ax.set_xlim(-0.5, T - 0.5)
    ax.set_ylim(0, 1)
    ax.set_xlabel("scale (finest left)", fontsize=8)
    ax.set_ylabel("fraction of cells", fontsize=8)
    ax.set_title(title, fontsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    import matplotlib.patheffects as pe

    texts = []
    order = np.argsort([-size for *_, size in labels], kind="stable")
    for i in order:
        (x, y), text, _size = labels[i]
        texts.append(
            ax.text(
                x,
                y,
                text,
                ha="center",
                va="center",
                fontsize=7,
                path_effects=[pe.withStroke(linewidth=2, foreground="white")],
            )
        )
    return texts
