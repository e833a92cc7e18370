"""Plotting: reads only what ``tl`` functions stored; returns Axes/Figure like scanpy."""

from ._loadings import loadings, loss

__all__ = ["loadings", "loss"]
