"""Consensus NMF (cNMF): replicate fits batched on the engine, their consensus, choosing k."""

from .fit import fit_consensus, select_k
from .result import ConsensusFit, ReplicateSet

__all__ = ["ConsensusFit", "ReplicateSet", "fit_consensus", "select_k"]
