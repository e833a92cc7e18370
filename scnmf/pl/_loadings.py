"""``pl.loadings`` (top genes per program) and ``pl.loss`` (objective per iteration)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from anndata import AnnData

from .. import _keys as C
from .._docs import doc_params
from ._legible import renderer_of, thin_ticks
from ._utils import (
    PL_DOCS,
    check_key,
    count,
    finish,
    flag,
    given_axes,
    indices,
    new_axes,
    stored,
    stored_record,
)

#: Height of one gene's bar (inches) and the most a panel grows to: beyond, labels thin.
_ROW_INCHES = 0.2
_MAX_PANEL_INCHES = 9.0


@doc_params(**PL_DOCS)
def loadings(
    adata: AnnData,
    *,
    key: str = C.NMF_KEY,
    components: Sequence[int] | None = None,
    n_genes: int = 10,
    ncols: int = 4,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
    save: str | bool | None = None,
):
    """Bar charts of the top genes of each program.

    Each panel lists a program's genes by loading (its weight of the gene), the largest
    on top. Up to about 45 genes per panel every gene is named; beyond, the panel stops
    growing and the names are thinned so none overlap (the top genes always shown).

    Parameters
    ----------
    adata
        AnnData after ``tl.nmf`` (reads ``varm[key + '_loadings']``).
    key
        ``key_added`` used by ``tl.nmf``.
    components
        Programs to show (0-based): one index or a list; all by default.
    n_genes
        Genes per program (an integer ≥ 1; all genes when it exceeds ``n_vars``).
    ncols
        Panels per row (an integer ≥ 1).
    ax
        Axes to draw on: one Axes when one program is shown, else a list of Axes, one
        per program (in the order of ``components``); a new figure otherwise.
    {doc_output}

    Returns
    -------
    The array of Axes (the given Axes when ``ax`` is one Axes), or the Figure with
    ``return_fig=True``; ``None`` when shown.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.pbmc68k_counts()
    >>> snmf.tl.nmf(adata, 4, max_iter=20)
    >>> axes = snmf.pl.loadings(adata, n_genes=5, show=False)
    """
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    producer = f"scnmf.tl.nmf(adata, key_added={key!r})"
    check_key(key, producer)
    n_genes = count(n_genes, "n_genes")
    ncols = count(ncols, "ncols", example=4)
    name = C.factor_keys(key).varm
    matrix = np.asarray(stored(adata, name, producer, where="varm"))
    if matrix.ndim != 2 or matrix.shape[0] != adata.n_vars or matrix.shape[1] == 0:
        raise ValueError(
            f"adata.varm[{name!r}] has shape {matrix.shape}, not genes × programs; rerun "
            f"{producer}."
        )
    k = matrix.shape[1]
    components = indices(components, k, "components", "programs")
    n_genes = min(n_genes, adata.n_vars)
    given = given_axes(ax, len(components), "program")
    panel_height = min(_MAX_PANEL_INCHES, _ROW_INCHES * n_genes + 0.3)
    if given is None:
        ncols = max(1, min(ncols, len(components)))
        nrows = int(np.ceil(len(components) / ncols))
        fig, axes = plt.subplots(
            nrows, ncols, figsize=(2.7 * ncols, (panel_height + 0.75) * nrows), squeeze=False
        )
    else:
        fig, axes = given[0].figure, np.array(given, dtype=object)[None, :]
    names = np.asarray(adata.var_names)
    drawn = []
    for panel, comp in zip(axes.flat, components, strict=False):
        order = np.argsort(-matrix[:, comp], kind="stable")[:n_genes][::-1]
        panel.barh(np.arange(len(order)), matrix[order, comp], color="#3a6ea5")
        panel.set_ylim(-0.6, len(order) - 0.4)
        panel.set_title(f"program {comp}", fontsize=9)
        panel.set_xlabel("loading (gene weight)", fontsize=8)
        panel.set_ylabel("gene", fontsize=8)
        panel.tick_params(axis="both", labelsize=7)
        panel.set_yticks(np.arange(len(order)), names[order])  # the layout makes room
        drawn.append((panel, names[order]))
    for panel in list(axes.flat)[len(components) :]:
        panel.set_visible(False)
    if given is None:
        fig.tight_layout()
    renderer_of(fig)
    for panel, genes in drawn:  # the top gene (last bar) first: it is never thinned away
        thin_ticks(panel, "y", np.arange(len(genes)), genes, priority=range(len(genes))[::-1])
    if given is not None and len(given) == 1 and isinstance(ax, Axes):
        axes = given[0]
    return finish(fig, axes, show=show, return_fig=return_fig, save=save, name="loadings")


@doc_params(**PL_DOCS)
def loss(
    adata: AnnData,
    *,
    key: str = C.NMF_KEY,
    log: bool = True,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
    save: str | bool | None = None,
):
    """Objective value per iteration of a stored fit.

    Parameters
    ----------
    adata
        AnnData after ``tl.nmf`` (reads ``uns[key]['loss']``).
    key
        ``key_added`` used by ``tl.nmf``.
    log
        Logarithmic y axis.
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
    >>> adata = snmf.datasets.pbmc68k_counts()
    >>> snmf.tl.nmf(adata, 4, max_iter=20)
    >>> ax = snmf.pl.loss(adata, show=False)
    """
    U = C.FitUns
    log = flag(log, "log")
    result = stored_record(adata, key, f"scnmf.tl.nmf(adata, key_added={key!r})", [U.LOSS])
    values = np.asarray(result[U.LOSS])
    if values.ndim != 1 or values.size == 0 or values.dtype.kind not in "fiu":
        raise ValueError(
            f"adata.uns[{key!r}][{U.LOSS!r}] is not a list of loss values (shape "
            f"{values.shape}, dtype {values.dtype}); rerun scnmf.tl.nmf(adata, key_added={key!r})."
        )
    values = values.astype(float)
    fig, ax = new_axes(ax, figsize=(4.5, 3.2))
    ax.plot(np.arange(len(values)), values, color="#3a6ea5", lw=1.5)
    if log and np.all(values > 0):
        ax.set_yscale("log")
    params = result.get(U.PARAMS, {})
    params = params if isinstance(params, Mapping) else {}
    ax.set_xlabel("iteration")
    ax.set_ylabel(_loss_label(params.get("beta_loss")))
    ax.set_title(loss_title(result, params, key), fontsize=10)
    fig.tight_layout()
    return finish(fig, ax, show=show, return_fig=return_fig, save=save, name="loss")


#: Readable names of the ``beta_loss`` values β = 2, 1, 0.
_DIVERGENCES = {2.0: "Frobenius", 1.0: "Kullback–Leibler", 0.0: "Itakura–Saito"}
_NAMED = {"frobenius": 2.0, "kullback-leibler": 1.0, "itakura-saito": 0.0}


def _divergence(beta) -> str:
    """'Frobenius', 'Kullback–Leibler', 'Itakura–Saito', 'β = 1.5', or '' when unknown."""
    if isinstance(beta, str):
        beta = _NAMED.get(beta.lower(), beta)
    try:
        value = float(beta)
    except (TypeError, ValueError):
        return ""
    return _DIVERGENCES.get(value, f"β = {value:g}")


def _loss_label(beta) -> str:
    name = _divergence(beta)
    if not name:
        return "loss"
    return f"β-divergence ({name})" if name.startswith("β") else f"{name} loss"


def _method(record: Mapping, params: Mapping) -> str:
    """Which tl function wrote the record, read from what it stores."""
    if C.DeepUns.RANKS in record:
        return "deep NMF"
    if C.PnmfUns.SCALES in record or "lambda_scale" in params:
        return "pNMF"
    if "lambda_graph" in params:
        return "GNMF"
    return "NMF"


def loss_title(record: Mapping, params: Mapping, key: str) -> str:
    """E.g. 'NMF (MU, Frobenius) loss', with the key when it is not the method's default."""
    method = _method(record, params)
    details = [str(params["solver"]).upper()] if params.get("solver") else []
    if _divergence(params.get("beta_loss")):
        details.append(_divergence(params["beta_loss"]))
    title = f"{method} ({', '.join(details)}) loss" if details else f"{method} loss"
    defaults = {"NMF": C.NMF_KEY, "GNMF": C.GNMF_KEY, "pNMF": C.PNMF_KEY}
    defaults["deep NMF"] = C.DEEP_NMF_KEY
    return title if key == defaults[method] else f"{title}, key '{key}'"
