"""The one place a backend is chosen: dask array or in memory, then the device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._threads import check_fork_safe
from .dask import is_dask
from .torch import resolve_device

BackendKind = Literal["numba", "torch", "dask"]


@dataclass(frozen=True)
class Backend:
    """Where a fit runs: ``numba`` (CPU engine), ``torch`` on ``device``, or ``dask``."""

    kind: BackendKind
    device: str | None = None

    @property
    def name(self) -> str:
        """What ``params['device']`` records: ``'cpu'``, the torch device, or ``'dask'``."""
        if self.kind == "numba":
            return "cpu"
        if self.kind == "dask":
            return "dask"
        return str(self.device)


def choose_backend(X, device: str | Backend = "auto") -> Backend:
    """A dask array runs on dask; otherwise ``device`` decides (``'auto'``: a GPU if visible).

    ``'cpu'`` is the numba engine; any CUDA device is torch. A :class:`Backend` passes
    through unchanged, which is how tests run the torch backend on torch's CPU build
    (``Backend('torch', 'cpu')``). Refuses to start, with the fix, in a forked child where
    numba's kernels would kill the process (:func:`._threads.check_fork_safe`).
    """
    check_fork_safe()
    if isinstance(device, Backend):
        return device
    if is_dask(X):
        return Backend("dask")
    resolved = resolve_device(device)
    return Backend("numba") if resolved == "cpu" else Backend("torch", resolved)
