"""What layer 1 of deep β-NMF borrows from the NMF engine (:mod:`scnmf._core.nmf`).

The multilayer initialisation and the layer-1 β-MU terms are the engine's own: the
in-memory MU and its terms (numpy/numba), the MU loop on the torch terms, the dask solver's
block-wise MU steps, the β-divergence and the stopping rule. This module is the only place
in :mod:`scnmf._core.deep` that imports from :mod:`scnmf._core.nmf`, so the engine can
change shape behind it.
"""

from __future__ import annotations

from ..nmf import mu
from ..nmf.beta import beta_divergence
from ..nmf.loop import alternate
from ..nmf.mu import mu_loop
from ..nmf.ops_dask import dask_mu_steps
from ..nmf.ops_numpy import make_ops
from ..nmf.ops_torch import make_torch_ops
from ..nmf.result import has_converged

__all__ = [
    "alternate",
    "beta_divergence",
    "dask_mu_steps",
    "has_converged",
    "make_ops",
    "make_torch_ops",
    "mu",
    "mu_loop",
]
