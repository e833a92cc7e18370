"""The matrix a ``tl`` function works on, and the memory guard before it is fetched.

Layer / ``use_raw`` / ``mask_var`` → the cells × genes matrix to factorise; ``use_rep`` → the
representation cell–cell distances are measured on. Nothing here modifies the AnnData: a
matrix that must change (a gene subset, another dtype, a rescaling) is a copy. Lazy (dask)
matrices stay lazy and are checked in one pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from .. import _keys as C
from .._core._backends import is_lazy, lazy_summary
from .._core._backends._sparse import canonical_csr


class _Default:
    """Sentinel: 'use the documented default' (distinct from an explicit ``None``)."""

    def __repr__(self) -> str:
        return "<default>"


#: ``mask_var``'s default: ``var['highly_variable']`` when present, else all genes.
DEFAULT = _Default()


def resolve_mask_var(adata: AnnData, mask_var: Any) -> np.ndarray | None:
    """Boolean gene mask, or ``None`` for all genes.

    ``DEFAULT`` means ``var['highly_variable']`` when present, else all genes. A column or
    array must be boolean, one entry per gene; a pandas nullable-boolean one is accepted
    when it holds no missing value. Every message names where the mask came from (the
    column the default picked, a column, or the array passed) and the fix.
    """
    if mask_var is DEFAULT:
        if C.Scanpy.HIGHLY_VARIABLE not in adata.var.columns:
            return None
        mask_var = C.Scanpy.HIGHLY_VARIABLE
        column = f"adata.var[{mask_var!r}]"
        where = f"{column} (the default mask_var)"
    elif mask_var is None:
        return None
    elif isinstance(mask_var, str):
        column = f"adata.var[{mask_var!r}]"
        where = f"{column} (mask_var={mask_var!r})"
    else:
        where, column = "mask_var", None
    if isinstance(mask_var, str):
        if mask_var not in adata.var.columns:
            raise KeyError(
                f"mask_var={mask_var!r} is not a column of adata.var; "
                f"available: {list(adata.var.columns)[:10]} (or pass mask_var=None for all genes)."
            )
        values = adata.var[mask_var]
    else:
        values = mask_var
    missing = int(np.asarray(values.isna()).sum()) if _is_nullable(values) else 0
    if missing:
        fill = (
            f"{column} = {column}.fillna(False)"
            if column
            else "mask_var = np.asarray(mask_var.fillna(False), dtype=bool)"
        )
        raise ValueError(
            f"{where} has {missing} missing (NA) value(s), so it does not say whether those "
            f"genes are selected; fill them, e.g. {fill}, or pass mask_var=None for all genes."
        )
    mask = np.asarray(values.to_numpy(dtype=bool) if _is_nullable(values) else values)
    if mask.dtype != bool:
        raise ValueError(
            f"{where} has dtype {mask.dtype}; a gene mask must be boolean (one True/False per "
            "gene): pass a boolean column of adata.var, a boolean array, or mask_var=None for "
            "all genes."
        )
    if mask.shape != (adata.n_vars,):
        raise ValueError(
            f"{where} has shape {mask.shape}; expected ({adata.n_vars},), one entry per gene."
        )
    if not mask.any():
        raise ValueError(f"{where} selects no gene; pass mask_var=None to use all genes.")
    return mask


def _is_nullable(values: Any) -> bool:
    """A pandas nullable-boolean Series or array (``dtype='boolean'``)."""
    return getattr(getattr(values, "dtype", None), "name", None) == "boolean"


def mask_description(mask_var: Any) -> str:
    """How the gene mask was chosen, for ``uns[...]['params']``."""
    if mask_var is DEFAULT:
        return f"{C.Scanpy.HIGHLY_VARIABLE} if present"
    if mask_var is None:
        return "None"
    if isinstance(mask_var, str):
        return mask_var
    return "boolean array"


def _as_float(X: np.ndarray | sp.spmatrix) -> np.ndarray | sp.csr_matrix:
    """float64 stays float64; everything else becomes float32 (canonical CSR when sparse).

    The caller's arrays are never modified (they may be read-only): a sparse matrix with
    stored zeros, duplicates or unsorted indices is canonicalised on a copy, and one already
    canonical of the right dtype is used as is.
    """
    dtype = np.float64 if X.dtype == np.float64 else np.float32
    if sp.issparse(X):
        return canonical_csr(X, dtype)
    return np.ascontiguousarray(X, dtype=dtype)


def check_use_raw(adata: AnnData, layer: str | None) -> None:
    """``use_raw=True`` needs ``adata.raw`` and excludes ``layer`` (as in scanpy)."""
    if layer is not None:
        raise ValueError(
            f"use_raw=True and layer={layer!r} both choose the matrix; pass only one of them "
            "(layer=None to use adata.raw.X, or use_raw=False to use the layer)."
        )
    if adata.raw is None:
        raise ValueError(
            "use_raw=True but adata.raw is None; store the full matrix first (e.g. "
            "adata.raw = adata before subsetting genes) or pass use_raw=False."
        )


def raw_gene_mask(
    adata: AnnData, layer: str | None, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """The columns of ``adata.raw`` holding the genes of ``adata`` that ``mask`` selects.

    Genes are matched by name (``adata.raw`` has its own ``var``); genes of ``adata`` absent
    from it are left out. Returns the boolean mask over ``adata.raw``'s genes (for
    :func:`get_matrix` with ``use_raw=True``) and, for each selected raw column in order,
    the row of ``adata.var`` it belongs to (where results go back). ``layer`` must be
    ``None`` (:func:`check_use_raw`).
    """
    check_use_raw(adata, layer)
    raw_names = adata.raw.var_names
    if not raw_names.is_unique:
        raise ValueError(
            "adata.raw.var_names has duplicate gene names, so genes cannot be matched to "
            "adata.var_names; make them unique (adata.raw.var_names_make_unique() before "
            "setting adata.raw) or pass use_raw=False."
        )
    index = raw_names.get_indexer(adata.var_names)
    selected = index >= 0 if mask is None else (index >= 0) & mask
    if not selected.any():
        raise ValueError(
            "None of the genes of adata selected by mask_var is in adata.raw.var_names; "
            "pass use_raw=False, or mask_var=None to use every gene of adata found in raw."
        )
    raw_mask = np.zeros(len(raw_names), dtype=bool)
    raw_mask[index[selected]] = True
    rows = np.flatnonzero(selected)
    return raw_mask, rows[np.argsort(index[selected], kind="stable")]


def get_matrix(
    adata: AnnData,
    layer: str | None,
    mask: np.ndarray | None,
    *,
    allow_zeros: bool = True,
    use_raw: bool = False,
) -> np.ndarray | sp.csr_matrix:
    """The matrix to factorise: cells × selected genes, validated, float32/float64.

    With ``use_raw`` it is ``adata.raw.X``, and ``mask`` is over ``adata.raw``'s genes (see
    :func:`raw_gene_mask`). Never modifies ``adata``; sparse input stays sparse (CSR), lazy
    input lazy.
    """
    if use_raw:
        check_use_raw(adata, layer)
        X = adata.raw.X
        where = "adata.raw.X"
    elif layer is None:
        X = adata.X
        where = "adata.X"
    else:
        if layer not in adata.layers:
            raise KeyError(
                f"Layer {layer!r} not found; available layers: {list(adata.layers.keys())} "
                "(or pass layer=None to use adata.X)."
            )
        X = adata.layers[layer]
        where = f"adata.layers[{layer!r}]"
    if X is None:
        raise ValueError(f"{where} is empty (None); store a matrix there or pick another layer.")
    if is_lazy(X):
        return _get_lazy_matrix(X, where, mask, allow_zeros)
    if hasattr(X, "to_memory"):
        X = X.to_memory()
    if not sp.issparse(X):
        X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{where} has dtype {X.dtype}; expected a numeric matrix.")
    if mask is not None:
        X = X[:, mask]
    X = _as_float(X)
    values = X.data if sp.issparse(X) else X
    if values.size and not np.isfinite(values).all():
        raise ValueError(
            f"{where} contains NaN or infinite values; remove or impute them "
            "(e.g. adata = adata[np.isfinite(...)]) before factorising."
        )
    if values.size and values.min() < 0:
        raise ValueError(
            f"{where} contains negative values (min {values.min():.3g}); NMF needs nonnegative "
            "data: use counts or log1p-normalised data, not scaled (z-scored) data."
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError("The selected matrix is empty; check layer= and mask_var=.")
    nnz = X.nnz if sp.issparse(X) else int(np.count_nonzero(X))
    if nnz == 0:
        raise ValueError(f"{where} is all zeros; there is nothing to factorise.")
    if not allow_zeros and nnz < X.shape[0] * X.shape[1]:
        raise ValueError(
            f"{where} contains zeros, which the Itakura–Saito (β ≤ 0) loss cannot fit; "
            "use β > 0 (e.g. beta_loss='kullback-leibler') or add a pseudo-count in a layer."
        )
    return X


def _get_lazy_matrix(X, where: str, mask: np.ndarray | None, allow_zeros: bool):
    """Lazy counterpart of :func:`get_matrix` (validated in one pass over the blocks)."""
    if np.dtype(X.dtype).kind not in "biuf":
        raise ValueError(f"{where} has dtype {X.dtype}; expected a numeric matrix.")
    if mask is not None:
        X = X[:, mask]
    dtype = np.float64 if np.dtype(X.dtype) == np.float64 else np.float32
    X = X.astype(dtype).rechunk({1: -1})
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError("The selected matrix is empty; check layer= and mask_var=.")
    summary = lazy_summary(X)
    if not summary["finite"]:
        raise ValueError(f"{where} contains NaN or infinite values; remove or impute them.")
    if summary["min"] < 0:
        raise ValueError(
            f"{where} contains negative values (min {summary['min']:.3g}); NMF needs "
            "nonnegative data: use counts or log1p-normalised data, not scaled data."
        )
    if summary["nnz"] == 0:
        raise ValueError(f"{where} is all zeros; there is nothing to factorise.")
    if not allow_zeros and summary["nnz"] < X.shape[0] * X.shape[1]:
        raise ValueError(
            f"{where} contains zeros, which the Itakura–Saito (β ≤ 0) loss cannot fit; "
            "use β > 0 or add a pseudo-count in a layer."
        )
    return X


def guard_memory(
    adata: AnnData,
    layer: str | None,
    mask: np.ndarray | None,
    k: Any,
    copies: int = 1,
    what: str = "NMF",
    use_raw: bool = False,
) -> None:
    """Refuse, before any work, a fit that would not fit in the available memory.

    ``mask`` selects genes of the matrix read (``adata.raw``'s with ``use_raw``).
    """
    from .._core.memory import check_memory, estimate_nmf_bytes, format_bytes

    X = adata.X if layer is None or layer not in adata.layers else adata.layers[layer]
    if use_raw and adata.raw is not None:
        X = adata.raw.X
    if X is None or not isinstance(k, int | np.integer) or k < 1:
        return  # the regular validation reports these
    n = adata.n_obs
    m = int(mask.sum()) if mask is not None else adata.n_vars
    lazy = is_lazy(X)
    # A lazy array's ``_meta`` is an empty block of its chunk type (ndarray when dense).
    sparse = sp.issparse(X) or (lazy and not isinstance(getattr(X, "_meta", None), np.ndarray))
    nnz = X.nnz if sp.issparse(X) else n * m
    itemsize = 8 if np.dtype(X.dtype) == np.float64 else 4
    required = estimate_nmf_bytes(
        n, m, int(k), nnz=int(nnz), itemsize=itemsize, sparse=sparse, lazy=lazy, copies=copies
    )
    advice = (
        "use fewer components, select genes with mask_var, or load the data lazily as a "
        "row-chunked dask array (e.g. anndata.experimental.read_elem_lazy) to run it on a "
        "dask cluster."
        if not lazy
        else "use fewer components or fewer cells per fit; the cell factor alone is "
        f"{format_bytes(n * int(k) * itemsize)} on the driver."
    )
    check_memory(required, f"{what} of {n} × {m} with k = {int(k)}", advice)


def representation(adata: AnnData, use_rep: str | None) -> tuple[Any, str]:
    """The matrix cell–cell distances are measured on, and its name.

    ``None`` means ``obsm['X_pca']`` when present, else ``adata.X``. A lazy representation
    is computed block by block (on the active ``dask.distributed`` client when there is
    one): only it (n × p) comes back to this process, whatever it was derived from never
    needs to, but it must fit in memory.
    """
    if use_rep is None:
        use_rep = C.DEFAULT_REP if C.DEFAULT_REP in adata.obsm else C.Scanpy.X
    if use_rep == C.Scanpy.X:
        rep = adata.X
        if rep is None:
            raise ValueError(
                "No representation to build a cell graph from: adata.X is empty and "
                f"adata.obsm has no {C.DEFAULT_REP!r}. Run sc.pp.pca(adata) or pass "
                "use_rep=<obsm key>."
            )
    else:
        if use_rep not in adata.obsm:
            raise KeyError(
                f"use_rep={use_rep!r} is not a key of adata.obsm "
                f"(available: {list(adata.obsm.keys())}); pass use_rep='X' for adata.X."
            )
        rep = adata.obsm[use_rep]
    if is_lazy(rep):
        if np.dtype(rep.dtype).kind not in "biuf":
            raise ValueError(f"Representation {use_rep!r} has dtype {rep.dtype}; expected numbers.")
        rep = rep.compute()
    if hasattr(rep, "to_memory"):
        rep = rep.to_memory()
    if hasattr(rep, "to_numpy"):
        rep = rep.to_numpy()
    if sp.issparse(rep):
        rep = sp.csr_matrix(rep, dtype=np.float64)
        values = rep.data
    else:
        rep = np.asarray(rep, dtype=np.float64)
        values = rep
    if rep.ndim != 2 or rep.shape[0] != adata.n_obs or rep.shape[1] == 0:
        raise ValueError(f"Representation {use_rep!r} has shape {rep.shape}; expected (n_obs, p).")
    if values.size and not np.isfinite(values).all():
        raise ValueError(f"Representation {use_rep!r} contains NaN or infinite values.")
    peak = float(np.abs(values).max()) if values.size else 0.0
    if peak > 1e150 or 0 < peak < 1e-150:  # squared distances would leave float64's range
        raise ValueError(
            f"Representation {use_rep!r} has values up to {peak:.3g}: squared cell–cell "
            "distances would over- or underflow float64. Use a representation of ordinary "
            "magnitude, e.g. sc.pp.pca on normalised data, or this one divided by "
            f"{peak:.0e} (stored in adata.obsm and passed as use_rep)."
        )
    return rep, use_rep
