"""Shared glue for ``tl`` functions: validation, matrix selection, progress, storage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from .._core._backends.dask import dask_summary, is_dask
from .._keys import BETA_LOSS_NAMES


class _Default:
    """Sentinel: 'use the documented default' (distinct from an explicit ``None``)."""

    def __repr__(self) -> str:
        return "<default>"


DEFAULT = _Default()


def check_adata(adata: Any) -> AnnData:
    """Reject anything that is not a non-empty AnnData."""
    if not isinstance(adata, AnnData):
        raise TypeError(f"Expected an AnnData object, got {type(adata).__name__}.")
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise ValueError(
            f"AnnData is empty ({adata.n_obs} cells × {adata.n_vars} genes); "
            "filter less aggressively or pass a non-empty object."
        )
    return adata


def resolve_beta(beta_loss: str | float) -> float:
    """Map a β-loss name or number onto β."""
    if isinstance(beta_loss, str):
        key = beta_loss.lower()
        if key not in BETA_LOSS_NAMES:
            raise ValueError(
                f"Unknown beta_loss {beta_loss!r}; use one of {sorted(BETA_LOSS_NAMES)} "
                "or a number β ≥ 0."
            )
        return BETA_LOSS_NAMES[key]
    if isinstance(beta_loss, bool) or not isinstance(beta_loss, int | float | np.number):
        raise ValueError(f"beta_loss must be a name or a number, got {beta_loss!r}.")
    beta = float(beta_loss)
    if not np.isfinite(beta) or beta < 0:
        raise ValueError(f"beta_loss must be a finite number ≥ 0, got {beta_loss!r}.")
    return beta


def resolve_mask_var(adata: AnnData, mask_var: Any) -> np.ndarray | None:
    """Boolean gene mask, or ``None`` for all genes.

    ``DEFAULT`` means ``var['highly_variable']`` when present, else all genes.
    """
    if mask_var is DEFAULT:
        if "highly_variable" in adata.var.columns:
            mask_var = "highly_variable"
        else:
            return None
    if mask_var is None:
        return None
    if isinstance(mask_var, str):
        if mask_var not in adata.var.columns:
            raise KeyError(
                f"mask_var={mask_var!r} is not a column of adata.var; "
                f"available: {list(adata.var.columns)[:10]} (or pass mask_var=None for all genes)."
            )
        mask = np.asarray(adata.var[mask_var])
    else:
        mask = np.asarray(mask_var)
    if mask.dtype != bool:
        raise ValueError("mask_var must be boolean (one entry per gene) or a column of adata.var.")
    if mask.shape != (adata.n_vars,):
        raise ValueError(f"mask_var has shape {mask.shape}; expected ({adata.n_vars},).")
    if not mask.any():
        raise ValueError("mask_var selects no gene; pass mask_var=None to use all genes.")
    return mask


def _as_float(X: np.ndarray | sp.spmatrix) -> np.ndarray | sp.csr_matrix:
    """float64 stays float64; everything else becomes float32 (CSR when sparse)."""
    dtype = np.float64 if X.dtype == np.float64 else np.float32
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=dtype)
        X.sum_duplicates()
        X.eliminate_zeros()
        return X
    return np.ascontiguousarray(X, dtype=dtype)


def get_matrix(
    adata: AnnData,
    layer: str | None,
    mask: np.ndarray | None,
    *,
    allow_zeros: bool = True,
) -> np.ndarray | sp.csr_matrix:
    """The matrix to factorise: cells × selected genes, validated, float32/float64.

    Never modifies ``adata``; sparse input stays sparse (CSR).
    """
    if layer is None:
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
    if is_dask(X):
        return _get_dask_matrix(X, where, mask, allow_zeros)
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


def _get_dask_matrix(X, where: str, mask: np.ndarray | None, allow_zeros: bool):
    """Lazy counterpart of :func:`get_matrix` for dask arrays (validated in one pass)."""
    if np.dtype(X.dtype).kind not in "biuf":
        raise ValueError(f"{where} has dtype {X.dtype}; expected a numeric matrix.")
    if mask is not None:
        X = X[:, mask]
    dtype = np.float64 if np.dtype(X.dtype) == np.float64 else np.float32
    X = X.astype(dtype).rechunk({1: -1})
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError("The selected matrix is empty; check layer= and mask_var=.")
    summary = dask_summary(X)
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
) -> None:
    """Refuse, before any work, a fit that would not fit in the available memory."""
    from .._core.memory import check_memory, estimate_nmf_bytes

    X = adata.X if layer is None or layer not in adata.layers else adata.layers[layer]
    if X is None or not isinstance(k, int | np.integer) or k < 1:
        return  # the regular validation reports these
    n = adata.n_obs
    m = int(mask.sum()) if mask is not None else adata.n_vars
    lazy = is_dask(X)
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
        f"{n * int(k) * itemsize / 2**30:.1f} GiB on the driver."
    )
    check_memory(required, f"{what} of {n} × {m} with k = {int(k)}", advice)


def rescale_extreme(X, low: float = 1e-3, high: float = 1e4):
    """Bring data of extreme magnitude to order one (float32 would under/overflow in products).

    Returns the matrix to fit and the factor ``s`` with ``X = s · returned``; data whose
    largest value already lies in [``low``, ``high``] is returned as is with ``s = 1``.
    """
    if is_dask(X):
        return X, 1.0
    values = X.data if sp.issparse(X) else X
    peak = float(values.max()) if values.size else 1.0
    if peak == 0 or low <= peak <= high:
        return X, 1.0
    if sp.issparse(X):
        X = X.copy()
        X.data /= X.dtype.type(peak)
    else:
        X = X / X.dtype.type(peak)
    return X, peak


def check_finite_result(*arrays: np.ndarray, hint: str) -> None:
    """Never store NaN/inf: fail loudly (the AnnData is still untouched at this point)."""
    for array in arrays:
        if not np.isfinite(array).all():
            raise FloatingPointError(
                f"The fit produced non-finite values, so nothing was stored; {hint}."
            )


def check_rank(n_components: Any, shape: tuple[int, int], name: str = "n_components") -> int:
    """A rank between 1 and min(shape)."""
    if isinstance(n_components, bool) or not isinstance(n_components, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {n_components!r}.")
    k = int(n_components)
    if k < 1 or k > min(shape):
        raise ValueError(
            f"{name}={k} is impossible for a {shape[0]} × {shape[1]} matrix; "
            f"choose 1 ≤ {name} ≤ {min(shape)}."
        )
    return k


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """A value among ``choices``."""
    if value not in choices:
        raise ValueError(f"Unknown {name} {value!r}; use one of {list(choices)}.")
    return value


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """An integer ≥ ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}.")
    return int(value)


