"""Scale benchmark: persistence + pNMF with 8 scales on generated counts.

    python benchmarks/pnmf_scale.py --n-cells 100000 --n-genes 2000 -k 20

Generated scRNA-like counts (``scnmf.datasets.synthetic_counts``), log1p of
library-normalised counts as X (CSR, float32), PCA (50) as the distance representation;
prints wall time per stage and the process's peak resident memory (``--out`` also writes
the summary and table to a file).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import scanpy as sc
from _common import EchoRows, machine, markdown_table, peak_rss_gib, quiet

import scnmf as snmf


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n-cells", type=int, default=100_000)
    p.add_argument("--n-genes", type=int, default=2000)
    p.add_argument("-k", type=int, default=20)
    p.add_argument("--n-scales", type=int, default=8)
    p.add_argument("--n-sweeps", type=int, default=3)
    p.add_argument("--max-inner-iter", type=int, default=30)
    p.add_argument("--density", type=float, default=0.1)
    p.add_argument("--data-dir", default=None, help="unused (generated data); for symmetry")
    p.add_argument("--out", default=None, help="also write the summary and table to this file")
    args = p.parse_args()
    quiet()

    rows = EchoRows()

    t0 = time.perf_counter()
    adata = snmf.datasets.synthetic_counts(
        args.n_cells, args.n_genes, n_programs=args.k, density=args.density, random_state=0
    )
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    rows.append(
        ["generate + normalise", f"{time.perf_counter() - t0:.2f}", f"{peak_rss_gib():.2f}"]
    )
    t0 = time.perf_counter()
    sc.pp.pca(adata, n_comps=50, random_state=0)
    rows.append(["PCA (50)", f"{time.perf_counter() - t0:.2f}", f"{peak_rss_gib():.2f}"])
    t0 = time.perf_counter()
    snmf.tl.persistence(adata, n_scales=args.n_scales)
    rows.append(["tl.persistence", f"{time.perf_counter() - t0:.2f}", f"{peak_rss_gib():.2f}"])
    t0 = time.perf_counter()
    snmf.tl.pnmf(
        adata, args.k, n_sweeps=args.n_sweeps, max_inner_iter=args.max_inner_iter, inner_tol=1e-3
    )
    rows.append(["tl.pnmf", f"{time.perf_counter() - t0:.2f}", f"{peak_rss_gib():.2f}"])
    rec = adata.uns["pnmf"]
    beta0 = adata.uns["persistence"]["n_components"].tolist()
    summary = (
        f"machine: {machine()}\n"
        f"{adata.n_obs} cells × {adata.n_vars} genes, nnz {adata.X.nnz:,}, k = {args.k}, "
        f"T = {rec['scales'].size} scales (β0 {beta0}), "
        f"{args.n_sweeps} sweeps, ≤ {args.max_inner_iter} inner iterations, "
        f"{int(np.sum(rec['n_inner_iter']))} inner iterations run, "
        f"{adata.uns['persistence']['params']['n_candidate_edges']:,} candidate edges\n"
        + markdown_table(["stage", "wall s", "peak RSS GiB (cumulative)"], rows)
    )
    print(summary)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(summary + "\n")


if __name__ == "__main__":
    main()
