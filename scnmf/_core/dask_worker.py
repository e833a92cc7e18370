"""Run an in-memory solver on one dask worker, with the matrix assembled on that worker.

For solvers whose iterations do not map onto row blocks cheaply (the coupled pNMF scales,
GNMF's graph term couples all cells), the data must fit one worker's memory, but it still
never travels to the client: the row blocks are computed on the cluster, gathered by the
worker that runs the solver, and only the (small) result comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._threads import single_threaded_blas


def _active_client():
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):
        return None


def assemble_rows(blocks: list, dtype) -> np.ndarray | sp.csr_matrix:
    """Stack row blocks into one matrix: CSR when any block is sparse, else dense."""
    if any(sp.issparse(b) for b in blocks):
        X = sp.vstack([sp.csr_matrix(b) for b in blocks], format="csr").astype(dtype)
        X.sum_duplicates()
        X.eliminate_zeros()
        return X
    return np.ascontiguousarray(np.vstack([np.asarray(b) for b in blocks]), dtype=dtype)


def _call_with_matrix(blocks: list, dtype, fn: Callable, args: tuple, kwargs: dict) -> Any:
    X = assemble_rows(blocks, dtype)
    with single_threaded_blas(X):
        return fn(X, *args, **kwargs)


def solve_on_worker(X, fn: Callable, *args, **kwargs) -> Any:
    """``fn(X_in_memory, *args, **kwargs)`` for a dask array ``X`` chunked along rows.

    With an active ``dask.distributed`` client the blocks are computed on the cluster and
    ``fn`` runs as one task on a worker (``fn`` and its arguments must pickle); without
    one, the blocks are computed and ``fn`` runs in this process.

    Returns
    -------
    Whatever ``fn`` returns.
    """
    import dask

    blocks = X.to_delayed().ravel().tolist()
    dtype = np.dtype(X.dtype)
    client = _active_client()
    if client is None:
        return _call_with_matrix(list(dask.compute(*blocks)), dtype, fn, args, kwargs)
    futures = client.compute(blocks)
    # Futures (not cancelled: their keys may be shared with data the user persisted) are
    # released when they go out of scope.
    task = client.submit(_call_with_matrix, futures, dtype, fn, args, kwargs, pure=False)
    return task.result()
