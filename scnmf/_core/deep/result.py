"""Results of deep and multilayer β-NMF (genes × cells orientation) and the progress callback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

#: ``callback(phase, step, value)``; ``phase`` is ``'init'`` (layer-1 iterations of the
#: multilayer initialisation, value = layer-1 error), ``'sweep'`` (value = objective) or
#: ``'baseline'``. Returning ``True`` during ``'sweep'`` stops the outer loop.
DeepCallback = Callable[[str, int, float], bool | None]


def activities(H: list[np.ndarray], layer: int) -> np.ndarray:
    """Cell activities of ``layer`` (1-based) from the factors ``H``: ``H_ℓ … H_1``."""
    out = H[0]
    for factor in H[1:layer]:
        out = factor @ out
    return out


@dataclass
class MultilayerResult:
    """Plain multilayer β-NMF: each layer factorised on its own, one after the other."""

    W: list[np.ndarray]
    H: list[np.ndarray]
    errors: np.ndarray

    def activities(self, layer: int) -> np.ndarray:
        """Cell activities of ``layer`` (1-based): ``H_ℓ … H_1``, r_ℓ × cells."""
        return activities(self.H, layer)


@dataclass
class DeepNMFResult:
    """Factors and records of a deep β-NMF fit (genes × cells orientation).

    Attributes
    ----------
    W
        Gene programs per layer, ``W[ℓ−1]`` genes × r_ℓ.
    H
        ``H[0]`` r_1 × cells (layer-1 cell activities); ``H[ℓ−1]`` r_ℓ × r_{ℓ−1}.
    errors
        Final unweighted D_β(W_{ℓ−1} | W_ℓ H_ℓ) per layer, shape (L,).
    init_errors
        The same at the multilayer initialisation.
    lambdas
        Layer weights λ_ℓ = 1 / init_errors[ℓ].
    alphas
        Volume weights α_ℓ (zeros for Algorithm 1).
    loss
        Objective after the initialisation and after each sweep, length ``n_iter + 1``.
    layer_loss
        Unweighted per-layer errors at the same points, shape (n_iter + 1, L).
    n_iter
        Completed sweeps.
    converged
        Whether the relative-tolerance rule stopped the loop.
    device
        Where layer 1 ran: ``'cpu'`` (numpy/numba), ``'dask'``, or the torch device
        (``'cuda'``, ``'cuda:1'``, ``'torch:cpu'``).
    block_loss
        Objective after every block update (only with ``monitor_blocks=True``).
    multilayer_errors
        Per-layer errors of the multilayer baseline with the same iteration budget per layer
        (only with ``baseline=True``).
    multilayer
        That baseline's factors (only with ``baseline=True``).
    extra
        Algorithm-specific records (e.g. ADMM iterations, rejected ADMM steps).
    """

    W: list[np.ndarray]
    H: list[np.ndarray]
    errors: np.ndarray
    init_errors: np.ndarray
    lambdas: np.ndarray
    alphas: np.ndarray
    loss: np.ndarray
    layer_loss: np.ndarray
    n_iter: int
    converged: bool
    device: str = "cpu"
    block_loss: np.ndarray | None = None
    multilayer_errors: np.ndarray | None = None
    multilayer: MultilayerResult | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def activities(self, layer: int) -> np.ndarray:
        """Cell activities of ``layer`` (1-based): ``H_ℓ … H_1``, r_ℓ × cells."""
        return activities(self.H, layer)
