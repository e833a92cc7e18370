"""``pl.loadings`` (top genes per program) and ``pl.loss`` (objective per iteration)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from anndata import AnnData

from .. import _keys as C
from .._docs import doc_params
from ._utils import (
    PL_DOCS,
    check_key,
    count,
    finish,
    flag,
    indices,
    new_axes,
    stored,
    stored_record,
)


@doc_params(**PL_DOCS)
def loadings(
    adata: AnnData,
    *,
    key: str = C.NMF_KEY,
    components: Sequence[int] | None = None,
    n_genes: int = 10,
    ncols: int = 4,
    show: bool | None = None,
    return_fig: bool = False,
    save: str | None = None,
):
    """Bar charts of the top genes of each program.

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
    {doc_output}

    Returns
    -------
    {doc_returns_axes_array}

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
    ncols = max(1, min(ncols, len(components)))
    nrows = int(np.ceil(len(components) / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(2.6 * ncols, 0.22 * n_genes * nrows + 0.8 * nrows), squeeze=False
    )
    names = np.asarray(adata.var_names)
    for ax, comp in zip(axes.flat, components, strict=False):
        order = np.argsort(-matrix[:, comp], kind="stable")[:n_genes][::-1]
        ax.barh(np.arange(len(order)), matrix[order, comp], color="#3a6ea5")
        ax.set_yticks(np.arange(len(order)), names[order], fontsize=7)
        ax.set_title(f"program {comp}", fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    for ax in list(axes.flat)[len(components) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return finish(fig, axes, show=show, return_fig=return_fig, save=save)


@doc_params(**PL_DOCS)
def loss(
    adata: AnnData,
    *,
    key: str = C.NMF_KEY,
    log: bool = True,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
    save: str | None = None,
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
    beta = params.get("beta_loss", "")
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"β-divergence (β={beta})" if beta != "" else "loss")
    ax.set_title(f"{key}: {params.get('solver', '')}", fontsize=10)
    fig.tight_layout()
    return finish(fig, ax, show=show, return_fig=return_fig, save=save)
