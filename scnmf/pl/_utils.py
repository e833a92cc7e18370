"""Shared plumbing for ``pl`` functions: reading stored results and finishing figures."""

from __future__ import annotations

from typing import Any

from anndata import AnnData


def stored(adata: AnnData, key: str, producer: str, *, where: str = "uns") -> Any:
    """What ``producer`` stored under ``adata.<where>[key]``, or a KeyError saying what to run."""
    container = getattr(adata, where)
    if key not in container:
        raise KeyError(
            f"adata.{where}[{key!r}] not found; run {producer} first "
            f"(or pass the key_added you used there)."
        )
    return container[key]


def new_axes(ax=None, figsize: tuple[float, float] = (5.0, 4.0)):
    """Reuse ``ax`` or open a new figure."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    return fig, ax


def finish(fig, axes, *, show: bool | None, return_fig: bool, save: str | None = None):
    """Scanpy-style ending: save, show, or hand back the Figure/Axes."""
    import matplotlib.pyplot as plt

    if save:
        fig.savefig(save, bbox_inches="tight", dpi=150)
    if show is None:
        import scanpy as sc

        show = bool(sc.settings.autoshow) and plt.get_backend().lower() not in ("agg", "pdf")
    if show:
        plt.show()
        return None
    return fig if return_fig else axes


#: Docstring fragments for the output contract implemented by :func:`finish`.
doc_ax = """\
ax
    Axes to draw on; a new figure otherwise."""
doc_output = """\
show, return_fig, save
    Show the figure, return it instead of the Axes, or save it to a path."""
doc_returns_axes = "The Axes (or the Figure with ``return_fig=True``; ``None`` when shown)."
doc_returns_axes_array = (
    "The array of Axes (or the Figure with ``return_fig=True``; ``None`` when shown)."
)
PL_DOCS = {
    "doc_ax": doc_ax,
    "doc_output": doc_output,
    "doc_returns_axes": doc_returns_axes,
    "doc_returns_axes_array": doc_returns_axes_array,
}
