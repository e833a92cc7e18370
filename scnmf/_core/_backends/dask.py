"""Which array backend a matrix belongs to, and one-pass summaries for lazy (dask) data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._sparse import canonical_csr
from ._threads import single_threaded_blas


def is_dask(X) -> bool:
    """Whether ``X`` is a dask array (checked without importing dask)."""
    return type(X).__module__.startswith("dask.") and hasattr(X, "chunks")


def _block_summary(block) -> np.ndarray:
    if sp.issparse(block):  # count and sum what the fit will see (see as_block)
        block = canonical_csr(block)
    values = block.data if sp.issparse(block) else np.asarray(block).ravel()
    if values.size == 0:
        return np.array([0.0, 0.0, np.inf, 1.0, 0.0])
    nnz = block.nnz if sp.issparse(block) else np.count_nonzero(values)
    finite = bool(np.isfinite(values).all())
    total = float(values.sum(dtype=np.float64)) if finite else np.nan
    minimum = float(values.min()) if finite else np.nan
    maximum = float(values.max()) if finite else np.nan
    return np.array([float(nnz), total, minimum, float(finite), maximum])


def dask_summary(X) -> dict[str, float]:
    """One pass over a dask array: nonzeros, sum, extremes and whether all values are finite.

    Sparse chunks are counted as the fit sees them (canonical: no stored zeros or
    duplicates, see :func:`as_block`).

    Returns
    -------
    dict
        ``nnz``, ``sum``, ``min``, ``max``, ``finite``.
    """
    import dask

    parts = dask.compute(*[dask.delayed(_block_summary)(b) for b in X.to_delayed().ravel()])
    parts = np.vstack(parts)
    finite = bool(parts[:, 3].all())
    return {
        "nnz": int(parts[:, 0].sum()),
        "sum": float(parts[:, 1].sum()) if finite else float("nan"),
        "min": float(parts[:, 2].min()) if finite else float("nan"),
        "max": float(parts[:, 4].max()) if finite else float("nan"),
        "finite": finite,
    }


def active_client():
    """The active ``dask.distributed`` client, or ``None`` (then dask's local scheduler runs)."""
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):
        return None


def assemble_rows(blocks: list, dtype) -> np.ndarray | sp.csr_matrix:
    """Stack row blocks into one matrix: CSR when any block is sparse, else dense."""
    if any(sp.issparse(b) for b in blocks):
        # Stacking canonical blocks gives a canonical matrix (and new arrays).
        return sp.vstack([as_block(sp.csr_matrix(b), dtype) for b in blocks], format="csr")
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
    client = active_client()
    if client is None:
        return _call_with_matrix(list(dask.compute(*blocks)), dtype, fn, args, kwargs)
    futures = client.compute(blocks)
    # Futures (not cancelled: their keys may be shared with data the user persisted) are
    # released when they go out of scope.
    task = client.submit(_call_with_matrix, futures, dtype, fn, args, kwargs, pure=False)
    return task.result()


def tasks_on_matrix(
    X, fn: Callable, tasks: list[tuple], on_done: Callable[[int, Any], None]
) -> None:
    """``fn(X_in_memory, *task)`` for every task, as tasks on the cluster that share one X.

    For work that needs the whole matrix per task (the replicate fits of a consensus). With
    an active ``dask.distributed`` client the blocks are computed on the cluster and
    assembled once into a matrix that stays there; each task runs on a worker and only its
    (small) result travels back. Without a client the matrix is assembled here and the
    tasks run one after another in this process. ``on_done(i, result)`` is called as task
    ``i`` finishes (in completion order on a cluster).
    """
    import dask

    blocks = X.to_delayed().ravel().tolist()
    dtype = np.dtype(X.dtype)
    client = active_client()
    if client is None:
        matrix = assemble_rows(list(dask.compute(*blocks)), dtype)
        with single_threaded_blas(matrix):
            for index, task in enumerate(tasks):
                on_done(index, fn(matrix, *task))
        return
    from distributed import as_completed

    matrix = client.submit(assemble_rows, client.compute(blocks), dtype, pure=False)
    futures = [client.submit(_call_on, fn, matrix, task, pure=False) for task in tasks]
    index_of = {future.key: index for index, future in enumerate(futures)}
    for future in as_completed(futures):
        on_done(index_of[future.key], future.result())


