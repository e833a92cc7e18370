"""Regenerate ``pbmc68k_counts.h5ad`` from scanpy's bundled ``pbmc68k_reduced``.

``pbmc68k_reduced().raw.X`` holds ``log1p(counts / n_counts * 1e4)`` rounded to three
decimals, for 700 cells and 765 genes. Because ``obs['n_counts']`` (the library size
used for that normalisation) is kept, the integer UMI counts come back as
``round(expm1(raw.X) * n_counts / 1e4)``. This script recovers them, checks that the
recovery is unambiguous, and writes a gzip-compressed h5ad next to itself.

Run from anywhere::

    python datasets/make_pbmc68k_counts.py
"""

from __future__ import annotations

import argparse
import hashlib
from importlib.metadata import version
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp

SOURCE = (
    "Integer UMI counts recovered from scanpy.datasets.pbmc68k_reduced() (scanpy {version}, "
    "BSD-3-Clause) as round(expm1(raw.X) * obs['n_counts'] / 1e4); 700 cells x 765 genes "
    "(raw var_names). Original data: 10x Genomics Fresh 68k PBMCs (Donor A), "
    "Zheng et al. 2017, Nat Commun 8:14049. obs['label'] = obs['bulk_labels']."
)


def recover_counts(reduced: ad.AnnData) -> tuple[np.ndarray, dict[str, float]]:
    """Invert the log-normalisation of ``reduced.raw.X``.

    Parameters
    ----------
    reduced
        The AnnData returned by :func:`scanpy.datasets.pbmc68k_reduced`.

    Returns
    -------
    counts
        Dense float64 array of integer counts, cells × raw genes.
    checks
        Diagnostics: ``max_int_deviation`` (largest distance of the unrounded values
        from an integer), ``max_rel_deviation`` (the same relative to the value),
        ``n_mismatch`` (entries whose re-normalised, 3-decimal-rounded log value differs
        from ``raw.X``; expected only at exact rounding ties) and ``n_ambiguous`` (entries
        where a neighbouring integer would reproduce ``raw.X`` too; must be 0).
    """
    logx = reduced.raw.X
    logx = logx.toarray() if sp.issparse(logx) else np.asarray(logx)
    logx64 = logx.astype(np.float64)
    size = reduced.obs["n_counts"].to_numpy(dtype=np.float64)[:, None]
    approx = np.expm1(logx64) * size / 1e4
    counts = np.round(approx)
    deviation = np.abs(approx - counts)

    def renormalise(values: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.round(np.log1p(values * 1e4 / size), 3).astype(logx.dtype)

    positive = counts > 0
    n_ambiguous = 0
    for step in (-1.0, 1.0):
        n_ambiguous += int(np.sum((renormalise(counts + step) == logx) & positive))
    checks = {
        "max_int_deviation": float(deviation.max()),
        "max_rel_deviation": float((deviation / np.maximum(approx, 1.0)).max()),
        "n_mismatch": int(np.sum(renormalise(counts) != logx)),
        "n_ambiguous": n_ambiguous,
    }
    return counts, checks


def build() -> tuple[ad.AnnData, dict[str, float]]:
    """Build the counts AnnData from scanpy's bundled data.

    Returns
    -------
    adata
        700 × 765 AnnData with float32 CSR counts and the kept ``obs`` columns.
    checks
        Diagnostics from :func:`recover_counts`.
    """
    reduced = sc.datasets.pbmc68k_reduced()
    counts, checks = recover_counts(reduced)
    if checks["n_ambiguous"] or checks["max_int_deviation"] >= 0.5:
        raise RuntimeError(f"count recovery is not unambiguous: {checks}")
    obs = pd.DataFrame(index=reduced.obs_names.copy())
    obs["label"] = pd.Categorical(reduced.obs["bulk_labels"].astype(str))
    for key in ("bulk_labels", "n_counts", "louvain", "phase"):
        obs[key] = reduced.obs[key].copy()
    var = pd.DataFrame(index=reduced.raw.var_names.copy())
    adata = ad.AnnData(sp.csr_matrix(counts.astype(np.float32)), obs=obs, var=var)
    adata.uns["source"] = SOURCE.format(version=version("scanpy"))
    return adata, checks


def main() -> None:
    """Write the file and print its diagnostics and md5."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "-o", "--out", type=Path, default=Path(__file__).with_name("pbmc68k_counts.h5ad")
    )
    args = parser.parse_args()
    adata, checks = build()
    adata.write_h5ad(args.out, compression="gzip")
    md5 = hashlib.md5(args.out.read_bytes()).hexdigest()
    print(f"{adata.n_obs} x {adata.n_vars}, nnz {adata.X.nnz}, checks {checks}")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes), md5 {md5}")


if __name__ == "__main__":
    main()
