"""Plotting: reads only what ``tl`` functions stored; returns Axes/Figure like scanpy."""

from ._hierarchy import deep_hierarchy, layer_errors
from ._loadings import loadings, loss
from ._persistence import barcode, persistence_diagram
from ._scales import scale_path

__all__ = [
    "barcode",
    "deep_hierarchy",
    "layer_errors",
    "loadings",
    "loss",
    "persistence_diagram",
    "scale_path",
]
