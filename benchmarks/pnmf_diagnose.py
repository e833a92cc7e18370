"""Why pNMF does not beat GNMF here: graph diagnostics per scale and λ sweeps.

    python benchmarks/pnmf_diagnose.py --data-dir DIR --sets pbmc_facs400 pbmc3k_labelled -k 10

Same input and scoring as ``pnmf_reproduce.py``. For each set it prints

1. per canonical scale: β0, edges, mean weighted degree and *label homophily* (share of edge
   weight joining two cells of the same label) of the ε-graph, next to GNMF's kNN graph;
2. ARI at the finest scale, at the label-chosen best scale and at the scale picked by the
   label-free stability rule (``scnmf.tl.pnmf``'s ``reference_scale='stable'``), for a grid
   of λ1 (graph) and λ2 (cross-scale) values.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scanpy as sc
from _common import machine, markdown_table
from pnmf_reproduce import SEEDS, load, preprocess

import scnmf as snmf
from scnmf._core.graph.laplacian import epsilon_graph, knn_graph
from scnmf._core.pnmf.scale_choice import stable_scale
from scnmf.metrics._clustering import kmeans_agreement
from scnmf.tl._persistence import cell_edges


def homophily(A, labels: np.ndarray) -> float:
    A = A.tocoo()
    if A.nnz == 0:
        return float("nan")
    same = labels[A.row] == labels[A.col]
    return float(A.data[same].sum() / A.data.sum())


def graph_table(adata, labels):
    rec = adata.uns["persistence"]
    edges, _ = cell_edges(adata, rec["params"])
    rows = []
    for t, (eps, b0) in enumerate(zip(rec["scales"], rec["n_components"], strict=True)):
        A = epsilon_graph(edges, float(eps))
        deg = np.asarray(A.sum(axis=1)).ravel()
        rows.append(
            [
                f"t={t + 1}",
                str(int(b0)),
                f"{A.nnz // 2:,}",
                f"{deg.mean():.2f}",
                f"{homophily(A, labels):.3f}",
            ]
        )
    A = knn_graph(np.asarray(adata.X.toarray()), 5)
    A = A.maximum(A.T)
    deg = np.asarray(A.sum(axis=1)).ravel()
    rows.append(
        ["GNMF kNN5", "-", f"{A.nnz // 2:,}", f"{deg.mean():.2f}", f"{homophily(A, labels):.3f}"]
    )
    return markdown_table(["scale", "β0", "edges", "mean degree", "label homophily"], rows)


def sweep(adata, labels, k, grid, n_sweeps):
    rows = []
    for lam1, lam2 in grid:
        t0 = time.perf_counter()
        snmf.tl.pnmf(adata, k, lambda_graph=lam1, lambda_scale=lam2, n_sweeps=n_sweeps)
        elapsed = time.perf_counter() - t0
        emb = adata.obsm["X_pnmf_scales"]
        aris = [
            kmeans_agreement(emb[:, t], labels, seeds=SEEDS)["ARI"] for t in range(emb.shape[1])
        ]
        stable, _ = stable_scale(emb, n_clusters=len(np.unique(labels)))
        best = int(np.argmax(aris))
        rows.append(
            [
                f"{lam1:g}",
                f"{lam2:g}",
                f"{aris[0]:.3f}",
                f"{aris[best]:.3f} (t={best + 1})",
                f"{aris[stable]:.3f} (t={stable + 1})",
                " ".join(f"{a:.2f}" for a in aris),
                f"{elapsed:.0f}",
            ]
        )
    header = ["λ1", "λ2", "ARI t=1", "ARI best t", "ARI stable t", "ARI per scale", "s"]
    return markdown_table(header, rows)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--sets", nargs="+", default=["pbmc68k_reduced", "pbmc_facs400"])
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--n-sweeps", type=int, default=10)
    p.add_argument(
        "--grid",
        nargs="+",
        default=["1,1", "1,0.1", "1,10", "1,100", "0.1,1", "10,1"],
        help="λ1,λ2 pairs",
    )
    args = p.parse_args()
    sc.settings.verbosity = 0
    grid = [tuple(float(v) for v in item.split(",")) for item in args.grid]
    print(f"machine: {machine()}")
    for name in args.sets:
        raw = load(name, args.data_dir)
        adata = preprocess(raw)
        labels = np.asarray(raw.obs["label"]).astype(str)
        snmf.tl.persistence(adata, use_rep="X", n_scales=8)
        print(f"\n### {name}: {adata.n_obs} cells, k = {args.k}\n")
        print(graph_table(adata, labels))
        print()
        print(sweep(adata, labels, args.k, grid, args.n_sweeps), flush=True)


if __name__ == "__main__":
    main()
