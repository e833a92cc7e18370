"""Deep β-NMF (Leplat et al. 2024): one entry, :func:`fit_deep`, which picks the backend once.

Orientation: genes × cells (the paper's). Layout: :mod:`.fit` (the entries),
:mod:`.sweeps` (the block-MM sweeps), :mod:`.multilayer` (initialisation and baseline),
:mod:`.hsteps` and :mod:`.updates` (the H- and W-steps, written once), :mod:`.minvol`
(Algorithm 2's W-step), :mod:`.factor` (the layer-1 backend interface), :mod:`.backend`
(the choice), :mod:`.layers_host`, :mod:`.layers_torch`, :mod:`.layers_dask` (the
backends), :mod:`.xp` (array namespaces), :mod:`.engine` (what comes from the NMF engine).
"""

from .fit import fit_deep, multilayer_nmf
from .result import DeepCallback, DeepNMFResult, MultilayerResult
from .updates import SUPPORTED_BETAS

__all__ = [
    "SUPPORTED_BETAS",
    "DeepCallback",
    "DeepNMFResult",
    "MultilayerResult",
    "fit_deep",
    "multilayer_nmf",
]
