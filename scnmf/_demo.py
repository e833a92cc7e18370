"""``scnmf demo``: the main job on bundled data, with figures and a score table."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def run_demo(out: Path, *, fast: bool = False, force: bool = False) -> int:
    """The tour on bundled PBMC counts: NMF, persistent NMF and deep NMF.

    Writes ``demo.h5ad`` and PNG figures into ``out`` and prints how well each method's
    cells group by the known cell types.
    """
    from ._io import check_output_file, check_output_folder, write_h5ad_atomic

    out = check_output_folder(out, what="demo output (--out)")
    target = check_output_file(out / "demo.h5ad", force, what="demo output")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scanpy as sc

    from . import _keys as C
    from . import datasets, pl, tl
    from .metrics import agreement, kmeans_agreement

    out.mkdir(parents=True, exist_ok=True)

    adata = datasets.pbmc68k_counts()
    labels = np.asarray(adata.obs["label"])
    n_types = len(np.unique(labels))
    print(f"pbmc68k counts: {adata.n_obs} cells × {adata.n_vars} genes, {n_types} labelled types")
    adata.layers["counts"] = adata.X.copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)

    k = 10
    max_iter = 60 if fast else 400
    tl.nmf(adata, k, beta_loss="kullback-leibler", max_iter=max_iter, tol=1e-5, random_state=0)
    nmf_keys = C.factor_keys(C.NMF_KEY)
    embedding = adata.obsm[nmf_keys.obsm]
    normalised = embedding / np.maximum(embedding.sum(axis=1, keepdims=True), 1e-12)
    adata.obs["nmf_program"] = np.argmax(embedding, axis=1).astype(str)
    adata.obs["nmf_program"] = adata.obs["nmf_program"].astype("category")

    rows = [
        ("NMF activities + KMeans", kmeans_agreement(normalised, labels)),
        ("dominant program", agreement(labels, adata.obs["nmf_program"].to_numpy())),
    ]
    sc.pp.pca(adata, n_comps=k, random_state=0)
    rows.append(("PCA + KMeans (reference)", kmeans_agreement(adata.obsm[C.Scanpy.PCA], labels)))

    # Persistent NMF: scales from the H0 persistence of the PCA cell graph.
    tl.persistence(adata, use_rep=C.Scanpy.PCA, n_scales=6, random_state=0)
    tl.pnmf(
        adata, k, n_sweeps=2 if fast else 10, max_inner_iter=100 if fast else 1000, random_state=0
    )
    per_scale = adata.obsm[C.pnmf_keys(C.PNMF_KEY).obsm_scales]
    scale_scores = [kmeans_agreement(per_scale[:, t], labels) for t in range(per_scale.shape[1])]
    rows.append(("pNMF finest scale + KMeans", scale_scores[0]))
    best = int(np.argmax([s["ARI"] for s in scale_scores]))
    rows.append((f"pNMF best scale (t={best + 1}, chosen with labels)", scale_scores[best]))

    # Deep KL-NMF on the counts: a hierarchy of programs.
    ranks = (10, 5, 3)
    tl.deep_nmf(
        adata,
        ranks=ranks,
        layer="counts",
        n_init_iter=100 if fast else 500,
        max_iter=30 if fast else 300,
        random_state=0,
    )
    for ell, r in enumerate(ranks, start=1):
        clusters = adata.obs[C.deep_keys(C.DEEP_NMF_KEY).obs(ell)].to_numpy()
        rows.append((f"deep NMF layer {ell} (r={r}) dominant program", agreement(labels, clusters)))

    sc.pp.neighbors(adata, use_rep=nmf_keys.obsm, random_state=0)
    sc.tl.umap(adata, random_state=0)
    figures = []
    plots = (
        ("nmf_loadings", pl.loadings, {}),
        ("nmf_loss", pl.loss, {}),
        ("persistence", pl.persistence, {}),
        ("pnmf_scale_path", pl.scale_path, {}),
        ("deep_nmf_hierarchy", pl.deep_hierarchy, {"labels": "label"}),
        ("deep_nmf_layer_errors", pl.layer_errors, {}),
    )
    for name, draw, kwargs in plots:
        fig = draw(adata, show=False, return_fig=True, **kwargs)
        path = out / f"{name}.png"
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
        figures.append(path)
    fig = sc.pl.umap(adata, color=["label", "nmf_program"], wspace=0.6, show=False, return_fig=True)
    path = out / "umap_nmf.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    figures.append(path)

    write_h5ad_atomic(adata, target, force)
    print(f"\nAgreement with the {n_types} known cell types (KMeans: n_init=10, true #types)")
    print(f"{'method':48s} {'ARI':>6s} {'NMI':>6s} {'purity':>7s} {'ACC':>6s}")
    for name, s in rows:
        print(f"{name:48s} {s['ARI']:6.3f} {s['NMI']:6.3f} {s['purity']:7.3f} {s['ACC']:6.3f}")
    print("\nMost specific genes per program:")
    from .get import programs

    top = programs(adata, n_genes=5, method="specificity")
    for program, genes in top.groupby("program", observed=True)["gene"]:
        print(f"  {program}: {', '.join(genes)}")
    print(f"\nwrote {target}")
    for path in figures:
        print(f"wrote {path}")
    return 0
