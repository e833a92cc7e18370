"""Tools: AnnData in, results stored in AnnData (scanpy's ``tl`` convention)."""

from ._deep_nmf import deep_nmf
from ._gnmf import gnmf
from ._nmf import nmf
from ._persistence import persistence
from ._pnmf import pnmf

__all__ = ["deep_nmf", "gnmf", "nmf", "persistence", "pnmf"]
