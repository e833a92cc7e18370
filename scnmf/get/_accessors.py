"""Accessors for stored factorisations."""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _keys as C


def programs(adata: AnnData, key: str = C.NMF_KEY, n_genes: int = 10) -> pd.DataFrame:
    """Top genes of every program stored by ``tl.nmf`` (or any result with loadings).

    Parameters
    ----------
    adata
        AnnData holding ``varm[key + '_loadings']``.
    key
        The ``key_added`` of the factorisation, or a ``varm`` key holding genes × programs
        directly (e.g. a deep-NMF layer, ``'deep_nmf_l2'``).
    n_genes
        Genes per program: an integer 1 … ``adata.n_vars``.

    Returns
    -------
    DataFrame with one column per program (``'program_0'``…) listing the top gene names,
    highest loading first.

    Examples
    --------
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.pbmc68k_counts()
    >>> snmf.tl.nmf(adata, 5, max_iter=20)
    >>> snmf.get.programs(adata, n_genes=3).shape
    (3, 5)
    """
    if (
        not isinstance(n_genes, int | np.integer)
        or isinstance(n_genes, bool | np.bool_)
        or not 1 <= n_genes <= adata.n_vars
    ):
        raise ValueError(
            f"Invalid option {n_genes!r} for n_genes. Valid options are integers 1 … "
            f"{adata.n_vars} (the number of genes); pass e.g. n_genes={min(10, adata.n_vars)}."
        )
    name = C.factor_keys(key).varm
    if name not in adata.varm and key in adata.varm:
        name = key
    if name not in adata.varm:
        raise KeyError(f"adata.varm[{name!r}] not found; run scnmf.tl.nmf(adata, ...) first.")
    loadings = np.asarray(adata.varm[name])
    if loadings.ndim != 2:
        raise ValueError(f"adata.varm[{name!r}] is not a genes × programs matrix.")
    order = np.argsort(-loadings, axis=0, kind="stable")[: int(n_genes)]
    names = np.asarray(adata.var_names)
    return pd.DataFrame(
        {f"program_{j}": names[order[:, j]] for j in range(loadings.shape[1])},
    )
