"""Reproduction of the pNMF comparison: NMF vs GNMF vs pNMF (t = 1 and best t).

    python benchmarks/pnmf_reproduce.py --data-dir DIR --sets pbmc68k_reduced pbmc_facs400 -k 10

Preprocessing as the reference code: genes seen in < 3 cells dropped, top-2000 highly
variable genes (seurat_v3 on counts when scikit-misc is installed, else seurat dispersion on
log-normalised data), log10(1 + x), each cell scaled to unit L2 norm. Distances for the
persistence are measured on that matrix (``use_rep='X'``), as the reference.
Scoring: KMeans (true number of labels, n_init=10) on the embedding, ARI/NMI/purity/ACC
averaged over KMeans seeds 0–9. "best t" is chosen with the labels (as the reference
table); "stable t" by the label-free rule of ``tl.pnmf(reference_scale='stable')`` with
KMeans at the true number of labels.
Highly variable genes need scikit-misc (``pip install scikit-misc``) to match the reference.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scanpy as sc
import scipy.sparse as sp
from _common import labelled, machine, markdown_table, peak_rss_gib

import scnmf as snmf
from scnmf.metrics import kmeans_agreement

SEEDS = tuple(range(10))


def load(name: str, data_dir: str | None):
    if name == "pbmc68k_reduced":
        return snmf.datasets.pbmc68k_counts()
    return labelled(name, data_dir)


def preprocess(adata, n_top: int = 2000):
    adata = adata.copy()
    adata.X = sp.csr_matrix(adata.X, dtype=np.float64)
    sc.pp.filter_genes(adata, min_cells=3)
    if adata.n_vars > n_top:
        try:
            sc.pp.highly_variable_genes(adata, n_top_genes=n_top, flavor="seurat_v3")
        except ImportError:
            tmp = adata.copy()
            sc.pp.normalize_total(tmp)
            sc.pp.log1p(tmp)
            sc.pp.highly_variable_genes(tmp, n_top_genes=n_top, flavor="seurat")
            adata.var["highly_variable"] = tmp.var["highly_variable"]
        adata = adata[:, adata.var["highly_variable"].to_numpy()].copy()
    X = adata.X.copy()
    X.data = np.log10(1 + X.data)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    norms[norms == 0] = 1
    adata.X = sp.csr_matrix(sp.diags(1 / norms) @ X)
    adata.var = adata.var.drop(columns=["highly_variable"], errors="ignore")
    return adata


def score(emb, labels):
    out = kmeans_agreement(emb, labels, seeds=SEEDS)
    return out


def fmt(s):
    return (
        f"{s['ARI']:.3f} ± {s['ARI_sd']:.3f}",
        f"{s['NMI']:.3f}",
        f"{s['purity']:.3f}",
        (f"{s['ACC']:.3f}"),
    )


def run(name, args):
    raw = load(name, args.data_dir)
    adata = preprocess(raw)
    labels = np.asarray(raw.obs["label"]).astype(str)
    k = args.k
    rows = []
    t0 = time.perf_counter()
    snmf.tl.nmf(adata, k, max_iter=1000, tol=1e-4, solver="mu", random_state=0)
    rows.append(
        ["NMF", *fmt(score(adata.obsm["X_nmf"], labels)), f"{time.perf_counter() - t0:.1f}"]
    )
    for lam in args.gnmf_lambda:
        t0 = time.perf_counter()
        snmf.tl.gnmf(adata, k, lambda_graph=lam, n_neighbors=5, use_rep="X")
        rows.append(
            [
                f"GNMF λ={lam:g}",
                *fmt(score(adata.obsm["X_gnmf"], labels)),
                f"{time.perf_counter() - t0:.1f}",
            ]
        )
    t0 = time.perf_counter()
    scales = "all" if args.scales == "all" else None
    n_scales = 8 if args.scales == "all" else int(args.scales)
    snmf.tl.persistence(adata, use_rep="X", scales=scales, n_scales=n_scales)
    snmf.tl.pnmf(
        adata,
        k,
        preset="reference",  # the reference code's graphs and weights
        n_sweeps=args.n_sweeps,
        normalize=args.normalize,
        lambda_graph=args.lambda_graph,
        lambda_scale=args.lambda_scale,
        reference_scale="stable",
        n_clusters=len(np.unique(labels)),
    )
    elapsed = time.perf_counter() - t0
    emb = adata.obsm["X_pnmf_scales"]
    per_scale = [score(emb[:, t], labels) for t in range(emb.shape[1])]
    best = int(np.argmax([s["ARI"] for s in per_scale]))
    rows.append(["pNMF t=1", *fmt(per_scale[0]), f"{elapsed:.1f}"])
    rows.append([f"pNMF best t={best + 1}/{emb.shape[1]}", *fmt(per_scale[best]), ""])
    stable = int(adata.uns["pnmf"]["reference_scale"])
    rows.append([f"pNMF stable t={stable + 1} (label-free)", *fmt(per_scale[stable]), ""])
    ari = " ".join(f"{s['ARI']:.2f}" for s in per_scale)
    beta0 = adata.uns["persistence"]["n_components"]
    n_labels = len(np.unique(labels))
    print(
        f"\n### {name}: {adata.n_obs} cells × {adata.n_vars} genes, k = {k}, {n_labels} labels, "
        f"scales={args.scales}, normalize={args.normalize}, "
        f"λ1={args.lambda_graph:g}, λ2={args.lambda_scale:g}"
    )
    print(markdown_table(["method", "ARI (mean ± sd)", "NMI", "purity", "ACC", "s"], rows))
    print(f"pNMF ARI per scale (β0 {beta0.tolist()}): {ari}")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data-dir", default=None, help="folder of labelled .h5ad (SCNMF_DATA_DIR)")
    p.add_argument("--sets", nargs="+", default=["pbmc68k_reduced", "pbmc_facs400"])
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--scales", default="8", help="'all' (reference) or a number of scales")
    p.add_argument("--n-sweeps", type=int, default=10)
    p.add_argument("--normalize", default="start", choices=["start", "iteration"])
    p.add_argument("--gnmf-lambda", type=float, nargs="+", default=[0.1])
    p.add_argument("--lambda-graph", type=float, default=1.0, help="pNMF λ1")
    p.add_argument("--lambda-scale", type=float, default=1.0, help="pNMF λ2")
    args = p.parse_args()
    sc.settings.verbosity = 0
    print(f"machine: {machine()}")
    for name in args.sets:
        run(name, args)
    print(f"\npeak RSS {peak_rss_gib():.2f} GiB")


if __name__ == "__main__":
    main()
