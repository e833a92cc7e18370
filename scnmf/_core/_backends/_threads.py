"""Threads: a fork-safe numba threading layer, and BLAS kept off the numba kernels' cores.

Numba picks its threading layer once per process, when the first ``parallel=True`` function
runs, in the order TBB, OpenMP, workqueue (or as ``NUMBA_THREADING_LAYER`` /
``numba.config.THREADING_LAYER`` say). GNU OpenMP cannot run again in a ``fork()``ed child
(numba kills the child: "fork() called from a process already using GNU OpenMP"), and the
workqueue layer kills the process when two threads launch kernels at once (dask's local
scheduler does). TBB is safe for both, but a pip-installed TBB sits in ``<prefix>/lib``,
where the dynamic loader does not look, so numba does not find it. :func:`use_fork_safe_layer`
(run when this module is imported, which every path to the kernels does: ``tl``, ``_core``)
loads that library, so numba's own default picks TBB; a user's explicit choice is left
alone. Without TBB, :func:`check_fork_safe` turns the child's abort into an error that says
what to do.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

#: Why the current process cannot run the numba kernels (set in a child forked after GNU
#: OpenMP ran), or ``None``.
_FORK_PROBLEM: str | None = None
_TBB_LIBRARY = {"linux": "libtbb.so.12", "darwin": "libtbb.12.dylib", "win32": "tbb12.dll"}


def _user_chose_layer() -> bool:
    """Whether the user set numba's threading layer (environment or ``numba.config``)."""
    if os.environ.get("NUMBA_THREADING_LAYER", "").strip():
        return True
    numba = sys.modules.get("numba")
    config = getattr(numba, "config", None)
    return config is not None and getattr(config, "THREADING_LAYER", "default") != "default"


def active_layer() -> str | None:
    """The threading layer numba launched in this process, or ``None`` if none yet."""
    if "numba" not in sys.modules:
        return None
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel function has run yet
        return None


def _load_pip_tbb() -> bool:
    """Load the TBB shipped by the ``tbb`` wheel (its ``lib/`` is not on the loader path)."""
    import ctypes
    from importlib import metadata

    name = _TBB_LIBRARY.get(sys.platform)
    if name is None:
        return False
    try:
        ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)  # already findable (system or conda TBB)
        return True
    except OSError:
        pass
    try:
        files = metadata.distribution("tbb").files or []
    except metadata.PackageNotFoundError:
        return False
    for file in files:
        if file.name == name:
            try:
                ctypes.CDLL(str(file.locate()), mode=ctypes.RTLD_GLOBAL)
                return True
            except OSError:
                return False
    return False


def use_fork_safe_layer() -> str:
    """Let numba choose TBB (fork- and thread-safe) when it is installed; say what happened.

    Returns ``'user'`` (the user chose a layer: left alone), ``'started'`` (numba's threads
    already run: too late to choose), ``'tbb'`` (TBB loaded, numba's default will pick it)
    or ``'default'`` (no TBB: numba's default, OpenMP, and :func:`check_fork_safe` guards a
    forked child). Never raises.
    """
    if _user_chose_layer():
        return "user"
    if active_layer() is not None:
        return "started"
    try:
        return "tbb" if _load_pip_tbb() else "default"
    except Exception:  # noqa: BLE001 - a broken optional library must not break the import
        return "default"


def _gnu_openmp() -> bool:
    """Whether numba's OpenMP layer is GNU's (the one that cannot run after ``fork()``)."""
    try:
        from numba.np.ufunc import omppool
    except ImportError:
        return False
    return getattr(omppool, "openmp_vendor", "GNU") == "GNU"


def _after_fork_in_child() -> None:
    global _FORK_PROBLEM
    if active_layer() == "omp" and _gnu_openmp():
        _FORK_PROBLEM = (
            "This process was fork()ed from one whose numba kernels already ran on GNU "
            "OpenMP threads, which cannot run again in a forked child. Start the workers "
            "with multiprocessing.get_context('spawn') or 'forkserver', or install TBB "
            "(pip install tbb) and leave NUMBA_THREADING_LAYER unset (or set it to 'tbb') "
            "so that scnmf can use a fork-safe threading layer."
        )


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

#: What :func:`use_fork_safe_layer` did when scnmf's kernels were first imported.
LAYER_CHOICE = use_fork_safe_layer()


def check_fork_safe() -> None:
    """Raise ``RuntimeError`` with the fix where numba's kernels would kill this process."""
    if _FORK_PROBLEM is not None:
        raise RuntimeError(_FORK_PROBLEM)


_BLAS_LOCK = threading.Lock()
_BLAS_USERS = 0
_BLAS_LIMITER = None


@contextlib.contextmanager
def _one_blas_thread():
    """BLAS limited to one thread while any fit in this process needs it (reference-counted).

    threadpoolctl's limits are process-wide: with two fits in two threads, the first to end
    would otherwise lift the limit under the other.
    """
    global _BLAS_USERS, _BLAS_LIMITER
    from threadpoolctl import threadpool_limits

    with _BLAS_LOCK:
        if _BLAS_USERS == 0:
            _BLAS_LIMITER = threadpool_limits(limits=1, user_api="blas")
        _BLAS_USERS += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_USERS -= 1
            if _BLAS_USERS == 0 and _BLAS_LIMITER is not None:
                _BLAS_LIMITER.restore_original_limits()
                _BLAS_LIMITER = None


def single_threaded_blas(X):
    """Limit BLAS to one thread while a sparse fit runs; a no-op for dense data.

    With sparse data the heavy work is in the parallel numba kernels and the BLAS calls are
    small (k × k Gram matrices, n × k by k × k products). A multi-threaded BLAS then spins
    its idle threads between calls and takes cores from the numba threads: on two cores
    this doubled the time per HALS iteration. Dense data keeps BLAS threads, since its
    products are BLAS. Every in-memory fit enters this first, so it also refuses to start
    in a forked child that numba would kill (:func:`check_fork_safe`).
    """
    import scipy.sparse as sp

    check_fork_safe()
    if not sp.issparse(X):
        return contextlib.nullcontext()
    return _one_blas_thread()
