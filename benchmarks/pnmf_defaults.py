"""Which ``tl.pnmf`` defaults beat ``tl.nmf`` on data nobody tuned on (issue 16, item 1).

    python benchmarks/pnmf_defaults.py --data-dir DIR --out benchmarks/results/pnmf_defaults

Every set gets scanpy's usual recipe: ``normalize_total``, ``log1p``, 2,000 highly variable
genes (flagged, so every factorisation uses them through its default ``mask_var``), 30 PCs
and ``sc.pp.neighbors`` (``tl.persistence`` reuses that graph beyond 1,000 cells, and builds
its scales on ``X_pca``). On the same AnnData: a default ``tl.nmf``, a default ``tl.gnmf``
and ``tl.pnmf`` at each candidate setting (``CANDIDATES``: the old default and λ2 = 10, 100 on
the reference's raw Laplacians; the unit-free rule of ``preset='default'`` on a λ1 × λ2 grid,
and λ3 and the number of scales one at a time around λ1 = 1, λ2 = 10; the default call itself).
Score: ARI of KMeans (true number of types, ``n_init=10``) on the stored embedding
(``obsm['X_pnmf']`` for pNMF), for seeds 0, 1, 2 (the fit's ``random_state`` and the KMeans
seed), as mean and s.d.

Sets: the four labelled sets of ``--data-dir`` (or ``$SCNMF_DATA_DIR``), scanpy's
``pbmc68k_reduced`` counts, and ``nested``: generated counts with known two-level structure
(coarse groups each split into fine subgroups), scored against both levels. Public API only.
Rows are appended to ``<out>.json`` as they finish (a killed run keeps what it did);
``<out>.csv`` and the summary table follow at the end (``--summary`` prints it again).
``--stable-scale`` and ``--pca-fallback`` run the two side checks of
``benchmarks/results/pnmf_defaults.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp
from _common import labelled, machine, markdown_table, quiet
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

import scnmf as snmf

SETS = (
    "pbmc68k_reduced",
    "pbmc_facs400",
    "pbmc3k_labelled",
    "mouse_bladder2100",
    "pbmc4k_top2000",
    "nested",
)

#: Candidate pNMF settings: ``tl.pnmf`` keywords plus ``n_scales`` of ``tl.persistence``.
#: ``reference`` candidates use the reference's raw Laplacians and kernel, ``rule`` ones the
#: unit-free rule of ``preset='default'`` (relative kernel, mean-degree-scaled Laplacians).
CANDIDATES: dict[str, dict] = {
    "reference λ2=10": {"preset": "reference", "lambda_scale": 10.0},
    "reference λ2=100": {"preset": "reference", "lambda_scale": 100.0},
    **{
        f"rule λ1={l1:g} λ2={l2:g}": {"lambda_graph": l1, "lambda_scale": l2}
        for l2 in (1.0, 10.0, 100.0)
        for l1 in (0.3, 1.0, 3.0)
    },
    "rule λ1=1 λ2=10 λ3=0.1": {"lambda_graph": 1.0, "lambda_scale": 10.0, "lambda_anchor": 0.1},
    "rule λ1=1 λ2=10 λ3=10": {"lambda_graph": 1.0, "lambda_scale": 10.0, "lambda_anchor": 10.0},
    "rule λ1=1 λ2=10 T=4": {"lambda_graph": 1.0, "lambda_scale": 10.0, "n_scales": 4},
    "rule λ1=1 λ2=10 T=12": {"lambda_graph": 1.0, "lambda_scale": 10.0, "n_scales": 12},
    # Last: 5–10× the inner iterations of the others (the weak coupling converges slowly).
    "reference (old default)": {"preset": "reference"},
    "default (chosen: rule λ1=1 λ2=10)": {},  # tl.pnmf(adata, k): the new default call
}


def nested_clusters(
    n_coarse: int = 3,
    n_fine: int = 3,
    cells_per_type: int = 130,
    n_genes: int = 3000,
    *,
    coarse_markers: int = 60,
    fine_markers: int = 25,
    coarse_fold: float = 2.0,
    fine_fold: float = 1.0,
    random_state: int = 0,
) -> ad.AnnData:
    """Negative-binomial counts with coarse groups each split into fine subgroups.

    Log mean of gene g in a cell of fine type f (child of coarse c): baseline
    ``N(−1, 1)`` + ``coarse_fold`` on c's own marker genes + ``fine_fold`` (weaker, so the
    fine types nest inside the coarse ones) on f's own markers; library sizes log-normal
    around 2,500 counts; counts Gamma–Poisson with shape 4. ``obs['label']`` holds the fine
    type, ``obs['coarse']`` the coarse group.
    """
    rng = np.random.default_rng(random_state)
    n_types = n_coarse * n_fine
    base = rng.normal(-1.0, 1.0, n_genes)
    genes = rng.permutation(n_genes)
    logmu = np.tile(base, (n_types, 1))
    used = 0
    for c in range(n_coarse):
        marks = genes[used : used + coarse_markers]
        used += coarse_markers
        logmu[c * n_fine : (c + 1) * n_fine, marks] += coarse_fold
    for f in range(n_types):
        marks = genes[used : used + fine_markers]
        used += fine_markers
        logmu[f, marks] += fine_fold
    share = np.exp(logmu)
    share /= share.sum(axis=1, keepdims=True)
    fine = np.repeat(np.arange(n_types), cells_per_type)
    library = 2500.0 * rng.lognormal(0.0, 0.3, fine.size)
    mean = library[:, None] * share[fine]
    counts = rng.poisson(rng.gamma(4.0, mean / 4.0)).astype(np.float32)
    adata = ad.AnnData(sp.csr_matrix(counts))
    adata.obs["label"] = pd.Categorical([f"{chr(65 + t // n_fine)}{t % n_fine + 1}" for t in fine])
    adata.obs["coarse"] = pd.Categorical([chr(65 + t // n_fine) for t in fine])
    adata.obs_names = [f"cell{i}" for i in range(fine.size)]
    adata.var_names = [f"gene{g}" for g in range(n_genes)]
    return adata


def load(name: str, data_dir: str | None, max_cells: int | None) -> ad.AnnData:
    if name == "nested":
        adata = nested_clusters()
    elif name == "pbmc68k_reduced":
        adata = snmf.datasets.pbmc68k_counts()
    else:
        adata = labelled(name, data_dir)
    if max_cells and adata.n_obs > max_cells:
        keep = np.sort(np.random.default_rng(0).choice(adata.n_obs, max_cells, replace=False))
        adata = adata[keep].copy()
    return adata


def preprocess(adata: ad.AnnData) -> ad.AnnData:
    """scanpy's usual recipe; HVGs flagged (not subset), so the factorisations mask them."""
    adata = adata.copy()
    adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
    sc.pp.filter_genes(adata, min_cells=3)
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    sc.pp.highly_variable_genes(adata, n_top_genes=min(2000, adata.n_vars))
    sc.pp.pca(adata, n_comps=30, random_state=0)
    sc.pp.neighbors(adata, random_state=0)
    return adata


