"""The starting factors of ``tl.nmf(init='custom')``, checked at the ``tl`` boundary.

One check, before any work: never silently ignored (given without ``init='custom'``), never
half given, of the matrix's shape, finite, nonnegative and without an all-zero program (a
fixed point of the updates that would be stored as "converged"). Messages go through the
one formatter, :func:`._rules.option_error`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._rules import option_error
from ._validate import Init


class _Shown(str):
    """A description shown as written (not quoted) where an error names the value."""

    def __repr__(self) -> str:
        return str(self)


def _custom_factor(value: Any, name: str, shape: tuple[int, int], axis: int) -> np.ndarray:
    """One starting factor as a float array of ``shape``: finite, nonnegative, no zero program."""
    if hasattr(value, "toarray"):  # a sparse matrix
        value = value.toarray()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        arr = np.asarray(None)
    if arr.dtype.kind not in "biuf" or arr.dtype.kind == "b":
        raise option_error(
            name,
            _Shown(f"of type {type(value).__name__} (dtype {arr.dtype})"),
            "numeric arrays",
            fix=f"Pass {name} as a numeric ndarray.",
        )
    if arr.shape != shape:
        raise option_error(
            name,
            _Shown(f"an array of shape {arr.shape}"),
            f"arrays of shape {shape}",
            fix="init_W is cells × n_components and init_H n_components × the genes selected "
            "by mask_var.",
        )
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all() or arr.min() < 0:
        raise option_error(
            name,
            _Shown("an array with NaN, infinite or negative entries"),
            "finite nonnegative arrays",
            fix=f"Clip or impute {name} (e.g. np.clip(np.nan_to_num({name}), 0, None)).",
        )
    empty = np.flatnonzero(~arr.any(axis=axis))
    if empty.size:
        what = "all zeros" if empty.size == arr.shape[1 - axis] else f"zero for programs {empty}"
        raise option_error(
            name,
            _Shown(f"an array that is {what}"),
            "arrays with a nonzero entry for every program",
            fix="An all-zero program is a fixed point of the updates, so it would be stored "
            "as 'converged' without being fitted; start it from nonzero values or use "
            "init='nndsvda'.",
        )
    return arr


def check_custom_factors(
    init: str, init_W: Any, init_H: Any, k: int, shape: tuple[int, int]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Starting factors of ``init='custom'``, checked against the matrix ``shape``.

    ``init_W``/``init_H`` without ``init='custom'``, or ``init='custom'`` without both, are
    refused (they would be silently ignored); so are factors of the wrong shape, with
    NaN, infinite or negative entries, or with an all-zero program. Returns float64 arrays
    (``None, None`` when not custom).
    """
    given = [n for n, v in (("init_W", init_W), ("init_H", init_H)) if v is not None]
    if init != Init.CUSTOM:
        if given:
            raise option_error(
                "init",
                init,
                "'custom' when init_W or init_H is given",
                fix=f"{' and '.join(given)} would be ignored with init={init!r}: pass "
                "init='custom' to start from them, or drop them.",
            )
        return None, None
    if len(given) < 2:
        missing = " and ".join(n for n in ("init_W", "init_H") if n not in given)
        raise option_error(
            "init",
            init,
            "'custom' with both init_W and init_H",
            fix=f"init='custom' starts from the factors W and H: pass {missing} too (init_W: "
            "cells × k, init_H: k × genes), or choose an automatic init such as 'nndsvda'.",
        )
    n, m = shape
    return (
        _custom_factor(init_W, "init_W", (n, k), axis=0),
        _custom_factor(init_H, "init_H", (k, m), axis=1),
    )
