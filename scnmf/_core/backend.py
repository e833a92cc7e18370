"""Which array backend a matrix belongs to, and one-pass summaries for lazy (dask) data."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def is_dask(X) -> bool:
    """Whether ``X`` is a dask array (checked without importing dask)."""
    return type(X).__module__.startswith("dask.") and hasattr(X, "chunks")


def _block_summary(block) -> np.ndarray:
    values = block.data if sp.issparse(block) else np.asarray(block).ravel()
    if values.size == 0:
        return np.array([0.0, 0.0, np.inf, 1.0])
    nnz = block.nnz if sp.issparse(block) else np.count_nonzero(values)
    finite = bool(np.isfinite(values).all())
    total = float(values.sum(dtype=np.float64)) if finite else np.nan
    minimum = float(values.min()) if finite else np.nan
    return np.array([float(nnz), total, minimum, float(finite)])


def dask_summary(X) -> dict[str, float]:
    """One pass over a dask array: nonzeros, sum, minimum and whether all values are finite.

    Returns
    -------
    dict
        ``nnz``, ``sum``, ``min``, ``finite``.
    """
    import dask

    parts = dask.compute(*[dask.delayed(_block_summary)(b) for b in X.to_delayed().ravel()])
    parts = np.vstack(parts)
    finite = bool(parts[:, 3].all())
    return {
        "nnz": int(parts[:, 0].sum()),
        "sum": float(parts[:, 1].sum()) if finite else float("nan"),
        "min": float(parts[:, 2].min()) if finite else float("nan"),
        "finite": finite,
    }