def ari(embedding: np.ndarray, labels: np.ndarray, seed: int) -> float:
    k = len(np.unique(labels))
    predicted = KMeans(k, n_init=10, random_state=seed).fit_predict(embedding)
    return float(adjusted_rand_score(labels, predicted))


def scores(embedding, levels: dict[str, np.ndarray], seed: int) -> dict[str, float]:
    return {f"ari_{level}": ari(embedding, labels, seed) for level, labels in levels.items()}


def run_set(name: str, args, sink) -> None:
    t0 = time.perf_counter()
    raw = load(name, args.data_dir, args.max_cells)
    adata = preprocess(raw)
    levels = {"label": np.asarray(raw.obs["label"]).astype(str)}
    if "coarse" in raw.obs:
        levels["coarse"] = np.asarray(raw.obs["coarse"]).astype(str)
    print(f"\n### {name}: {adata.n_obs} cells, prep {time.perf_counter() - t0:.0f} s", flush=True)
    for T in sorted({c.get("n_scales", 8) for c in CANDIDATES.values()}):
        snmf.tl.persistence(adata, n_scales=T, key_added=f"persistence_{T}")
    base = {"set": name, "n_obs": adata.n_obs, "k": args.k}
    for seed in args.seeds:
        for method in args.methods:
            t0 = time.perf_counter()
            getattr(snmf.tl, method)(adata, args.k, random_state=seed)
            row = {**base, "method": method, "seed": seed, "seconds": time.perf_counter() - t0}
            sink({**row, **scores(adata.obsm[f"X_{method}"], levels, seed)})
        for cname in args.candidates:
            options = dict(CANDIDATES[cname])
            T = options.pop("n_scales", 8)
            t0 = time.perf_counter()
            snmf.tl.pnmf(
                adata, args.k, persistence_key=f"persistence_{T}", random_state=seed, **options
            )
            rec = adata.uns["pnmf"]
            row = {
                **base,
                "method": cname,
                "seed": seed,
                "seconds": time.perf_counter() - t0,
                "n_scales": T,
                "inner_iter": int(np.sum(rec["n_inner_iter"])),
                "lambdas": [
                    float(rec["params"][f"lambda_{n}"]) for n in ("graph", "scale", "anchor")
                ],
            }
            sink({**row, **scores(adata.obsm["X_pnmf"], levels, seed)})


