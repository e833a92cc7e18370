"""Writing results to disk: an atomic ``.h5ad`` writer (used by the CLI and the demo)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # anndata is imported by the caller; the CLI starts without it
    from anndata import AnnData


def write_h5ad_atomic(adata: AnnData, path: str | os.PathLike, force: bool) -> None:
    """Write ``adata`` to ``path`` so that no half-written file is ever left there.

    The file is written next to ``path`` under a temporary name and renamed into place
    (``os.replace`` is atomic on one file system); an interrupted write leaves no file.

    Parameters
    ----------
    adata
        What to write.
    path
        Target ``.h5ad`` file; its folder is created when missing.
    force
        Overwrite an existing file (else ``FileExistsError``).
    """
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force to overwrite it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".h5ad.part", dir=path.parent)
    os.close(fd)
    try:
        adata.write_h5ad(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
