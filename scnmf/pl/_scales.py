"""``pl.scale_path``: how cells and clusters move across the scales of a pNMF result."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from anndata import AnnData

from .. import _keys as C
from .._docs import doc_params
from .._records import check_scales, is_index
from ._utils import PL_DOCS, count, finish, indices, obs_column, stored


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


def _alluvial(ax, labels: np.ndarray, names: list[str], scale_names: list[str]) -> None:
    """Stacked bars per scale (cluster sizes) joined by bands of the cells they share."""
    from matplotlib.patches import Polygon

    n, T = labels.shape
    width = 0.18
    cmap = __import__("matplotlib").colormaps["tab20"]
    tops: list[dict[int, float]] = []
    for t in range(T):
        clusters, sizes = np.unique(labels[:, t], return_counts=True)
        y, pos = 0.0, {}
        for c, s in zip(clusters, sizes, strict=False):
            pos[int(c)] = y
            ax.bar(t, s / n, bottom=y / n, width=width, color=cmap(int(c) % 20), edgecolor="white")
            y += s
        tops.append(pos)
    for t in range(T - 1):
        out_offset = dict(tops[t])
        in_offset = dict(tops[t + 1])
        pairs, counts = np.unique(labels[:, t : t + 2], axis=0, return_counts=True)
        for (a, b), c in zip(pairs, counts, strict=False):
            y0, y1 = out_offset[int(a)], in_offset[int(b)]
            x0, x1 = t + width / 2, t + 1 - width / 2
            xs = np.linspace(x0, x1, 20)
            ease = (1 - np.cos(np.linspace(0, np.pi, 20))) / 2
            low = (y0 + (y1 - y0) * ease) / n
            high = low + c / n
            ax.add_patch(
                Polygon(
                    np.column_stack([np.r_[xs, xs[::-1]], np.r_[low, high[::-1]]]),
                    closed=True,
                    color=cmap(int(a) % 20),
                    alpha=0.35,
                    lw=0,
                )
            )
            out_offset[int(a)] += c
            in_offset[int(b)] += c
    ax.set_xticks(range(T), scale_names, fontsize=7)
    ax.set_xlim(-0.5, T - 0.5)
    ax.set_ylim(0, 1)
    ax.set_ylabel("fraction of cells")
    ax.set_title("clusters (dominant program) across scales", fontsize=9)


@doc_params(**PL_DOCS)
def scale_path(
    adata: AnnData,
    *,
    key: str = C.PNMF_KEY,
    scales: Sequence[int] | None = None,
    color: str | None = None,
    max_panels: int = 8,
    alluvial: bool = True,
    show: bool | None = None,
    return_fig: bool = False,
    save: str | None = None,
):
    """Small multiples of the cell embedding per scale, and an alluvial of clusters.

    Top row: each panel shows the cells in one 2-D view shared by all scales (the
    embedding itself when k = 2, else the first two principal axes of the reference
    scale's embedding), so shrinking and merging of groups across scales reads directly.
    Bottom: each cell's cluster at each scale is its dominant program (argmax of its
    embedding row); stacked bars give the cluster sizes and bands the cells two
    consecutive scales share.

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
        Column of ``adata.obs`` colouring the cells (categorical or numeric).
    max_panels
        Maximum number of panels when ``scales`` is ``None``.
    alluvial
        Draw the alluvial row.
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
    import matplotlib.pyplot as plt

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
    if color is not None:
        obs_column(adata, color, "color")
    eps, counts, reference = _read(record, key, adata.n_obs, T)
    P = _projection(emb, reference)

    if color is None:
        c, cmap, legend = "#3a6ea5", None, None
    else:
        values = adata.obs[color]
        if hasattr(values, "cat") or values.dtype == object:
            cats = values.astype("category")
            c, cmap = cats.cat.codes.to_numpy(), "tab10"
            legend = list(cats.cat.categories)
        else:
            c, cmap, legend = values.to_numpy(dtype=float), "viridis", None

    ncols = len(scales)
    nrows = 2 if alluvial else 1
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 2.5 * nrows), squeeze=False)
    for ax, t in zip(axes[0], scales, strict=False):
        xy = emb[:, t] @ P
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=c, cmap=cmap, s=6, vmin=None)
        ax.set_title(f"t={t + 1}  ε={eps[t]:.3g}\nβ0={int(counts[t])}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if legend is not None:
        handles = [
            plt.Line2D([], [], marker="o", ls="", color=sc.cmap(sc.norm(i)))
            for i in range(len(legend))
        ]
        axes[0, -1].legend(handles, legend, fontsize=6, loc="center left", bbox_to_anchor=(1, 0.5))
    if alluvial:
        gs = axes[1, 0].get_gridspec()
        for ax in axes[1]:
            ax.remove()
        big = fig.add_subplot(gs[1, :])
        labels = np.argmax(emb[:, scales], axis=2)
        _alluvial(big, labels, [], [f"t={t + 1}" for t in scales])
        axes = np.array([*axes[0], big], dtype=object)
    else:
        axes = axes[0]
    fig.tight_layout()
    return finish(fig, axes, show=show, return_fig=return_fig, save=save)