def summary(rows: list[dict]) -> str:
    """Mean ± s.d. over seeds per set (the nested set at both levels), the mean over the
    columns, the mean and the worst difference to ``tl.nmf`` (per set, of the seed means)."""
    df = pd.DataFrame(rows)
    df["column"] = df["set"]
    if "ari_coarse" in df:
        coarse = df.dropna(subset=["ari_coarse"]).copy()
        coarse["column"] = coarse["set"] + " (coarse)"
        coarse["ari_label"] = coarse["ari_coarse"]
        df = pd.concat([df, coarse])
    g = df.groupby(["method", "column"])["ari_label"].agg(["mean", "std", "count"])
    columns = list(dict.fromkeys(df["column"]))
    nmf = g.loc["nmf", "mean"] if "nmf" in g.index.get_level_values(0) else None
    table = []
    for m in dict.fromkeys(df["method"]):
        cells, diffs = [], []
        for col in columns:
            if (m, col) not in g.index:
                cells.append("-")
                continue
            mean, sd, n = g.loc[(m, col)]
            cells.append(f"{mean:.3f} ± {sd:.3f}" if n > 1 else f"{mean:.3f} (1 seed)")
            if nmf is not None and col in nmf.index:
                diffs.append((mean - nmf[col], col))
        complete = len(diffs) == len(columns)
        avg = g.loc[m, "mean"].mean() if complete else float("nan")
        mean_d = np.mean([d for d, _ in diffs]) if complete else float("nan")
        worst = min(diffs) if complete else (float("nan"), "-")
        seconds = df[df.method == m]["seconds"].mean()
        table.append(
            [
                m,
                *cells,
                f"{avg:.3f}",
                f"{mean_d:+.3f}",
                f"{worst[0]:+.3f} ({worst[1]})",
                f"{seconds:.1f}",
            ]
        )
    header = ["method", *columns, "mean", "Δ nmf (mean)", "Δ nmf (worst)", "s / fit"]
    return markdown_table(header, table)


def stable_scale(args) -> str:
    """The default ``tl.pnmf`` with ``reference_scale='stable'``: finest, stable, best (seed 0)."""
    rows = []
    for name in args.sets:
        raw = load(name, args.data_dir, args.max_cells)
        adata = preprocess(raw)
        labels = np.asarray(raw.obs["label"]).astype(str)
        snmf.tl.persistence(adata)
        snmf.tl.pnmf(adata, args.k, reference_scale="stable", n_clusters=len(set(labels)))
        emb = adata.obsm["X_pnmf_scales"]
        aris = [ari(emb[:, t], labels, 0) for t in range(emb.shape[1])]
        chosen, best = int(adata.uns["pnmf"]["reference_scale"]), int(np.argmax(aris))
        rows.append(
            [
                name,
                f"{aris[0]:.3f}",
                f"{aris[chosen]:.3f} (t={chosen + 1})",
                f"{aris[best]:.3f} (t={best + 1})",
                " ".join(f"{a:.2f}" for a in aris),
            ]
        )
        print(" | ".join(rows[-1]), flush=True)
    header = ["set", "finest (default)", "stable", "best (labels)", "ARI per scale"]
    return markdown_table(header, rows)


