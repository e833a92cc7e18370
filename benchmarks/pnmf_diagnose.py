"""Why pNMF does not beat GNMF here: graph diagnostics per scale and λ sweeps.

    python benchmarks/pnmf_diagnose.py --data-dir DIR --sets pbmc_facs400 pbmc3k_labelled -k 10

Same input and scoring as ``pnmf_reproduce.py``. For each set it prints

1. per canonical scale: β0, edges, mean weighted degree and *label homophily* (share of edge
   weight joining two cells of the same label) of the ε-graph, next to GNMF's kNN graph;
2. ARI at the finest scale, at the label-chosen best scale and at the scale picked by the
   label-free stability rule (``scnmf.tl.pnmf``'s ``reference_scale='stable'``), for a grid
   of λ1 (graph) and λ2 (cross-scale) values.

The graphs are rebuilt here from their definitions (scnmf keeps them internal): the ε-graph
of scale ε joins cells closer than ε with weight exp(−d²/ε^1.5), on all pairs of cells (the
candidate edges ``tl.persistence`` uses on small data); GNMF's graph joins each cell to its 5
nearest neighbours (kept when either end lists the other), weight exp(−d²/σ²), σ² the mean
squared length of its edges.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp
from _common import machine, markdown_table, quiet
from pnmf_reproduce import SEEDS, load, preprocess
from scipy.spatial.distance import pdist
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.neighbors import NearestNeighbors

import scnmf as snmf
from scnmf.metrics import kmeans_agreement


def all_pairs(X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of cells with its length, computed as ``tl.persistence`` does on small data.

    The scales are edge lengths and the ε-graph test is strict, so the lengths must round
    as scnmf's do: the dot-product form for sparse ``X``, the difference form (pdist) else.
    """
    rows, cols = np.triu_indices(X.shape[0], k=1)
    if sp.issparse(X):
        return rows, cols, euclidean_distances(X.astype(np.float64))[rows, cols]
    return rows, cols, pdist(np.asarray(X, dtype=np.float64))  # pdist: triu order


def epsilon_graph(pairs: tuple[np.ndarray, np.ndarray, np.ndarray], n: int, eps: float):
    """Symmetric ε-graph on all pairs ``(rows, cols, dists)``: edge iff d < ε."""
    rows, cols, d = pairs
    keep = d < eps
    w = np.exp(-(d[keep] ** 2) / eps**1.5)
    r, c = rows[keep], cols[keep]
    return sp.csr_matrix((np.r_[w, w], (np.r_[r, c], np.r_[c, r])), shape=(n, n))


def knn_graph(X, n_neighbors: int) -> sp.csr_matrix:
    """GNMF's symmetric heat-kernel kNN graph."""
    D = NearestNeighbors(n_neighbors=n_neighbors).fit(X).kneighbors_graph(mode="distance")
    D = sp.triu(D.maximum(D.T), k=1).tocoo()  # each undirected edge once
    w = np.exp(-(D.data**2) / (float(np.mean(D.data**2)) or 1.0))
    A = sp.coo_matrix((w, (D.row, D.col)), shape=D.shape)
    return (A + A.T).tocsr()


def homophily(A, labels: np.ndarray) -> float:
    A = A.tocoo()
    if A.nnz == 0:
        return float("nan")
    same = labels[A.row] == labels[A.col]
    return float(A.data[same].sum() / A.data.sum())


def graph_table(adata, labels):
    rec = adata.uns["persistence"]
    pairs = all_pairs(adata.X)
    rows = []
    for t, (eps, b0) in enumerate(zip(rec["scales"], rec["n_components"], strict=True)):
        A = epsilon_graph(pairs, adata.n_obs, float(eps))
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
    deg = np.asarray(A.sum(axis=1)).ravel()
    rows.append(
        ["GNMF kNN5", "-", f"{A.nnz // 2:,}", f"{deg.mean():.2f}", f"{homophily(A, labels):.3f}"]
    )
    return markdown_table(["scale", "β0", "edges", "mean degree", "label homophily"], rows)


def sweep(adata, labels, k, grid, n_sweeps):
    rows = []
    for lam1, lam2 in grid:
        t0 = time.perf_counter()
        snmf.tl.pnmf(
            adata,
            k,
            preset="reference",  # the study of the reference code's settings
            lambda_graph=lam1,
            lambda_scale=lam2,
            n_sweeps=n_sweeps,
            reference_scale="stable",  # the stability rule, with one cluster per label
            n_clusters=len(np.unique(labels)),
        )
        elapsed = time.perf_counter() - t0
        emb = adata.obsm["X_pnmf_scales"]
        aris = [
            kmeans_agreement(emb[:, t], labels, seeds=SEEDS)["ARI"] for t in range(emb.shape[1])
        ]
        stable = int(adata.uns["pnmf"]["reference_scale"])
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
    quiet()
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
