"""``get.activities`` (cells × programs table) and ``get.program_names``."""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData

from ._results import activities as _activities
from ._results import invalid, names, select


def program_names(
    adata: AnnData, key: str, *, scale: int | None = None, layer: int | None = None
) -> list[str]:
    """The names of a result's programs, as every table and plot of scnmf uses them.

    Parameters
    ----------
    adata
        AnnData holding a scnmf result.
    key
        Its ``key_added`` (``'<key>_l<ℓ>'`` of a deep NMF selects layer ℓ).
    scale
        pNMF only: a scale index (programs keep their names across scales).
    layer
        Deep NMF only: the layer, 1 (default) … L; each layer has its own names.

    Returns
    -------
    The names set by :func:`scnmf.tl.rename_programs` (``uns[key]['program_names']``), else
    ``'<key>_0'``, ``'<key>_1'`` … (``'<key>_l<ℓ>_0'`` … for deep-NMF layer ℓ).

    Examples
    --------
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.pbmc68k_counts()
    >>> snmf.tl.nmf(adata, 3, max_iter=20)
    >>> snmf.get.program_names(adata, "nmf")
    ['nmf_0', 'nmf_1', 'nmf_2']
    """
    return names(adata, select(adata, key, scale, layer))


def activities(
    adata: AnnData,
    key: str,
    *,
    scale: int | None = None,
    layer: int | None = None,
    normalize: bool = False,
) -> pd.DataFrame:
    """Cell activities of a result's programs as a cells × programs table.

    Parameters
    ----------
    adata
        AnnData holding a result of ``tl.nmf``, ``tl.gnmf``, ``tl.pnmf``, ``tl.deep_nmf``,
        ``tl.consensus_nmf`` or ``tl.project``.
    key
        Its ``key_added`` (``'<key>_l<ℓ>'`` of a deep NMF selects layer ℓ).
    scale
        pNMF only: the scale (0 = finest); by default the result's reference scale (the one
        in ``obsm['X_<key>']``).
    layer
        Deep NMF only: the layer, 1 (the finest, default) … L.
    normalize
        Divide each cell's activities by their sum, so each row gives the fraction of the
        cell's signal per program (a cell with no activity keeps a zero row).

    Returns
    -------
    :class:`pandas.DataFrame` (float64) indexed by ``adata.obs_names``, one column per
    program, named as :func:`program_names`. A copy: changing it leaves ``adata`` as is.

    Examples
    --------
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.pbmc68k_counts()
    >>> snmf.tl.nmf(adata, 3, max_iter=20)
    >>> snmf.get.activities(adata, "nmf").shape
    (700, 3)
    """
    if not isinstance(normalize, bool | np.bool_):
        raise invalid("normalize", normalize, "True or False")
    sel = select(adata, key, scale, layer)
    values = np.array(_activities(adata, sel), dtype=np.float64)
    if normalize:
        totals = values.sum(axis=1, keepdims=True)
        values = np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)
    return pd.DataFrame(
        values,
        index=adata.obs_names.copy(),
        columns=pd.Index(names(adata, sel), dtype=object),
    )
