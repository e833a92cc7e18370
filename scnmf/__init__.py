"""scnmf: nonnegative matrix factorisation for single-cell RNA-seq, as a scanpy plugin.

Submodules are loaded on first access so that ``import scnmf as snmf`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_SUBMODULES = ("tl", "pl", "get", "datasets", "metrics")

if TYPE_CHECKING:  # pragma: no cover
    from . import datasets, get, metrics, pl, tl


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'scnmf' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULES])


__all__ = ["tl", "pl", "get", "datasets", "metrics", "__version__"]
