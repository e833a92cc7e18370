"""Scale benchmark: ``tl.persistence`` (kNN, spanning tree, gudhi H0) on up to 10⁶ cells.

    python benchmarks/persistence_scale.py --n-cells 1000000 --dims 50 --n-neighbors 15

Data: a PCA-like float32 representation in ``obsm['X_pca']`` — a Gaussian mixture of
``--n-clusters`` clusters of uneven sizes and spreads, with per-dimension scales decaying
like PCA variances, plus ``--noise`` (0.02 %) of cells from a broad background Gaussian.
Few background cells leave the clusters' kNN graphs apart, so the components must be
linked (the costly case for the spanning tree); many (e.g. ``--noise 0.01``) join them.
pynndescent's numba compilation is done on a small warm-up set first and not timed.

``--reuse`` (default): first build the kNN graph as ``sc.pp.neighbors`` would with its
pynndescent path (``NNDescent(n_neighbors=k + 1)``, self removed, stored as CSR in
``obsp['distances']`` with scanpy's ``uns['neighbors']`` record; scanpy's connectivities
are not computed), timed on its own, then run ``tl.persistence``, which reuses it.
``--no-reuse``: ``tl.persistence(neighbors_key=False)`` computes its own kNN graph (the
same pynndescent call). ``--both``: the reuse run, then the no-reuse run on the same data.

Prints a markdown table of the wall time of every stage (from ``EdgeList.timings``, filled
by the same code ``tl.persistence`` runs) and the process's peak resident memory after it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp
from _common import EchoRows, machine, markdown_table, peak_rss_gib

STAGES = {
    "representation": "representation (obsm → float64)",
    "check_neighbors": "check scanpy graph (params + 1,000 distances)",
    "load_knn": "load kNN edges from obsp",
    "knn": "kNN search (pynndescent)",
    "knn_lengths": "exact float64 lengths of kNN edges",
    "dedup_sort": "edge dedup + sort by length",
    "knn_components": "kNN components (union–find)",
    "link_components": "link components (Borůvka rounds)",
    "insert_links": "insert links",
    "mst": "minimum spanning forest (Kruskal)",
    "gudhi": "gudhi H0 (SimplexTree on forest)",
    "canonical_scales": "canonical scales + β0",
    "select_scales": "scale selection",
}


def mixture(
    n: int, p: int, n_clusters: int, noise: float = 0.01, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """PCA-like Gaussian mixture with 1 % background noise (float32), and cluster labels."""
    rng = np.random.default_rng(seed)
    scale = (1.0 / np.sqrt(1.0 + np.arange(p) / 4.0)).astype(np.float32)
    centres = rng.normal(0.0, 4.0, (n_clusters, p)).astype(np.float32) * scale
    n_noise = int(n * noise)
    sizes = rng.multinomial(n - n_noise, rng.dirichlet(np.full(n_clusters, 2.0)))
    spread = rng.uniform(0.5, 1.5, n_clusters).astype(np.float32)
    X = np.empty((n, p), dtype=np.float32)
    labels = np.empty(n, dtype=np.int32)
    at = 0
    for c, m in enumerate(sizes):
        X[at : at + m] = rng.standard_normal((m, p), dtype=np.float32) * (spread[c] * scale)
        X[at : at + m] += centres[c]
        labels[at : at + m] = c
        at += m
    X[at:] = rng.standard_normal((n_noise, p), dtype=np.float32) * (5.0 * scale)
    labels[at:] = -1
    order = rng.permutation(n)
    return X[order], labels[order]


def scanpy_like_neighbors(adata, n_neighbors: int, random_state: int = 0) -> None:
    """``obsp['distances']`` + ``uns['neighbors']`` as ``sc.pp.neighbors`` (pynndescent)."""
    from pynndescent import NNDescent

    X = adata.obsm["X_pca"]
    n = X.shape[0]
    index = NNDescent(X, n_neighbors=n_neighbors + 1, random_state=random_state, n_jobs=-1)
    idx, dist = index.neighbor_graph
    idx, dist = idx[:, 1:], dist[:, 1:]  # scanpy drops the self column
    indptr = np.arange(0, n * n_neighbors + 1, n_neighbors, dtype=np.int64)
    D = sp.csr_matrix((dist.ravel(), idx.ravel(), indptr), shape=(n, n))
    adata.obsp["distances"] = D
    adata.uns["neighbors"] = {
        "connectivities_key": "connectivities",
        "distances_key": "distances",
        "params": {
            "n_neighbors": n_neighbors + 1,
            "method": "umap",
            "random_state": random_state,
            "metric": "euclidean",
            "use_rep": "X_pca",
        },
    }


def run(adata, neighbors_key, label: str, rows: list, args) -> dict:
    from scnmf.tl._persistence import run_persistence

    t0 = time.perf_counter()
    record, edges = run_persistence(
        adata,
        use_rep="X_pca",
        n_neighbors=args.n_neighbors,
        neighbors_key=neighbors_key,
        n_scales=8,
        scales=None,
        random_state=0,
    )
    total = time.perf_counter() - t0
    for key, name in STAGES.items():
        if key in edges.timings:
            rows.append([label, name, f"{edges.timings[key]:.1f}", ""])
    rows.append([label, "**total tl.persistence**", f"**{total:.1f}**", f"{peak_rss_gib():.2f}"])
    return {
        "total": total,
        "record": record,
        "n_edges": edges.n_edges,
        "n_knn_components": int(edges.timings.get("n_knn_components", 1)),
        "knn_from": record["params"]["knn_from"],
    }


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n-cells", type=int, default=1_000_000)
    p.add_argument("--dims", type=int, default=50)
    p.add_argument("--n-neighbors", type=int, default=15)
    p.add_argument("--n-clusters", type=int, default=30)
    p.add_argument("--noise", type=float, default=0.0002, help="fraction of background cells")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--reuse", dest="mode", action="store_const", const="reuse")
    g.add_argument("--no-reuse", dest="mode", action="store_const", const="no-reuse")
    g.add_argument("--both", dest="mode", action="store_const", const="both")
    p.set_defaults(mode="reuse")
    args = p.parse_args()

    import anndata as ad
    import scanpy as sc

    sc.settings.verbosity = 2

    rows = EchoRows()
    t0 = time.perf_counter()
    X, labels = mixture(args.n_cells, args.dims, args.n_clusters, args.noise)
    adata = ad.AnnData(
        sp.csr_matrix((args.n_cells, 1), dtype=np.float32), obsm={"X_pca": X}
    )  # X is a placeholder: persistence reads obsm['X_pca'] only
    rows.append(["—", "generate data", f"{time.perf_counter() - t0:.1f}", f"{peak_rss_gib():.2f}"])

    from pynndescent import NNDescent

    NNDescent(X[:2000], n_neighbors=args.n_neighbors + 1, random_state=0)  # numba warm-up

    results = {}
    if args.mode in ("reuse", "both"):
        t0 = time.perf_counter()
        scanpy_like_neighbors(adata, args.n_neighbors)
        t_knn = time.perf_counter() - t0
        rows.append(
            ["reuse", "kNN graph as sc.pp.neighbors (pynndescent), not part of tl.persistence",
             f"{t_knn:.1f}", f"{peak_rss_gib():.2f}"]
        )  # fmt: skip
        results["reuse"] = run(adata, None, "reuse", rows, args)
        results["reuse"]["knn"] = t_knn
    if args.mode in ("no-reuse", "both"):
        results["no-reuse"] = run(adata, False, "no-reuse", rows, args)

    print()
    print(f"Command: `python benchmarks/persistence_scale.py --n-cells {args.n_cells} "
          f"--dims {args.dims} --n-neighbors {args.n_neighbors} --{args.mode}`")  # fmt: skip
    print(f"Machine: {machine()}")
    print()
    print(markdown_table(["run", "stage", "seconds", "peak RSS (GiB)"], rows))
    print()
    for mode, res in results.items():
        rec = res["record"]
        line = (
            f"{mode}: kNN graph from {res['knn_from']!r}; {res['n_edges']:,} candidate edges, "
            f"{res['n_knn_components']} kNN components; β0 at the chosen scales "
            f"{rec['n_components'].tolist()}; total {res['total']:.1f} s"
        )
        if "knn" in res:
            line += f" (+ {res['knn']:.1f} s to build the reused kNN graph)"
        print(line)
    if "reuse" in results and "no-reuse" in results:
        same = np.array_equal(
            results["reuse"]["record"]["diagram"], results["no-reuse"]["record"]["diagram"]
        )
        print(f"reuse and no-reuse diagrams identical: {same}")


if __name__ == "__main__":
    main()
