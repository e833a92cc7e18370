"""``tl.rename_programs``, and the docstring fragments of ``add_to_obs`` and ``use_raw``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from anndata import AnnData

from .. import _keys as C
from ..get._results import Kind, invalid, select
from ..get._results import names as names_of
from ._store import owned_columns

doc_use_raw = """\
use_raw
    Factorise ``adata.raw.X`` (not with ``layer``). Genes are matched to ``adata.var_names``
    by name; genes of ``adata`` absent from ``adata.raw`` get zero loadings."""

doc_add_to_obs = """\
add_to_obs
    Also write each program's activities as a float column ``obs['<key>_<j>']``
    (``'nmf_0'`` …), so scanpy's plots colour by them: ``sc.pl.umap(adata, color='nmf_0')``.
    Columns a previous result under the same ``key_added`` wrote are replaced (and dropped
    by a refit without ``add_to_obs``); any other existing column of that name is refused."""

doc_obs_returns = """\
``adata.obs['<key_added>_<j>']`` : float columns
    With ``add_to_obs=True``: the activities of each program (see ``add_to_obs``), listed in
    ``uns[key_added]['obs_columns']``."""


def _check_names(values: Any, n: int, where: str) -> list[str]:
    valid = f"{n} distinct non-empty strings (one per program of {where}, in program order)"
    if isinstance(values, str | bytes | Mapping) or not hasattr(values, "__iter__"):
        raise invalid("names", values, valid, "Pass a list, e.g. names=['T cells', ...].")
    items = list(values)
    if len(items) != n:
        raise invalid("names", values, valid, f"Got {len(items)} names for {n} programs.")
    bad = [v for v in items if not isinstance(v, str) or not v]
    if bad:
        raise invalid("names", values, valid, f"{bad[0]!r} is not a non-empty string.")
    for v in items:
        problem = C.key_problem(v)
        if problem:
            raise invalid(
                "names", values, valid, f"{problem} (names become obs columns in .h5ad files)."
            )
    repeated = sorted({v for v in items if items.count(v) > 1})
    if repeated:
        raise invalid("names", values, valid, f"{repeated} appear more than once.")
    return [str(v) for v in items]


def rename_programs(
    adata: AnnData,
    key: str,
    names: Sequence[str],
    *,
    layer: int | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Name the programs of a result; every ``get`` table (and plot) then uses the names.

    Parameters
    ----------
    adata
        AnnData holding a result of ``tl.nmf``, ``tl.gnmf``, ``tl.pnmf``, ``tl.deep_nmf``,
        ``tl.consensus_nmf`` or ``tl.project``.
    key
        Its ``key_added`` (``'<key>_l<ℓ>'`` of a deep NMF selects layer ℓ).
    names
        One distinct, non-empty string per program, in program order (a pNMF's names hold
        for every scale).
    layer
        Deep NMF only: the layer named, 1 (default) … L; each layer has its own names.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None``, or a copy of ``adata`` when ``copy=True``, with

    ``adata.uns[key]['program_names']`` : :class:`numpy.ndarray` of str
        The names (deep NMF: a dict of them keyed by layer, ``'1'`` …).
    ``adata.obs`` columns
        The activity columns of ``add_to_obs=True``, renamed to ``'<key>_<name>'`` (the name
        itself when it already starts with ``'<key>_'``).

    Examples
    --------
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.pbmc68k_counts()
    >>> snmf.tl.nmf(adata, 2, max_iter=20)
    >>> snmf.tl.rename_programs(adata, "nmf", ["B cells", "T cells"])
    >>> snmf.get.program_names(adata, "nmf")
    ['B cells', 'T cells']
    """
    if not isinstance(copy, bool | np.bool_):
        raise invalid("copy", copy, "True or False")
    sel = select(adata, key, None, layer)
    result = sel.result
    if result.kind == Kind.VARM:
        raise ValueError(
            f"adata.varm[{result.key!r}] is a plain matrix with no record to store names in; "
            "pass the key_added of the tl result it came from."
        )
    new = _check_names(names, sel.n_programs, sel.where)
    old = names_of(adata, sel)
    owned = owned_columns(adata, result.key)
    column = {n: C.program_column(result.key, n, sel.layer) for n in (*old, *new)}
    renamed = {
        column[o]: column[n]
        for o, n in zip(old, new, strict=True)
        if column[o] in owned and column[o] in adata.obs.columns and column[o] != column[n]
    }
    taken = sorted(set(renamed.values()) & (set(adata.obs.columns) - set(renamed)))
    if taken:
        raise ValueError(
            f"Renaming the activity columns of {sel.where} would overwrite adata.obs columns "
            f"{taken[:5]}; choose other names or drop those columns first."
        )
    target = adata.copy() if copy else adata
    record = target.uns[result.key]
    entry = np.asarray(new, dtype=str)
    if result.kind == Kind.DEEP:
        stored = record.get(C.ProgramUns.PROGRAM_NAMES)
        layers = dict(stored) if isinstance(stored, Mapping) else {}
        layers[str(sel.layer)] = entry
        record[C.ProgramUns.PROGRAM_NAMES] = layers
    else:
        record[C.ProgramUns.PROGRAM_NAMES] = entry
    if renamed:
        target.obs.rename(columns=renamed, inplace=True)
        record[C.ProgramUns.OBS_COLUMNS] = np.asarray([renamed.get(c, c) for c in owned], dtype=str)
    return target if copy else None
