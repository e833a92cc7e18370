"""Stored records that are read back: checked once, here, before anything uses them.

``tl.persistence`` writes a record (``uns['persistence']``) that ``tl.pnmf`` reuses and
``pl.persistence_diagram`` / ``pl.barcode`` draw; ``tl.pnmf`` copies its scales into its
own record, which ``pl.scale_path`` draws. Every reader goes through
:func:`persistence_record` (or :func:`check_scales`), so a record from another AnnData,
one left stale by subsetting cells or recomputing the representation, and a corrupt one
(missing entries, NaN, negative or unsorted scales, an empty scale list, β0 counts above
the number of cells, wrong types) are all refused the same way, with the fix. ``tl`` and
``pl`` both import this module (``pl`` never imports ``tl``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np
from anndata import AnnData

from . import _keys as C

#: Rows of the representation a fingerprint reads (evenly spaced, first and last included).
FINGERPRINT_ROWS = 32

#: Entries of ``params`` a persistence record must hold to be reused.
PARAMS_REQUIRED = ("use_rep", "n_obs", "fingerprint", "n_neighbors", "exact_max_cells")


def _rows(rep: Any, rows: np.ndarray) -> np.ndarray:
    """``rep[rows]`` as a dense float64 array (numpy, scipy, pandas, dask or backed)."""
    block = rep.iloc[rows] if hasattr(rep, "iloc") else rep[rows]
    if hasattr(block, "compute"):  # dask
        block = block.compute()
    if hasattr(block, "to_memory"):
        block = block.to_memory()
    if hasattr(block, "toarray"):
        block = block.toarray()
    elif hasattr(block, "to_numpy"):
        block = block.to_numpy()
    return np.asarray(block, dtype=np.float64) + 0.0  # -0.0 → 0.0 (sparse and dense agree)


def fingerprint(adata: AnnData, use_rep: str, rep: Any = None) -> str:
    """A short hash of the representation ``use_rep`` (``'X'`` or an ``obsm`` key).

    It covers the name, the shape and the values of :data:`FINGERPRINT_ROWS` evenly
    spaced cells (as float64, so the dtype, sparse or dense storage and an h5ad round trip
    do not change it): another AnnData, a subset of the cells, a reordering or a recomputed
    representation give another fingerprint. ``KeyError`` when ``use_rep`` is not there.
    ``rep``, when given, is that representation already loaded (``tl.persistence``), so
    a lazy one is not read twice.
    """
    if rep is not None:
        pass
    elif use_rep == C.Scanpy.X:
        rep = adata.X
    elif use_rep in adata.obsm:
        rep = adata.obsm[use_rep]
    else:
        raise KeyError(use_rep)
    digest = hashlib.blake2b(digest_size=8)
    if rep is None:
        digest.update(f"{use_rep}|None".encode())
        return digest.hexdigest()
    n, p = (int(s) for s in rep.shape[:2])
    digest.update(f"{use_rep}|{n}|{p}|".encode())
    if n:
        rows = np.unique(np.linspace(0, n - 1, min(n, FINGERPRINT_ROWS)).round().astype(np.int64))
        digest.update(np.ascontiguousarray(_rows(rep, rows)).tobytes())
    return digest.hexdigest()


def _integral(values: np.ndarray) -> bool:
    if values.dtype.kind in "iu":
        return True
    return (
        values.dtype.kind == "f"
        and bool(np.all(np.isfinite(values)))
        and bool(np.all(values == np.round(values)))
    )


def _array(value: Any, where: str, fix: str) -> np.ndarray:
    """A 1-d numeric array (ValueError naming ``where`` otherwise)."""
    if isinstance(value, str | bytes | Mapping) or value is None:
        raise ValueError(f"{where} is a {type(value).__name__}, not an array of numbers. {fix}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        arr = np.asarray(None)
    if arr.dtype.kind not in "iuf" or arr.ndim != 1:
        raise ValueError(
            f"{where} is not a 1-d array of numbers (dtype {arr.dtype}, shape {arr.shape}). {fix}"
        )
    return arr


def check_scales(
    scales: Any, counts: Any, n_obs: int, where: str, fix: str
) -> tuple[np.ndarray, np.ndarray]:
    """Scales (ε, strictly increasing, finite, ≥ 0, at least one) and their β0 counts.

    The counts are integers 1 … ``n_obs``, one per scale, never increasing (a coarser
    ε-graph has no more components). ``where`` names the record in the messages, ``fix``
    ends them. Returns float64 scales and int64 counts.
    """
    eps = _array(scales, f"{where}['scales']", fix)
    if eps.size == 0:
        raise ValueError(f"{where}['scales'] is empty: a record needs at least one scale. {fix}")
    eps = eps.astype(np.float64)
    if not np.isfinite(eps).all():
        raise ValueError(f"{where}['scales'] contains NaN or infinite values. {fix}")
    if eps.min() < 0:
        raise ValueError(f"{where}['scales'] contains negative scales (ε ≥ 0). {fix}")
    if eps.size > 1 and np.any(np.diff(eps) <= 0):
        raise ValueError(f"{where}['scales'] is not strictly increasing (unsorted). {fix}")
    b0 = _array(counts, f"{where}['n_components']", fix)
    if b0.size != eps.size:
        raise ValueError(
            f"{where}['n_components'] has {b0.size} entries for {eps.size} scales. {fix}"
        )
    if not _integral(b0):
        raise ValueError(f"{where}['n_components'] (β0 counts) are not integers. {fix}")
    b0 = b0.astype(np.int64)
    if b0.min() < 1 or b0.max() > n_obs:
        raise ValueError(
            f"{where}['n_components'] (β0 counts) must lie in 1 … n_obs = {n_obs}, found "
            f"{b0.min()} … {b0.max()}: the record was computed on other cells. {fix}"
        )
    if b0.size > 1 and np.any(np.diff(b0) > 0):
        raise ValueError(
            f"{where}['n_components'] increases with the scale; β0 can only fall as ε grows. {fix}"
        )
    return eps, b0


def _diagram(value: Any, where: str, n_obs: int, fix: str) -> np.ndarray:
    try:
        diagram = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where}['diagram'] is not an array of numbers. {fix}") from None
    if diagram.ndim != 2 or diagram.shape[1] != 2:
        raise ValueError(
            f"{where}['diagram'] has shape {diagram.shape}; expected (n_obs, 2) birth/death "
            f"pairs. {fix}"
        )
    if diagram.shape[0] != n_obs:
        raise ValueError(
            f"{where}['diagram'] has {diagram.shape[0]} classes for {n_obs} cells (one per "
            f"cell): the record was computed on other cells. {fix}"
        )
    birth, death = diagram[:, 0], diagram[:, 1]
    if np.isnan(diagram).any() or not np.isfinite(birth).all() or birth.min(initial=0) < 0:
        raise ValueError(f"{where}['diagram'] contains NaN or invalid births. {fix}")
    if np.any(death < birth):
        raise ValueError(f"{where}['diagram'] has classes that die before they are born. {fix}")
    return diagram


def _params(params: Any, where: str, fix: str) -> dict:
    if not isinstance(params, Mapping):
        raise ValueError(f"{where}['params'] is a {type(params).__name__}, not a dict. {fix}")
    missing = [name for name in PARAMS_REQUIRED if name not in params]
    if missing:
        raise KeyError(
            f"{where}['params'] lacks {missing} (written by another tool or an older scnmf). {fix}"
        )
    out = dict(params)
    for name in ("use_rep", "fingerprint"):
        if not isinstance(out[name], str) or not out[name]:
            raise ValueError(f"{where}['params'][{name!r}] is not a string. {fix}")
    for name, low in (("n_obs", 1), ("n_neighbors", 1), ("exact_max_cells", 0)):
        value = out[name]
        if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
            raise ValueError(f"{where}['params'][{name!r}] = {value!r} is not an integer. {fix}")
        if value < low:
            raise ValueError(f"{where}['params'][{name!r}] = {value!r} is below {low}. {fix}")
        out[name] = int(value)
    return out


def reuse_fix(key: str, reader: str) -> str:
    """The fix of a refused persistence record, for a reader's parameter name."""
    return (
        f"Rerun snmf.tl.persistence(adata, key_added={key!r}) on this AnnData, or pass "
        f"{reader}=... naming a persistence record computed on it."
    )


