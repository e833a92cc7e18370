"""Colours as scanpy draws them: category palettes, ``color=`` as an obs column or a gene.

Categories take ``adata.uns[f'{key}_colors']`` when it holds a colour per category (in the
order of the categories, as scanpy stores it), else ``palette=``, else scanpy's defaults
(matplotlib's colour cycle, then ``default_20``, ``default_28``, ``default_102``). Unlike
scanpy, nothing is written back to ``adata.uns``: plots only read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

#: Colour of cells without a value (NaN), as scanpy's ``na_color``.
NA_COLOR = "lightgray"
#: scanpy's ``legend_loc`` values besides matplotlib's own legend locations.
LEGEND_LOCS = ("right margin", "on data", "none")
#: Legend entries drawn at most; the rest are summarised in one entry (readable at 1,000).
MAX_LEGEND_ENTRIES = 60


@dataclass
class Coloring:
    """What colours the cells: categories (``codes``, −1 for missing) or numbers."""

    label: str
    kind: str  # 'cat' or 'cont'
    codes: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    categories: list[str] = field(default_factory=list)
    colors: list = field(default_factory=list)
    values: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def rgba(self) -> np.ndarray:
        """One RGBA row per cell (categorical only)."""
        from matplotlib.colors import to_rgba

        table = np.array([to_rgba(c) for c in [*self.colors, NA_COLOR]])
        return table[np.where(self.codes < 0, len(self.colors), self.codes)]


def default_palette(n: int) -> list:
    """Scanpy's default colours for ``n`` categories (its ``_set_default_colors…``).

    Beyond 102 categories scanpy paints every category grey; here ``default_102`` repeats,
    so categories stay apart where the legend can name them.
    """
    from matplotlib import rcParams
    from scanpy.plotting import palettes

    cycle = rcParams["axes.prop_cycle"].by_key().get("color", [])
    if len(cycle) >= n:
        return list(cycle[:n])
    for colors in (palettes.default_20, palettes.default_28, palettes.default_102):
        if n <= len(colors):
            return list(colors[:n])
    return [palettes.default_102[i % len(palettes.default_102)] for i in range(n)]


def palette_colors(palette: Any, categories: Sequence, name: str = "palette") -> list:
    """Colours of ``categories`` from ``palette`` as scanpy reads it.

    A matplotlib colormap name (sampled evenly), a mapping category → colour, or a
    sequence of colours (repeated when shorter than the categories, as scanpy's cycler).
    """
    import matplotlib as mpl
    from matplotlib.colors import Colormap, is_color_like

    n = len(categories)
    if isinstance(palette, Colormap) or (isinstance(palette, str) and palette in mpl.colormaps):
        cmap = palette if isinstance(palette, Colormap) else mpl.colormaps[palette]
        return [cmap(x) for x in np.linspace(0.0, 1.0, n)]
    if isinstance(palette, Mapping):
        missing = [c for c in categories if c not in palette]
        if missing:
            raise ValueError(
                f"{name} has no colour for category {missing[0]!r}; give every category a "
                "colour, or pass a colormap name or a list of colours."
            )
        colors = [palette[c] for c in categories]
    elif isinstance(palette, Sequence) and not isinstance(palette, str) and len(palette):
        colors = [palette[i % len(palette)] for i in range(n)]
    else:
        raise ValueError(
            f"{name}={palette!r} is not a matplotlib colormap, a list of colours or a "
            "mapping of categories to colours; pass e.g. palette='tab20' or "
            "palette=['#1f77b4', '#ff7f0e']."
        )
    bad = [c for c in colors if not is_color_like(c)]
    if bad:
        raise ValueError(f"{name} holds {bad[0]!r}, which is not a colour; pass e.g. '#1f77b4'.")
    return colors


def category_colors(
    adata: AnnData | None, key: str | None, categories: Sequence, palette: Any = None
) -> list:
    """Colours of ``categories`` of ``obs[key]``: ``palette``, else scanpy's stored, else default.

    Stored colours (``uns[key + '_colors']``) count only when there is one valid colour per
    category at least, as scanpy (which otherwise replaces them).
    """
    from matplotlib.colors import is_color_like

    if palette is not None:
        return palette_colors(palette, categories)
    stored = None if adata is None or key is None else adata.uns.get(f"{key}_colors")
    if stored is not None:
        stored = list(np.asarray(stored).ravel())
        if len(stored) >= len(categories) and all(is_color_like(c) for c in stored):
            return stored[: len(categories)]
    return default_palette(len(categories))


def categorical(values: Any, label: str, colors: list | None = None) -> Coloring:
    """A :class:`Coloring` of category values (a pandas Categorical keeps its order)."""
    cats = pd.Categorical(values)
    if colors is None:
        colors = default_palette(len(cats.categories))
    return Coloring(
        label=label,
        kind="cat",
        codes=np.asarray(cats.codes, dtype=np.int64),
        categories=[str(c) for c in cats.categories],
        colors=list(colors),
    )


def _is_categorical(values: pd.Series) -> bool:
    dtype = values.dtype
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    )


def _gene_values(adata: AnnData, gene: str, layer: Any, use_raw: bool) -> np.ndarray:
    if use_raw:
        return np.asarray(adata.raw.obs_vector(gene), dtype=float)
    return np.asarray(adata.obs_vector(gene, layer=layer), dtype=float)


def resolve_color(
    adata: AnnData,
    color: Any,
    *,
    layer: str | None = None,
    use_raw: bool | None = None,
    palette: Any = None,
    name: str = "color",
) -> Coloring:
    """``color`` as ``sc.pl.embedding`` reads it: a column of ``obs``, else a gene.

    Genes come from ``adata.raw`` when ``use_raw`` (default: when ``adata.raw`` exists and
    no ``layer`` is given, as scanpy), else from ``layers[layer]`` or ``X``. A KeyError /
    ValueError names the columns and genes to choose from.
    """
    if layer is not None and layer not in adata.layers:
        shown = ", ".join(repr(k) for k in adata.layers) or "adata.layers is empty"
        raise KeyError(f"layer={layer!r} is not in adata.layers; pass one of ({shown}) or None.")
    if use_raw and adata.raw is None:
        raise ValueError("use_raw=True but adata.raw is None; pass use_raw=False.")
    if use_raw and layer is not None:
        raise ValueError("pass either layer or use_raw=True, not both (as scanpy).")
    raw = adata.raw is not None and layer is None if use_raw is None else bool(use_raw)
    if isinstance(color, str) and color in adata.obs.columns:
        values = adata.obs[color]
        if _is_categorical(values):
            cats = pd.Categorical(values.astype(str) if values.dtype == bool else values)
            colors = category_colors(adata, color, list(cats.categories), palette)
            return categorical(cats, color, colors)
        return Coloring(label=color, kind="cont", values=values.to_numpy(dtype=float))
    genes = adata.raw.var_names if raw else adata.var_names
    if isinstance(color, str) and color in genes:
        return Coloring(label=color, kind="cont", values=_gene_values(adata, color, layer, raw))
    columns = list(adata.obs.columns)
    shown = ", ".join(repr(c) for c in columns[:10]) + (", …" if len(columns) > 10 else "")
    where = "adata.raw.var_names" if raw else "adata.var_names"
    example = ", ".join(repr(g) for g in list(genes[:3]))
    raise KeyError(
        f"{name}={color!r} is not a column of adata.obs nor a gene of {where}; pass one of "
        f"its columns ({shown or 'adata.obs has none'}) or a gene (e.g. {example})."
    )


def check_cmap(cmap: Any, name: str = "cmap"):
    """A matplotlib Colormap from a name or a Colormap, or a ValueError with the fix."""
    import matplotlib as mpl
    from matplotlib.colors import Colormap

    if isinstance(cmap, Colormap):
        return cmap
    if isinstance(cmap, str) and cmap in mpl.colormaps:
        return mpl.colormaps[cmap]
    raise ValueError(
        f"{name}={cmap!r} is not a matplotlib colormap; pass a name such as 'viridis' or a "
        "Colormap."
    )


def check_legend_loc(legend_loc: Any) -> str:
    """Scanpy's ``legend_loc`` (``None`` is ``'none'``) or a matplotlib legend location."""
    from matplotlib.legend import Legend

    if legend_loc is None:
        return "none"
    valid = [*LEGEND_LOCS, *Legend.codes]
    if not isinstance(legend_loc, str) or legend_loc not in valid:
        raise ValueError(
            f"legend_loc={legend_loc!r} is not a legend location; pass one of "
            f"{', '.join(repr(v) for v in valid)} or None."
        )
    return legend_loc


def marker_size(n_obs: int, panel_inches: float) -> float:
    """Dot area: scanpy's 120000 / n_obs for its 4-inch panel, scaled to the panel's area.

    Half of it: small multiples of crowded groups otherwise merge into blobs.
    """
    area = 0.5 * 120000.0 / max(n_obs, 1) * (panel_inches / 4.0) ** 2
    return float(np.clip(area, 0.2, 40.0))


def legend_handles(coloring: Coloring, present: np.ndarray | None = None) -> tuple[list, list]:
    """Handles and labels of the categories (the largest ``MAX_LEGEND_ENTRIES`` of them)."""
    from matplotlib.lines import Line2D

    n = len(coloring.categories)
    sizes = np.bincount(coloring.codes[coloring.codes >= 0], minlength=n)
    shown = [c for c in range(n) if present is None or present[c]]
    if len(shown) > MAX_LEGEND_ENTRIES:  # the largest, in category order
        keep = set(sorted(shown, key=lambda c: -sizes[c])[: MAX_LEGEND_ENTRIES - 1])
        rest = len(shown) - len(keep)
        shown = [c for c in shown if c in keep]
    else:
        rest = 0
    handles = [
        Line2D([], [], marker="o", ls="", color=coloring.colors[c], markersize=6) for c in shown
    ]
    labels = [coloring.categories[c] for c in shown]
    if rest:
        handles.append(Line2D([], [], ls=""))
        labels.append(f"… {rest} smaller categories")
    return handles, labels


def add_legend(ax, coloring: Coloring, legend_loc: str, *, title: str | None = None, **kw):
    """The categories' legend at ``legend_loc`` ('right margin' is outside, as scanpy).

    ``ax`` may be a Figure with constrained layout: the legend then takes its own room at
    the figure's right edge (``loc='outside right …'``), leaving every panel its width.
    """
    from matplotlib.figure import Figure

    loc = kw.pop("loc", None)
    if legend_loc in ("none", "on data"):
        return None
    handles, labels = legend_handles(coloring)
    n = len(labels)
    ncol = 1 if n <= 14 else 2 if n <= 30 else 3  # scanpy's columns for the right margin
    options = {
        "frameon": False,
        "fontsize": 8 if n <= 30 else 7,
        "title": title if title is not None else coloring.label,
        "title_fontsize": 8,
        "handletextpad": 0.3,
        "columnspacing": 0.8,
    }
    options.update(kw)
    if isinstance(ax, Figure):
        where = (loc or "outside right upper") if legend_loc == "right margin" else legend_loc
        return ax.legend(handles, labels, loc=where, ncol=ncol, **options)
    if legend_loc == "right margin":
        return ax.legend(
            handles, labels, loc="center left", bbox_to_anchor=(1.02, 0.5), ncol=ncol, **options
        )
    return ax.legend(handles, labels, loc=legend_loc, **options)


def label_on_data(ax, xy: np.ndarray, coloring: Coloring, fontsize: float = 8) -> list:
    """Scanpy's ``legend_loc='on data'``: each category's name at its cells' median."""
    import matplotlib.patheffects as pe

    texts = []
    for c, name in enumerate(coloring.categories):
        inside = coloring.codes == c
        if inside.any():
            x, y = np.median(xy[inside], axis=0)
            texts.append(
                ax.text(
                    x,
                    y,
                    name,
                    ha="center",
                    va="center",
                    fontsize=fontsize,
                    fontweight="bold",
                    path_effects=[pe.withStroke(linewidth=2, foreground="white")],
                )
            )
    return texts
