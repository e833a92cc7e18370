"""Array namespaces for the deep-NMF steps written once (:mod:`.hsteps`, :mod:`.factor`).

An in-memory backend supplies one of these: :data:`NUMPY` for host arrays (and, on the
dask backend, for every block and for the driver's r-vectors) or :class:`TorchOps` for
tensors on a torch device. They cover only what the H-steps use: floors, row reductions,
masks of active rows and the moves between the backend and host numpy.
"""

from __future__ import annotations

import numpy as np

#: Floor on the factors (float64 machine epsilon, as the reference code).
FLOOR = float(np.finfo(np.float64).eps)
#: Smallest positive float64: keeps divisions finite without moving any representable value.
TINY = float(np.finfo(np.float64).tiny)


class NumpyOps:
    """numpy arrays (host memory)."""

    where = staticmethod(np.where)
    sqrt = staticmethod(np.sqrt)
    abs = staticmethod(np.abs)
    flatnonzero = staticmethod(np.flatnonzero)

    @staticmethod
    def floor(a: np.ndarray, lo: float) -> np.ndarray:
        """``max(a, lo)`` as a new array."""
        return np.maximum(a, lo)

    @staticmethod
    def floor_(a: np.ndarray, lo: float) -> np.ndarray:
        """``max(a, lo)`` in place (``a`` must be a fresh array); returns ``a``."""
        return np.maximum(a, lo, out=a)

    @staticmethod
    def row_sum(a: np.ndarray) -> np.ndarray:
        return a.sum(axis=1)

    @staticmethod
    def row_min(a: np.ndarray) -> np.ndarray:
        return np.min(a, axis=1)

    @staticmethod
    def row_argmin_take(a: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
        """Per row, the entry of each array at ``argmin`` of that row of ``a``."""
        j = np.argmin(a, axis=1)
        rows = np.arange(a.shape[0])
        return tuple(x[rows, j] for x in (a, *others))

    @staticmethod
    def expand(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """``a`` broadcast to ``shape`` (a view)."""
        return np.broadcast_to(a, shape)

    @staticmethod
    def ones_mask(like: np.ndarray) -> np.ndarray:
        return np.ones(like.shape, dtype=bool)

    @staticmethod
    def size(a: np.ndarray) -> int:
        return int(a.size)

    @staticmethod
    def vector(values: np.ndarray) -> np.ndarray:
        """A host float64 vector on this backend (nothing to move)."""
        return np.asarray(values)

    @staticmethod
    def to_numpy(a: np.ndarray) -> np.ndarray:
        """``a`` as host numpy (the array itself: callers never modify it in place)."""
        return a

    @staticmethod
    def engine_factor(a) -> np.ndarray:
        """``max(aᵀ, ε)`` in float64: an engine factor turned into a deep-NMF factor."""
        return np.maximum(np.asarray(a, dtype=np.float64).T, FLOOR)


#: The namespace of host arrays.
NUMPY = NumpyOps()


class TorchOps:
    """torch tensors on one device.

    Parameters
    ----------
    device
        A resolved torch device name (``'cpu'``, ``'cuda'``, ``'cuda:1'``).
    """

    def __init__(self, device: str):
        import torch

        self.torch = torch
        self.device = device

    def where(self, cond, a, b):
        return self.torch.where(cond, a, b)

    def sqrt(self, a):
        return self.torch.sqrt(a)

    def abs(self, a):
        return a.abs()

    def flatnonzero(self, mask):
        return self.torch.nonzero(mask).flatten()

    def floor(self, a, lo: float):
        return a.clamp(min=lo)

    def floor_(self, a, lo: float):
        return a.clamp_(min=lo)

    def row_sum(self, a):
        return a.sum(dim=1)

    def row_min(self, a):
        return self.torch.amin(a, dim=1)

    def row_argmin_take(self, a, *others):
        j = self.torch.argmin(a, dim=1)
        rows = self.torch.arange(a.shape[0], device=a.device)
        return tuple(x[rows, j] for x in (a, *others))

    def expand(self, a, shape):
        return a.expand(shape)

    def ones_mask(self, like):
        return self.torch.ones(like.shape, dtype=self.torch.bool, device=like.device)

    def size(self, a) -> int:
        return int(a.numel())

    def vector(self, values: np.ndarray):
        """A host float64 vector moved to the device."""
        return self.torch.as_tensor(
            np.ascontiguousarray(values), dtype=self.torch.float64, device=self.device
        )

    def to_numpy(self, a) -> np.ndarray:
        """A float64 host copy of a tensor."""
        return np.array(a.detach().cpu().numpy(), dtype=np.float64)

    def engine_factor(self, a):
        """``max(aᵀ, ε)`` in float64 (contiguous, on the device)."""
        return a.T.to(self.torch.float64).clamp(min=FLOOR).contiguous()
