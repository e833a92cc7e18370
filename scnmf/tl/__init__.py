"""Tools: AnnData in, results stored in AnnData (scanpy's ``tl`` convention)."""

from ._consensus import consensus_nmf
from ._deep_nmf import deep_nmf
from ._gnmf import gnmf
from ._nmf import nmf
from ._persistence import persistence
from ._pnmf import pnmf
from ._programs import rename_programs
from ._project import project

__all__ = [
    "consensus_nmf",
    "deep_nmf",
    "gnmf",
    "nmf",
    "persistence",
    "pnmf",
    "project",
    "rename_programs",
]