def check_nonnegative(value: Any, name: str) -> float:
    """A finite float ≥ 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number ≥ 0, got {value!r}.") from None
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}.")
    return v


def h5ad_safe(value: Any) -> Any:
    """Convert a value into something ``write_h5ad`` stores and reads back unchanged."""
    if value is None:
        return "None"
    if isinstance(value, Mapping):
        return {str(k): h5ad_safe(v) for k, v in value.items()}
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, tuple | list):
        arr = np.asarray(value)
        if arr.dtype.kind in "biuf":
            return arr
        return np.asarray([str(v) for v in value])
    if isinstance(value, np.ndarray):
        return value
    return str(value)


def mask_description(mask_var: Any) -> str:
    """How the gene mask was chosen, for ``uns[...]['params']``."""
    if mask_var is DEFAULT:
        return "highly_variable if present"
    if mask_var is None:
        return "None"
    if isinstance(mask_var, str):
        return mask_var
    return "boolean array"


def expand_loadings(H_t: np.ndarray, mask: np.ndarray | None, n_vars: int) -> np.ndarray:
    """Put loadings of the selected genes back at full length; masked-out genes get zeros.

    ``H_t`` has genes on its first axis (any trailing shape).
    """
    if mask is None:
        return np.ascontiguousarray(H_t)
    full = np.zeros((n_vars, *H_t.shape[1:]), dtype=H_t.dtype)
    full[mask] = H_t
    return full


def progress_enabled() -> bool:
    """Progress bars are shown unless scanpy's verbosity is at 'error' only."""
    import scanpy as sc

    return int(sc.settings.verbosity) >= 1


def progress_bar(total: int, desc: str):
    """A tqdm bar (notebook-aware) that respects scanpy's verbosity."""
    try:  # widget bars in notebooks only where ipywidgets can draw them
        import ipywidgets  # noqa: F401
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm import tqdm

    return tqdm(total=total, desc=desc, disable=not progress_enabled(), leave=False)


def prepare_target(adata: AnnData, copy: bool) -> AnnData:
    """The object results are written to: a copy when ``copy=True``."""
    return adata.copy() if copy else adata


def check_random_state(random_state: Any) -> int | None:
    """Seeds are ints (or None for fresh entropy)."""
    if random_state is None:
        return None
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        raise ValueError(f"random_state must be an int or None, got {random_state!r}.")
    return int(random_state)
