"""Deep vs multilayer KL-NMF on PBMC counts, laid out like Table 2 of Leplat et al. (2024).

    nice python benchmarks/deep_nmf_reproduce.py --data-dir DATA --seeds 5

For each data set and seed: multilayer KL-NMF initialisation (``--n-init-iter`` MU
iterations per layer, uniform random start), ``--max-iter`` deep sweeps (Algorithm 1), and a
multilayer baseline with ``n_init_iter + max_iter`` iterations per layer from the same start.
Reports per layer the deep/multilayer error ratio, the Hoyer sparsity of the gene programs
``W_ℓ`` and of the cell activities ``H_ℓ…H_1`` (multilayer → deep), and the agreement of each
layer's dominant-program clusters with the known cell types (ARI / NMI / purity).

Both are ``scnmf.tl.deep_nmf`` calls: the deep fit (with ``multilayer_baseline=True``, timed,
which gives the error ratio) and, for the baseline's factors, a call with ``n_init_iter +
max_iter`` initialisation iterations and no sweeps (the same multilayer run, from the same
random starts).

Data: ``pbmc3k_labelled.h5ad`` from ``--data-dir`` (or ``$SCNMF_DATA_DIR``; skipped when
absent), 2,000 highly variable genes selected on log-normalised counts, raw counts
factorised; ``pbmc68k_reduced`` counts bundled with scnmf.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import anndata as ad
import numpy as np
import scanpy as sc
import scipy.sparse as sp
from _common import labelled, machine, markdown_table, quiet, timed

import scnmf as snmf
from scnmf.datasets import pbmc68k_counts
from scnmf.metrics import agreement


def hoyer(M: np.ndarray, axis: int) -> float:
    """Mean Hoyer sparsity of the vectors of ``M`` along ``axis``."""
    n = M.shape[axis]
    ratio = np.abs(M).sum(axis=axis) / np.maximum(np.linalg.norm(M, axis=axis), 1e-300)
    return float(np.mean((np.sqrt(n) - ratio) / (np.sqrt(n) - 1)))


def layers(adata: ad.AnnData, L: int):
    """Per layer: gene programs (genes × r), activities (cells × r), dominant program."""
    return [
        (
            adata.varm[f"deep_nmf_l{i}"],
            adata.obsm[f"X_deep_nmf_l{i}"],
            adata.obs[f"deep_nmf_l{i}"].cat.codes.to_numpy(),
        )
        for i in range(1, L + 1)
    ]


def load(name: str, data_dir: str | None, n_hvg: int):
    if name == "pbmc68k":
        adata = pbmc68k_counts()
    else:
        adata = labelled("pbmc3k_labelled", data_dir)
        sc.pp.filter_genes(adata, min_cells=3)
        tmp = adata.copy()
        sc.pp.normalize_total(tmp, target_sum=1e4)
        sc.pp.log1p(tmp)
        sc.pp.highly_variable_genes(tmp, n_top_genes=n_hvg, flavor="seurat")
        adata = adata[:, tmp.var["highly_variable"].to_numpy()].copy()
    X = sp.csr_matrix(adata.X, dtype=np.float64)
    keep = np.asarray(X.sum(axis=1)).ravel() > 0
    return X[keep], np.asarray(adata.obs["label"])[keep]


def fmt(values, pct=False, digits=3) -> str:
    values = np.asarray(values)
    scale = 100 if pct else 1
    unit = "%" if pct else ""
    mean, sd = scale * values.mean(), scale * values.std()
    if pct:
        return f"{mean:.1f}{unit} ± {sd:.1f}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def run(name, X, labels, args):
    ranks = tuple(args.ranks)
    L = len(ranks)
    ratio, w_sp, h_sp, agree, times = [], [], [], [], []
    for seed in range(args.seeds):
        common = {"beta_loss": "kullback-leibler", "tol": 0, "random_state": seed}
        deep = ad.AnnData(X)
        _, elapsed = timed(
            snmf.tl.deep_nmf,
            deep,
            ranks,
            n_init_iter=args.n_init_iter,
            max_iter=args.max_iter,
            multilayer_baseline=True,
            **common,
        )
        times.append(elapsed)
        ml = ad.AnnData(X)
        snmf.tl.deep_nmf(
            ml,
            ranks,
            n_init_iter=args.n_init_iter + args.max_iter,
            max_iter=0,
            multilayer_baseline=False,
            **common,
        )
        errors = deep.uns["deep_nmf"]["errors"]
        ratio.append(errors["deep"] / errors["multilayer"])
        fits = (layers(ml, L), layers(deep, L))
        w_sp.append([[hoyer(W, 0) for W, _, _ in fit] for fit in fits])
        h_sp.append([[hoyer(A, 0) for _, A, _ in fit] for fit in fits])
        agree.append([[agreement(labels, c) for _, _, c in fit] for fit in fits])
        print(f"  {name} seed {seed}: ratio {np.round(ratio[-1], 4)} ({times[-1]:.0f} s)")
    ratio, w_sp, h_sp = np.asarray(ratio), np.asarray(w_sp), np.asarray(h_sp)
    rows = []
    for i in range(L):
        ari = [[a[m][i]["ARI"] for a in agree] for m in (0, 1)]
        nmi = [[a[m][i]["NMI"] for a in agree] for m in (0, 1)]
        pur = [[a[m][i]["purity"] for a in agree] for m in (0, 1)]
        rows.append(
            [
                f"{i + 1} (r={ranks[i]})",
                fmt(ratio[:, i], pct=True),
                f"{100 * w_sp[:, 0, i].mean():.1f}% → {100 * w_sp[:, 1, i].mean():.1f}%",
                f"{100 * h_sp[:, 0, i].mean():.1f}% → {100 * h_sp[:, 1, i].mean():.1f}%",
                f"{np.mean(ari[0]):.2f} → {np.mean(ari[1]):.2f}",
                f"{np.mean(nmi[0]):.2f} → {np.mean(nmi[1]):.2f}",
                f"{np.mean(pur[0]):.2f} → {np.mean(pur[1]):.2f}",
            ]
        )
    header = [
        "layer",
        "deep / multilayer error",
        "Hoyer W (genes) ML → deep",
        "Hoyer H…H1 (cells) ML → deep",
        "ARI ML → deep",
        "NMI ML → deep",
        "purity ML → deep",
    ]
    title = (
        f"**{name}**: {X.shape[0]} cells × {X.shape[1]} genes, {len(np.unique(labels))} types, "
        f"ranks {ranks}, {args.seeds} seeds, {args.n_init_iter} init + {args.max_iter} sweeps "
        f"(baseline {args.n_init_iter + args.max_iter} iterations/layer); "
        f"{np.mean(times):.0f} s per seed"
    )
    return title + "\n\n" + markdown_table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=None, help="folder with pbmc3k_labelled.h5ad")
    parser.add_argument("--datasets", nargs="+", default=["pbmc68k", "pbmc3k"])
    parser.add_argument("--ranks", type=int, nargs="+", default=[20, 10, 5])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n-init-iter", type=int, default=500)
    parser.add_argument("--max-iter", type=int, default=500)
    parser.add_argument("--n-hvg", type=int, default=2000)
    parser.add_argument("--out", default=None, help="also write the tables to this file")
    args = parser.parse_args()
    quiet()

    blocks = [f"Machine: {machine()}"]
    for name in args.datasets:
        try:
            X, labels = load(name, args.data_dir, args.n_hvg)
        except FileNotFoundError as err:
            print(f"skipping {name}: {err}")
            continue
        blocks.append(run(name, X, labels, args))
        print(blocks[-1], flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n\n".join(blocks) + "\n")


if __name__ == "__main__":
    main()