def _call_on(fn: Callable, X, task: tuple) -> Any:
    with single_threaded_blas(X):
        return fn(X, *task)


def as_block(block, dtype):
    """A computed dask block as canonical CSR or a C-contiguous ndarray of ``dtype``.

    The one place a chunk enters the kernels: a sparse chunk with stored zeros, duplicates
    or unsorted indices is canonicalised on a copy (:func:`._sparse.canonical_csr`); the
    chunk itself (which may be the caller's data) is never modified.
    """
    if sp.issparse(block):
        return canonical_csr(block, dtype)
    return np.ascontiguousarray(block, dtype=dtype)


def _first(item):
    return item[0]


def _rest(item):
    return item[1:]


def row_block_handles(X) -> tuple[Any, list]:
    """The active client and the row blocks of ``X``.

    With a client the blocks are computed once onto the workers (futures that stay there);
    without one they are delayed objects, recomputed on each pass.
    """
    client = active_client()
    blocks = list(X.to_delayed().ravel())
    return client, (client.compute(blocks) if client is not None else blocks)


class BlockRunner:
    """Runs a per-block function on a distributed client when one is active, else locally."""

    def __init__(self, X):
        import dask

        self.client, self.blocks = row_block_handles(X)
        self.row_sizes = list(X.chunks[0])
        self._dask = dask

    def split(self, W: np.ndarray) -> list:
        """``W`` cut into the row blocks of the data (scattered to the workers with a client)."""
        edges = np.cumsum([0, *self.row_sizes])
        parts = [W[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True)]
        if self.client is None:
            return parts
        # hash=False: equal blocks (a constant start) would otherwise share one key, and
        # releasing one block's future would lose the others' data.
        return self.client.scatter(parts, hash=False)

    def join(self, W_blocks: list) -> np.ndarray:
        """The row blocks of a factor stacked back into one array."""
        parts = self.client.gather(W_blocks) if self.client is not None else W_blocks
        return np.vstack(parts)

    def map(self, fn, W_blocks, *args):
        """Apply ``fn(block, W_b, *args)``; returns (new W handles, list of other outputs)."""
        if self.client is not None:
            shared = [
                # hash=False: an unchanged H (a fixed factor) would reuse the key of the
                # last pass's copy, which is being released, and its tasks would lose it.
                self.client.scatter(a, broadcast=True, hash=False)
                if isinstance(a, np.ndarray)
                else a
                for a in args
            ]
            outs = [
                self.client.submit(fn, b, w, *shared, pure=False)
                for b, w in zip(self.blocks, W_blocks, strict=True)
            ]
            new_W = [self.client.submit(_first, o) for o in outs]
            rest = self.client.gather([self.client.submit(_rest, o) for o in outs])
            return new_W, rest
        delayed = self._dask.delayed
        tasks = [delayed(fn)(b, w, *args) for b, w in zip(self.blocks, W_blocks, strict=True)]
        outs = self._dask.compute(*tasks)
        return [o[0] for o in outs], [o[1:] for o in outs]

    def map_values(self, fn, W_blocks, *args) -> list:
        """Apply ``fn(block, W_b, *args)`` returning a small value per block."""
        if self.client is not None:
            futures = [
                self.client.submit(fn, b, w, *args, pure=False)
                for b, w in zip(self.blocks, W_blocks, strict=True)
            ]
            return self.client.gather(futures)
        delayed = self._dask.delayed
        return list(
            self._dask.compute(
                *[delayed(fn)(b, w, *args) for b, w in zip(self.blocks, W_blocks, strict=True)]
            )
        )


def check_row_chunks(X) -> None:
    """Refuse a dask array whose genes are split over several chunks."""
    if len(X.chunks[1]) != 1:
        raise ValueError(
            "The dask array must keep all genes in one chunk (chunk along cells only): "
            "use X.rechunk({1: -1})."
        )


def map_row_blocks(X, fn, per_block: list | None = None, *shared) -> list:
    """``[fn(X_b, *per_block[b], *shared) for each row block X_b]`` computed by dask.

    Runs on the active ``dask.distributed`` client when there is one (dask's default
    scheduler), else locally; only the results travel.
    """
    import dask

    blocks = X.to_delayed().ravel()
    per_block = per_block if per_block is not None else [()] * len(blocks)
    tasks = [dask.delayed(fn)(b, *a, *shared) for b, a in zip(blocks, per_block, strict=True)]
    return list(dask.compute(*tasks))
