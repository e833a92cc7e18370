"""Bundled real data (top-level ``datasets/`` folder) and synthetic generators."""

from ._files import pbmc68k_counts
from ._synthetic import synthetic_counts

__all__ = ["pbmc68k_counts", "synthetic_counts"]
