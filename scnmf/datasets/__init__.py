"""Bundled real data (top-level ``datasets/`` folder) and synthetic generators."""

from ._circles import concentric_circles
from ._correlated import correlated_programs
from ._files import pbmc68k_counts
from ._hierarchy import two_level_hierarchy
from ._synthetic import synthetic_counts

__all__ = [
    "concentric_circles",
    "correlated_programs",
    "pbmc68k_counts",
    "synthetic_counts",
    "two_level_hierarchy",
]