def persistence_record(adata: AnnData, key: str, *, reader: str = "persistence_key") -> dict:
    """``adata.uns[key]`` checked as a ``tl.persistence`` record of *this* AnnData.

    ``KeyError`` when it is missing; otherwise :func:`check_persistence` with the fix
    for ``reader``, the parameter that chose ``key`` (``persistence_key`` of ``tl.pnmf``,
    ``key`` of the plots).
    """
    if key not in adata.uns:
        raise KeyError(
            f"adata.uns[{key!r}] not found; run snmf.tl.persistence(adata, key_added={key!r}) "
            f"first (or pass the {reader} you used there)."
        )
    return check_persistence(
        adata.uns[key], adata, where=f"adata.uns[{key!r}]", fix=reuse_fix(key, reader)
    )


def check_persistence(
    record: Any, adata: AnnData, *, where: str, fix: str, current: str | None = None
) -> dict:
    """A ``tl.persistence`` record, checked against the AnnData it is used with.

    Checks, in order: it is a dict with ``diagram``, ``scales``, ``n_components`` and
    ``params`` holding :data:`PARAMS_REQUIRED` (``KeyError`` for missing entries,
    ``ValueError`` for wrong types); that it was computed on these cells
    (``params['n_obs']``); the scales and β0 counts (:func:`check_scales`) and the
    diagram; and that the fingerprint of the representation it used (:func:`fingerprint`)
    is that of this AnnData's (``ValueError``; ``current`` is that fingerprint when the
    caller has just computed it). Messages name ``where``, the problem and
    end with ``fix``. Returns a shallow copy with the scales as float64, the counts as
    int64, the diagram as float64 and the params as a dict.
    """
    if not isinstance(record, Mapping):
        raise ValueError(
            f"{where} is a {type(record).__name__}, not a record of scnmf.tl.persistence. {fix}"
        )
    U = C.PersistenceUns
    missing = [f for f in (U.DIAGRAM, *U.REQUIRED) if f not in record]
    if missing:
        raise KeyError(
            f"{where} lacks {missing}; it was not written by scnmf.tl.persistence. {fix}"
        )
    params = _params(record[U.PARAMS], where, fix)
    n_obs = adata.n_obs
    if params["n_obs"] != n_obs:
        raise ValueError(
            f"{where} was computed on {params['n_obs']} cells, this AnnData has {n_obs} (from "
            f"another AnnData, or stale after subsetting cells). {fix}"
        )
    scales, counts = check_scales(record[U.SCALES], record[U.N_COMPONENTS], n_obs, where, fix)
    diagram = _diagram(record[U.DIAGRAM], where, n_obs, fix)
    use_rep = params["use_rep"]
    try:
        now = current or fingerprint(adata, use_rep)
    except KeyError:
        raise ValueError(
            f"{where} was computed on adata.obsm[{use_rep!r}], which is no longer there. {fix}"
        ) from None
    if now != params["fingerprint"]:
        shown = "adata.X" if use_rep == C.Scanpy.X else f"adata.obsm[{use_rep!r}]"
        raise ValueError(
            f"{where} does not match this AnnData: its representation {shown} has changed "
            "since tl.persistence (another AnnData, cells subset or reordered, or the "
            f"representation recomputed). {fix}"
        )
    out = dict(record)
    out.update({U.SCALES: scales, U.N_COMPONENTS: counts, U.DIAGRAM: diagram, U.PARAMS: params})
    return out


def is_index(value: Any, size: int) -> bool:
    """An integer (not a bool) in 0 … ``size`` − 1."""
    integer = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    return integer and 0 <= int(value) < size
