"""``pl.persistence_diagram`` and ``pl.barcode``: the H0 diagram with the selected scales."""

from __future__ import annotations

import numpy as np
from anndata import AnnData

from .. import _keys as C
from .._docs import doc_params
from .._records import check_persistence, reuse_fix
from ._utils import PL_DOCS, count, finish, new_axes, stored


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


@doc_params(**PL_DOCS)
def persistence_diagram(
    adata: AnnData,
    *,
    key: str = C.PERSISTENCE_KEY,
    mark_scales: bool = True,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
    save: str | None = None,
):
    """Birth–death diagram of the H0 classes, selected scales as horizontal lines.

    Essential classes (infinite death) are drawn on a dashed line labelled ∞ above the
    largest finite death.

    Parameters
    ----------
    adata
        AnnData after :func:`scnmf.tl.persistence` (reads ``uns[key]``).
    key
        ``key_added`` used there.
    mark_scales
        Draw the selected scales (ε values) as horizontal lines, labelled with β0.
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
    fig, ax = new_axes(ax, figsize=(4.5, 4.2))
    cap = _cap(diagram, scales)
    death = np.where(np.isfinite(diagram[:, 1]), diagram[:, 1], cap)
    essential = ~np.isfinite(diagram[:, 1])
    ax.scatter(diagram[~essential, 0], death[~essential], s=12, color="#3a6ea5", label="H0")
    if essential.any():
        ax.scatter(diagram[essential, 0], death[essential], s=30, marker="^", color="#c0392b",
                   label=f"essential ({int(essential.sum())})")  # fmt: skip
        ax.axhline(cap, ls="--", lw=0.8, color="grey")
        ax.text(0, cap, " ∞", va="bottom", fontsize=8, color="grey")
    ax.plot([0, cap], [0, cap], lw=0.8, color="black")
    if mark_scales:
        for eps, b in zip(scales, counts, strict=False):
            ax.axhline(eps, lw=0.6, color="#e67e22", alpha=0.7)
            ax.text(cap, eps, f" β0={int(b)}", fontsize=6, va="center", color="#e67e22")
    ax.set_xlabel("birth")
    ax.set_ylabel("death (ε)")
    ax.set_title("H0 persistence diagram")
    ax.legend(fontsize=7, loc="lower right")
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
    save: str | None = None,
):
    """Barcode of the H0 classes (longest last), selected scales as vertical lines.

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
    fig, ax = new_axes(ax, figsize=(5.5, 4.0))
    cap = _cap(diagram, scales)
    death = np.where(np.isfinite(diagram[:, 1]), diagram[:, 1], cap)
    order = np.argsort(death - diagram[:, 0], kind="stable")
    if max_bars is not None:
        order = order[-int(max_bars) :]
    y = np.arange(order.size)
    colors = np.where(np.isfinite(diagram[order, 1]), "#3a6ea5", "#c0392b")
    ax.hlines(y, diagram[order, 0], death[order], colors=colors, lw=1.2)
    if mark_scales:
        for eps, b in zip(scales, counts, strict=False):
            ax.axvline(eps, lw=0.7, color="#e67e22", alpha=0.8)
            ax.text(eps, order.size, f"{int(b)}", fontsize=6, rotation=90, va="bottom",
                    ha="center", color="#e67e22")  # fmt: skip
    ax.set_yticks([])
    ax.set_xlabel("ε")
    ax.set_ylabel(f"H0 classes ({order.size} of {diagram.shape[0]} shown)")
    ax.set_title("H0 barcode (selected scales: β0)", fontsize=10)
    return finish(fig, ax, show=show, return_fig=return_fig, save=save)
