"""Tools: AnnData in, results stored in AnnData (scanpy's ``tl`` convention)."""

from ._nmf import nmf

__all__ = ["nmf"]
