"""Array backends behind one switch; the helpers here let callers ask about lazy data.

``tl`` asks :func:`is_lazy` and :func:`lazy_summary` instead of importing the dask
backend, so no module outside ``_core`` touches a backend module (none imports dask).
"""

from __future__ import annotations

from typing import Any

from .dask import dask_summary, is_dask


def is_lazy(X: Any) -> bool:
    """Whether ``X`` is a lazy (dask) array, whose values are only known once computed."""
    return is_dask(X)


def lazy_summary(X: Any) -> dict[str, float]:
    """One pass over a lazy array: ``nnz``, ``sum``, ``min`` and whether all are ``finite``."""
    return dask_summary(X)


__all__ = ["is_lazy", "lazy_summary"]
