"""Writing ``tl`` results: h5ad-safe values, full-length loadings, all keys at once.

Results are computed completely before anything is written, so a failing or interrupted
call leaves the AnnData as it was; :func:`store` then writes every slot in one go.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from anndata import AnnData

from .. import _keys as C

#: AnnData slots :func:`store` writes, in the order the log lists them.
SLOTS: tuple[str, ...] = ("obsm", "varm", "obs", "uns")


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


def expand_loadings(H_t: np.ndarray, mask: np.ndarray | None, n_vars: int) -> np.ndarray:
    """Put loadings of the selected genes back at full length; masked-out genes get zeros.

    ``H_t`` has genes on its first axis (any trailing shape). Round-off below zero (a
    solver's last step can leave −1e-12, a float32 cast −1e-45) is stored as 0: programs
    are nonnegative, and readers (``tl.project``) may rely on it.
    """
    H_t = np.maximum(H_t, 0) if (np.asarray(H_t) < 0).any() else H_t
    if mask is None:
        return np.ascontiguousarray(H_t)
    full = np.zeros((n_vars, *H_t.shape[1:]), dtype=H_t.dtype)
    full[mask] = H_t
    return full


def check_finite_result(*arrays: np.ndarray, hint: str) -> None:
    """Never store NaN/inf: fail loudly (the AnnData is still untouched at this point)."""
    for array in arrays:
        if not np.isfinite(array).all():
            raise FloatingPointError(
                f"The fit produced non-finite values, so nothing was stored; {hint}."
            )


def _check_file_safe(key: Any, where: str, value: Any) -> None:
    """Every key written (and every dict key inside an ``uns`` value) survives ``.h5ad``.

    The ``key_added`` rule refuses bad names before the fit; this is the last line, so a
    key that slipped through (a dict key in ``params``) never makes the file unreadable.
    """
    problem = (C.key_problem(key) or ("" if key else "'' is empty")) if isinstance(key, str) else ""
    if problem:
        raise ValueError(
            f"Nothing was stored: {where}[{key!r}] cannot be written to .h5ad ({problem}). "
            f"Pass key_added={C.safe_key(str(key))!r} or report this as a bug."
        )
    if isinstance(value, Mapping):
        for inner, item in value.items():
            _check_file_safe(inner, f"{where}[{key!r}]", item)


def store(
    adata: AnnData, copy: bool, drop_obs: Sequence[str] = (), **slots: Mapping[str, Any]
) -> AnnData:
    """Write ``obsm=``, ``varm=``, ``obs=`` and ``uns=`` entries into ``adata`` (or a copy).

    Returns the AnnData written to. Existing keys are overwritten, as scanpy does; the
    ``drop_obs`` columns (activity columns of the result being replaced) are removed.
    """
    unknown = set(slots) - set(SLOTS)
    if unknown:
        raise TypeError(f"store() writes {list(SLOTS)}, not {sorted(unknown)}.")
    for slot in SLOTS:
        for key, value in slots.get(slot, {}).items():
            _check_file_safe(key, f"adata.{slot}", value)
    target = adata.copy() if copy else adata
    stale = [c for c in drop_obs if c in target.obs.columns]
    if stale:
        target.obs.drop(columns=stale, inplace=True)
    for slot in SLOTS:
        container = getattr(target, slot)
        for key, value in slots.get(slot, {}).items():
            container[key] = value
    return target


def added(**slots: Mapping[str, Any]) -> str:
    """The log's list of what :func:`store` wrote (``deep=`` text of ``logg.info``)."""
    written = [f".{slot}[{key!r}]" for slot in SLOTS for key in slots.get(slot, {})]
    return "added\n    " + ", ".join(written)


def factor_slots(
    key_added: str, result, mask: np.ndarray | None, n_vars: int, params: dict, **extra: Any
) -> dict[str, dict]:
    """The slots of a one-factorisation result (``tl.nmf``, ``tl.gnmf``), ready for :func:`store`.

    ``obsm['X_<key>']`` = W, ``varm['<key>_loadings']`` = Hᵀ at full gene length, and
    ``uns[key]`` = {params, loss, n_iter, converged, **extra}.
    """
    keys, U = C.factor_keys(key_added), C.FitUns
    return {
        "obsm": {keys.obsm: result.W},
        "varm": {keys.varm: expand_loadings(result.H.T, mask, n_vars)},
        "uns": {
            keys.uns: {
                U.PARAMS: h5ad_safe(params),
                U.LOSS: np.asarray(result.loss, dtype=np.float64),
                U.N_ITER: int(result.n_iter),
                U.CONVERGED: bool(result.converged),
                **extra,
            }
        },
    }


def activity_columns(
    adata: AnnData, key_added: str, ranks: int | Sequence[int], add_to_obs: bool, *,
    layers: bool = False,
) -> list[str]:  # fmt: skip
    """The ``obs`` columns ``add_to_obs=True`` will write (none without it), checked up front.

    One float column per program, named by :func:`scnmf._keys.program_column` from the
    default program names (``'<key>_0'`` …; every layer's with ``layers``, ``ranks`` then
    being one rank per layer). A column that exists already and was not written by the
    result under ``key_added`` (``uns[key_added]['obs_columns']``) is refused before the fit.
    """
    if not add_to_obs:
        return []
    blocks = list(enumerate(ranks, start=1)) if layers else [(None, ranks)]
    columns = [
        C.program_column(key_added, name, ell)
        for ell, r in blocks
        for name in C.default_program_names(key_added, r, ell)
    ]
    taken = sorted(set(columns) & set(adata.obs.columns) - set(owned_columns(adata, key_added)))
    if taken:
        raise ValueError(
            f"add_to_obs=True would overwrite adata.obs columns {taken[:5]}, which the result "
            f"under key_added={key_added!r} did not write; pass another key_added, rename or "
            "drop those columns, or add_to_obs=False."
        )
    return columns


def owned_columns(adata: AnnData, key_added: str) -> list[str]:
    """The ``obs`` columns the result now under ``key_added`` wrote with ``add_to_obs``."""
    record = adata.uns.get(key_added)
    owned = record.get(C.ProgramUns.OBS_COLUMNS) if isinstance(record, Mapping) else None
    return [] if owned is None else [str(c) for c in np.asarray(owned).ravel()]


def add_activity_columns(
    slots: dict, adata: AnnData, key_added: str, columns: Sequence[str], activities: np.ndarray
) -> list[str]:
    """Put the activity columns into ``slots`` (``obs`` and the record of ``uns[key_added]``).

    ``activities`` is n_obs × len(columns) (deep layers side by side). Returns the columns
    the previous result under ``key_added`` wrote and this one does not (for
    ``store(drop_obs=...)``): they describe a result that is being replaced.
    """
    if columns:
        obs = slots.setdefault("obs", {})
        for j, column in enumerate(columns):
            obs[column] = np.ascontiguousarray(activities[:, j])
        slots["uns"][key_added][C.ProgramUns.OBS_COLUMNS] = np.asarray(list(columns), dtype=str)
    return [c for c in owned_columns(adata, key_added) if c not in set(columns)]
