"""Plotting: reads only what ``tl`` functions stored; returns Axes/Figure like scanpy."""

from ._activities import activities, programs_by_group
from ._consensus import consensus_clustergram, k_selection
from ._hierarchy import deep_hierarchy, layer_errors
from ._loadings import loadings, loss
from ._persistence import barcode, persistence, persistence_diagram
from ._scales import scale_path

__all__ = [
    "activities",
    "barcode",
    "consensus_clustergram",
    "deep_hierarchy",
    "k_selection",
    "layer_errors",
    "loadings",
    "loss",
    "persistence",
    "persistence_diagram",
    "programs_by_group",
    "scale_path",
]
