"""Regenerate ``pbmc68k_programs.npz``: 20 gene programs learned on the bundled PBMC counts.

KL-NMF (scnmf's multiplicative updates, β = 1, NNDSVDa initialisation with seed 0, 500
iterations, no early stop) of the 700 × 765 integer UMI counts in ``pbmc68k_counts.h5ad``.
Each program is scaled to sum to one and the programs are ordered by their total activity
over the cells (largest first), so the first ``k`` are the ``k`` most used. The file holds
``programs`` (20 × 765 float32) and ``genes`` (the 765 gene symbols). It feeds
``scnmf.datasets.correlated_programs``.

Run from the repository root::

    python datasets/make_pbmc68k_programs.py
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from scnmf._core.nmf.init import initialize
from scnmf._core.nmf.mu import mu
from scnmf.datasets import pbmc68k_counts

N_PROGRAMS = 20
N_ITER = 500
OUT = Path(__file__).resolve().parent / "pbmc68k_programs.npz"


def main() -> None:
    """Learn the programs and write the file."""
    counts = pbmc68k_counts()
    X = sp.csr_matrix(counts.X, dtype=np.float64)
    W, H = initialize(X, N_PROGRAMS, init="nndsvda", random_state=0)
    result = mu(X, W, H, beta=1.0, max_iter=N_ITER, tol=0.0)
    scale = result.H.sum(axis=1)
    programs = result.H / scale[:, None]
    usage = (result.W * scale[None, :]).sum(axis=0)
    order = np.argsort(-usage, kind="stable")
    np.savez_compressed(
        OUT,
        programs=programs[order].astype(np.float32),
        genes=np.asarray(counts.var_names, dtype=str),
    )
    digest = hashlib.md5(OUT.read_bytes()).hexdigest()
    print(f"wrote {OUT.name}: {N_PROGRAMS} programs x {X.shape[1]} genes, md5 {digest}")


if __name__ == "__main__":
    main()