def pca_fallback(data_dir: str | None) -> str:
    """``tl.persistence`` on pbmc3k without ``X_pca``: every gene (before) vs the PCA fallback.

    Quality of the scales: at each kept scale ε, the share of the ε-graph's edges (all pairs
    of cells closer than ε, in the representation used) that join two cells of the same type.
    """
    from sklearn.metrics import pairwise_distances

    raw = labelled("pbmc3k_labelled", data_dir)
    adata = raw.copy()
    sc.pp.filter_genes(adata, min_cells=3)
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    labels = np.asarray(raw.obs["label"]).astype(str)
    same = labels[:, None] == labels[None, :]
    runs = (
        ("every gene (use_rep='X': the old default)", "X", False),
        ("PCA fallback (the new default)", None, False),
        ("sc.pp.pca first, then the default", None, True),
    )
    rows = []
    for what, use_rep, pca_first in runs:
        work = adata.copy()
        t0 = time.perf_counter()
        if pca_first:
            sc.pp.pca(work)
        snmf.tl.persistence(work, use_rep=use_rep)
        seconds = time.perf_counter() - t0
        rec = work.uns["persistence"]
        rep = work.X if use_rep == "X" else work.obsm["X_pca"]
        d = pairwise_distances(rep)
        share = []
        for eps in rec["scales"][1:]:
            edges = d < eps
            np.fill_diagonal(edges, False)
            share.append(float(same[edges].sum() / max(edges.sum(), 1)))
        snmf.tl.pnmf(work, 10)  # on these scales; every gene (no HVG flag here)
        fit = ari(work.obsm["X_pnmf"], labels, 0)
        rows.append(
            [
                what,
                f"{rep.shape[1]:,}",
                f"{seconds:.1f}",
                " ".join(f"{h:.3f}" for h in share),
                f"{np.mean(share):.3f}",
                " ".join(str(int(b)) for b in rec["n_components"]),
                f"{fit:.3f}",
            ]
        )
    header = ["distances on", "dims", "s", "same-type share of ε-graph edges, t=2…8", "mean", "β0"]
    header.append("tl.pnmf ARI")
    return markdown_table(header, rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--sets", nargs="+", default=list(SETS))
    p.add_argument("--candidates", nargs="*", default=list(CANDIDATES))
    p.add_argument("--methods", nargs="*", default=["nmf", "gnmf"], help="baselines")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--max-cells", type=int, default=None, help="subsample larger sets")
    p.add_argument("--out", default="benchmarks/results/pnmf_defaults")
    p.add_argument("--pca-fallback", action="store_true", help="only the tl.persistence check")
    p.add_argument("--summary", action="store_true", help="only print the table of <out>.json")
    p.add_argument("--stable-scale", action="store_true", help="only the scale-choice check")
    args = p.parse_args()
    quiet()
    if args.stable_scale:
        print(f"machine: {machine()}\n\n{stable_scale(args)}")
        return
    if args.pca_fallback:
        print(f"machine: {machine()}\n\n{pca_fallback(args.data_dir)}")
        return
    out = Path(args.out)
    if args.summary:
        print(summary(json.loads(out.with_suffix(".json").read_text())))
        return
    rows: list[dict] = []
    if out.with_suffix(".json").is_file() and args.sets:
        rows = [r for r in json.loads(out.with_suffix(".json").read_text())]
        # A rerun (set, method, seed) replaces its old row; other rows are kept.
        redo = {(n, m, s) for n in args.sets for m in (*args.methods, *args.candidates)
                for s in args.seeds}  # fmt: skip
        rows = [r for r in rows if (r["set"], r["method"], r["seed"]) not in redo]

    def sink(row: dict) -> None:
        rows.append(row)
        print(
            f"{row['set']:>18} {row['method']:>24} seed {row['seed']} "
            f"ARI {row['ari_label']:.3f} {row['seconds']:.0f} s",
            flush=True,
        )
        out.with_suffix(".json").write_text(json.dumps(rows, indent=1))

    print(f"machine: {machine()}", flush=True)
    start = time.perf_counter()
    for name in args.sets:
        run_set(name, args, sink)
    print(f"\ntotal {time.perf_counter() - start:.0f} s\n")
    pd.DataFrame(rows).to_csv(out.with_suffix(".csv"), index=False)
    print(summary(rows))


if __name__ == "__main__":
    main()
