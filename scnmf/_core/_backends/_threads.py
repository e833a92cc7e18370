"""Keep BLAS from competing with the numba kernels for the same cores."""

from __future__ import annotations

import contextlib

import scipy.sparse as sp


def single_threaded_blas(X):
    """Limit BLAS to one thread while a sparse fit runs; a no-op for dense data.

    With sparse data the heavy work is in the parallel numba kernels and the BLAS calls are
    small (k × k Gram matrices, n × k by k × k products). A multi-threaded BLAS then spins
    its idle threads between calls and takes cores from the numba threads: on two cores
    this doubled the time per HALS iteration. Dense data keeps BLAS threads, since its
    products are BLAS.
    """
    if not sp.issparse(X):
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
