"""Loaders for data files: the bundled ``datasets/`` folder and user-supplied labelled sets."""

from __future__ import annotations

import os
from pathlib import Path

import anndata as ad

DATA_DIR_ENV = "SCNMF_DATA_DIR"

_HERE = Path(__file__).resolve()
#: Wheel install: pyproject force-includes the top-level ``datasets/`` as ``scnmf/_bundled``.
#: Editable install / source checkout: ``datasets/`` sits next to the ``scnmf/`` package.
_SEARCH = (_HERE.parents[1] / "_bundled", _HERE.parents[2] / "datasets")


def bundled_path(name: str) -> Path:
    """Locate a file shipped in the project's ``datasets/`` folder.

    Parameters
    ----------
    name
        File name, e.g. ``"pbmc68k_counts.h5ad"``.

    Returns
    -------
    pathlib.Path
        Path of the first existing candidate: ``scnmf/_bundled/<name>`` (wheel install),
        then ``<repo>/datasets/<name>`` (editable install or source checkout).

    Raises
    ------
    FileNotFoundError
        If the file is in neither place.
    """
    for folder in _SEARCH:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(folder / name) for folder in _SEARCH)
    raise FileNotFoundError(
        f"Bundled data file {name!r} not found (looked in: {tried}). It ships in the "
        "scnmf wheel and in the repository's top-level datasets/ folder; reinstall scnmf "
        "or regenerate it with datasets/make_pbmc68k_counts.py."
    )


def pbmc68k_counts() -> ad.AnnData:
    """700 PBMCs × 765 genes of integer UMI counts with 10 labelled cell types.

    Counts are recovered exactly from scanpy's bundled ``pbmc68k_reduced`` as
    ``round(expm1(raw.X) * obs['n_counts'] / 1e4)``; see ``datasets/PROVENANCE.md``.

    Returns
    -------
    anndata.AnnData
        ``X``: float32 CSR counts (700 × 765, raw var_names); ``obs['label']``: categorical
        cell type (= ``bulk_labels``); also ``obs['bulk_labels']``, ``obs['n_counts']``
        (library size over all genes, before gene filtering), ``obs['louvain']``,
        ``obs['phase']``; ``uns['source']``: provenance string.

    Examples
    --------
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.pbmc68k_counts()
    >>> adata.shape
    (700, 765)
    """
    return ad.read_h5ad(bundled_path("pbmc68k_counts.h5ad"))


def resolve_data_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the folder holding the (never shipped) labelled data sets.

    Parameters
    ----------
    path
        Explicit folder; when ``None`` the environment variable ``SCNMF_DATA_DIR`` is used.

    Returns
    -------
    pathlib.Path
        The folder, which exists.

    Raises
    ------
    FileNotFoundError
        If no folder is given and ``SCNMF_DATA_DIR`` is unset or empty, or the folder does
        not exist.
    """
    if path is None:
        path = os.environ.get(DATA_DIR_ENV) or None
        if path is None:
            raise FileNotFoundError(
                f"No data folder given and the environment variable {DATA_DIR_ENV} is not "
                f"set. Pass data_dir=... or set {DATA_DIR_ENV} to the folder holding the "
                "labelled .h5ad files."
            )
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"Data folder {str(folder)!r} does not exist.")
    return folder


def labelled(name: str, data_dir: str | os.PathLike[str] | None = None) -> ad.AnnData:
    """Read a labelled single-cell set ``<data_dir>/<name>.h5ad``.

    These sets (e.g. ``pbmc_facs400``, ``pbmc3k_labelled``, ``mouse_bladder2100``,
    ``pbmc4k_top2000``) are not shipped with scnmf; point to them with ``data_dir`` or
    the environment variable ``SCNMF_DATA_DIR``.

    Parameters
    ----------
    name
        Data set name, with or without the ``.h5ad`` suffix.
    data_dir
        Folder holding the files; defaults to ``$SCNMF_DATA_DIR``.

    Returns
    -------
    anndata.AnnData
        Cells × genes with raw counts in ``X`` and cell types in ``obs['label']``.

    Raises
    ------
    FileNotFoundError
        If the folder cannot be resolved (see :func:`resolve_data_dir`) or the file is missing.
    """
    folder = resolve_data_dir(data_dir)
    stem = name[: -len(".h5ad")] if name.endswith(".h5ad") else name
    path = folder / f"{stem}.h5ad"
    if not path.is_file():
        available = sorted(p.stem for p in folder.glob("*.h5ad"))
        raise FileNotFoundError(
            f"No data set {stem!r} in {str(folder)!r}; available: {available or 'none'}."
        )
    return ad.read_h5ad(path)
