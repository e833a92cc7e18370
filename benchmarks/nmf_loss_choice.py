"""Which loss on which data? KL vs Frobenius NMF, on counts vs log-normalised data, by cell types.

For each labelled set: scanpy's usual recipe (``filter_genes(min_cells=3)``,
``normalize_total``, ``log1p``, 2,000 HVGs with the ``'seurat'`` flavour) with the raw counts
kept in ``layers['counts']``; then ``scnmf.tl.nmf`` at its defaults (NNDSVDa, up to 200
iterations, ``tol=1e-4``) on the HVGs with k = ``-k`` programs, in four variants:

* KL (β = 1) on the counts (``layer='counts'``), the natural model for UMI counts;
* Frobenius on the log-normalised data (``X``), the usual scanpy input;
* Frobenius on the counts;
* KL on the log-normalised data.

Score: KMeans with the true number of types (``n_init=10``, ``random_state=0``, the
project's protocol, ``scnmf.metrics.kmeans_agreement``) on ``obsm['X_nmf']`` as stored, and
on the same activities with each cell's row scaled to sum to one (program *usage*, which
removes the sequencing depth that count fits carry in the activities). ARI mean ± sd over
the NMF seeds.

Run::

    nice python benchmarks/nmf_loss_choice.py --data-dir DATA
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import scanpy as sc
from _common import labelled, machine, markdown_table, quiet, timed

import scnmf as snmf
from scnmf.metrics import kmeans_agreement

RESULTS = Path(__file__).resolve().parent / "results"
SETS = ["pbmc_facs400", "pbmc3k_labelled", "mouse_bladder2100"]
#: Variant name -> (beta_loss, layer).
VARIANTS = {
    "KL on counts": ("kullback-leibler", "counts"),
    "Frobenius on log data": ("frobenius", None),
    "Frobenius on counts": ("frobenius", "counts"),
    "KL on log data": ("kullback-leibler", None),
}


def prepare(name: str, data_dir: str | None, n_top: int):
    """The usual scanpy recipe; counts kept in ``layers['counts']``; HVGs only."""
    adata = labelled(name, data_dir)
    sc.pp.filter_genes(adata, min_cells=3)
    adata.layers["counts"] = adata.X.copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    sc.pp.highly_variable_genes(adata, n_top_genes=n_top, flavor="seurat")
    return adata[:, adata.var["highly_variable"].to_numpy()].copy()


def _usage(W: np.ndarray) -> np.ndarray:
    total = W.sum(axis=1, keepdims=True)
    return W / np.where(total > 0, total, 1.0)


def run_set(name: str, args) -> tuple[list[list[str]], dict[str, float]]:
    adata = prepare(name, args.data_dir, args.n_top)
    labels = adata.obs["label"].astype(str).to_numpy()
    n_types = len(np.unique(labels))
    rows, best = [], {}
    for variant, (beta, layer) in VARIANTS.items():
        raw, usage, seconds = [], [], []
        for seed in range(args.seeds):
            fit = adata.copy()
            _, dt = timed(snmf.tl.nmf, fit, args.k, beta_loss=beta, layer=layer, random_state=seed)
            W = fit.obsm["X_nmf"]
            raw.append(kmeans_agreement(W, labels)["ARI"])
            usage.append(kmeans_agreement(_usage(W), labels)["ARI"])
            seconds.append(dt)
        best[variant] = max(np.mean(raw), np.mean(usage))
        rows.append(
            [
                f"{name} ({adata.n_obs} cells, {n_types} types)",
                variant,
                f"{np.mean(raw):.3f} ± {np.std(raw):.3f}",
                f"{np.mean(usage):.3f} ± {np.std(usage):.3f}",
                f"{np.mean(seconds):.1f}",
            ]
        )
        print(" | ".join(rows[-1]), flush=True)
    return rows, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--sets", nargs="+", default=SETS)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--n-top", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS / "nmf_loss_choice.md"))
    args = parser.parse_args()
    quiet()
    start = time.perf_counter()
    table, bests = [], {}
    for name in args.sets:
        rows, bests[name] = run_set(name, args)
        table += rows
    header = ["set", "loss, data", "ARI of X_nmf", "ARI of usage (rows sum to 1)", "s per fit"]
    mean_best = {v: np.mean([b[v] for b in bests.values()]) for v in VARIANTS}
    ranking = sorted(mean_best, key=mean_best.get, reverse=True)
    text = (
        "# NMF loss and input: KL vs Frobenius, counts vs log data (issue 16, item 5)\n\n"
        f"Command: `python benchmarks/nmf_loss_choice.py --data-dir DATA --sets "
        f"{' '.join(args.sets)} -k {args.k} --seeds {args.seeds}` "
        f"({(time.perf_counter() - start) / 60:.1f} min on {machine()}; a shared machine, "
        "seconds are indicative).\n\n"
        "Preprocessing: `filter_genes(min_cells=3)`, `normalize_total(1e4)`, `log1p`, "
        f"{args.n_top} HVGs (`flavor='seurat'`), raw counts of the same genes in "
        f"`layers['counts']`. `tl.nmf` defaults, k = {args.k}, NMF seeds 0–{args.seeds - 1}. "
        "Score: ARI of KMeans (true number of types, n_init 10, random_state 0) on the "
        "activities as stored and on the usages (each cell's activities scaled to sum to "
        "one), mean ± sd over the NMF seeds.\n\n"
        + markdown_table(header, table)
        + "\n\nBest of the two embeddings, mean over the sets: "
        + ", ".join(f"{v} {mean_best[v]:.3f}" for v in ranking)
        + ".\n"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
