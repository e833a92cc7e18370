"""``pl.loadings`` (top genes per program) and ``pl.loss`` (objective per iteration)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from anndata import AnnData

from .. import _keys as C
from .._docs import doc_params
from ._utils import PL_DOCS, finish, new_axes, stored


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
        Programs to show (0-based); all by default.
    n_genes
        Genes per program.
    ncols
        Panels per row.
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

    matrix = np.asarray(
        stored(
            adata, C.factor_keys(key).varm, f"scnmf.tl.nmf(adata, key_added={key!r})", where="varm"
        )
    )
    k = matrix.shape[1]
    components = list(range(k)) if components is None else [int(c) for c in components]
    bad = [c for c in components if not 0 <= c < k]
    if bad:
        raise ValueError(f"components {bad} out of range: the result has {k} programs (0…{k - 1}).")
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
    result = stored(adata, key, f"scnmf.tl.nmf(adata, key_added={key!r})")
    if U.LOSS not in result:
        raise KeyError(f"adata.uns[{key!r}] holds no {U.LOSS!r}; it was not written by tl.nmf.")
    values = np.asarray(result[U.LOSS], dtype=float)
    fig, ax = new_axes(ax, figsize=(4.5, 3.2))
    ax.plot(np.arange(len(values)), values, color="#3a6ea5", lw=1.5)
    if log and np.all(values > 0):
        ax.set_yscale("log")
    params = result.get(U.PARAMS, {})
    beta = params.get("beta_loss", "")
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"β-divergence (β={beta})" if beta != "" else "loss")
    ax.set_title(f"{key}: {params.get('solver', '')}", fontsize=10)
    fig.tight_layout()
    return finish(fig, ax, show=show, return_fig=return_fig, save=save)
