"""Consensus NMF: ``scnmf.tl.consensus_nmf`` against cNMF 1.7.1 (issue 14, item 7).

    python benchmarks/consensus_vs_cnmf.py --data-dir DIR            # pbmc3k, both tools
    python benchmarks/consensus_vs_cnmf.py --scale                   # 100,000 planted cells

Needs ``cnmf`` (``pip install cnmf==1.7.1``) importable beside scnmf (one environment holds
both; ``pip check`` is clean). Results: ``benchmarks/results/consensus_vs_cnmf_<run>.json``
and ``consensus_vs_cnmf.md``, rendered from every such JSON file.

**pbmc3k (default).** ``pbmc3k_labelled.h5ad`` (raw counts in ``X``) from ``--data-dir`` or
``$SCNMF_DATA_DIR``, genes seen in < 3 cells dropped (scanpy's usual filter), is written to
``--work-dir`` (never into the repo). Each of ``--repeats`` rounds, in this one process, with
seed ``--seed + round``:

- cNMF, its own pipeline, one worker: ``prepare`` (2,000 over-dispersed genes scaled to unit
  variance without centring; Frobenius, scikit-learn CD, random init, ``max_iter`` 1000,
  ``tol`` 1e-4), ``factorize``, ``combine``, ``consensus`` at every k (density threshold
  0.5, no clustergram) and ``k_selection_plot``, every stage timed;
- scnmf on the matrix cNMF factorised (``cnmf_tmp/<name>.norm_counts.h5ad``): reading it and
  one ``tl.consensus_nmf`` call with the same ks, replicates and options (``--scnmf-tol``).

Reported: wall and CPU seconds per stage (CPU / wall = cores kept busy), medians and their
ratio; the consensus programs at ``--compare-k`` Hungarian-matched to cNMF's (Pearson r over
the genes), and each tool against itself across seeds; the k each tool picks (scnmf:
``uns['cnmf']['k']``; cNMF leaves k to the user: the argmax of its silhouette is shown);
the 1-minute load average around every round. ``--profile``: one more scnmf call under
cProfile, its most expensive functions.

**--scale.** :func:`planted_counts` writes a seeded 100,000 × 2,000 matrix with planted
programs to ``--work-dir``. scnmf runs k = 10…20 step 2 × 20 replicates in a child process
(peak memory: the child's ``VmHWM``); cNMF's time is estimated from single scikit-learn fits
with the NMF options cNMF's ``prepare`` writes, on the same matrix, each in a child.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib.util
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import scanpy as sc
import scipy.sparse as sp
from _common import labelled, machine, markdown_table, quiet
from scipy.optimize import linear_sum_assignment

import scnmf as snmf

KEY = "cnmf"  # key_added of every scnmf call here
RESULTS = Path(__file__).parent / "results"
NOTES = "<!-- notes: kept when the report is re-rendered -->"


def k_range(text: str) -> list[int]:
    """``'5-10'`` → 5…10, ``'10-20:2'`` → 10, 12, …, 20, ``'7'`` → [7]."""
    span, _, step = text.partition(":")
    lo, _, hi = span.partition("-")
    return list(range(int(lo), int(hi or lo) + 1, int(step or 1)))


class Stopwatch:
    """Wall and process CPU seconds (all threads) per named stage."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str):
        w0, c0 = time.perf_counter(), time.process_time()
        yield
        self.wall[stage] = self.wall.get(stage, 0.0) + time.perf_counter() - w0
        self.cpu[stage] = self.cpu.get(stage, 0.0) + time.process_time() - c0


def peak_rss_gib() -> float:
    """Peak RSS from ``VmHWM``, which exec resets (``ru_maxrss`` keeps the parent's peak)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    return float("nan")


def wait_quiet(below: float | None, limit_s: float = 3600.0) -> float:
    """Wait (up to ``limit_s``) until the 1-minute load average is below ``below``; the load."""
    start = time.monotonic()
    while below is not None and os.getloadavg()[0] >= below:
        if time.monotonic() - start > limit_s:
            break
        time.sleep(15)
    return os.getloadavg()[0]


def pbmc_counts(data_dir: str | None, work: Path) -> Path:
    """pbmc3k raw counts, genes in ≥ 3 cells (the usual scanpy filter), as an h5ad for cNMF."""
    path = work / "pbmc3k_counts.h5ad"
    if not path.is_file():
        adata = labelled("pbmc3k_labelled", data_dir)
        sc.pp.filter_genes(adata, min_cells=3)
        ad.AnnData(adata.X, obs=adata.obs[[]], var=adata.var[[]]).write_h5ad(path)
    return path


def run_cnmf(counts: Path, work: Path, name: str, ks, args, seed: int) -> dict:
    """cNMF's whole pipeline with one worker: stage timings, k-selection stats, spectra."""
    import matplotlib

    matplotlib.use("Agg")  # cNMF draws its k-selection figure; no display needed
    import matplotlib.pyplot as plt
    from cnmf import cNMF
    from cnmf.cnmf import load_df_from_npz

    shutil.rmtree(work / name, ignore_errors=True)
    sw = Stopwatch()
    # cNMF prints a line per replicate: keep it off the terminal (it stays in the timing)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj = cNMF(output_dir=str(work), name=name)
        with sw("prepare"):
            obj.prepare(str(counts), components=ks, n_iter=args.n_replicates, seed=seed)
        with sw("factorize"):
            if args.cnmf_workers > 1:  # cNMF's own multiprocessing (a Pool of workers)
                obj.factorize_multi_process(args.cnmf_workers)
            else:
                obj.factorize(worker_i=0, total_workers=1)
        with sw("combine"):
            obj.combine()
        for k in ks:
            with sw(f"consensus k={k}"):
                obj.consensus(k, args.dt, show_clustering=False, close_clustergram_fig=True)
        with sw("k_selection_plot"):
            obj.k_selection_plot(close_fig=True)
    plt.close("all")
    stats = load_df_from_npz(obj.paths["k_selection_stats"])
    spectra = load_df_from_npz(
        obj.paths["consensus_spectra"] % (args.compare_k, str(args.dt).replace(".", "_"))
    )
    return {
        "wall": sw.wall,
        "cpu": sw.cpu,
        "norm_counts": obj.paths["normalized_counts"],
        "k": [int(k) for k in stats["k"]],
        "stability": [float(s) for s in stats["silhouette"]],
        "error": [float(e) for e in stats["prediction_error"]],
        "pick": int(stats["k"].iloc[int(np.argmax(stats["silhouette"].to_numpy()))]),
        "programs": (list(spectra.columns), spectra.to_numpy()),
    }


def scnmf_call(adata: ad.AnnData, ks, args, seed: int, select: int | None = None) -> None:
    """``tl.consensus_nmf`` with cNMF's options (the solver is scnmf's default choice)."""
    snmf.tl.consensus_nmf(
        adata,
        ks,
        n_replicates=args.n_replicates,
        beta_loss="frobenius",
        init="random",
        max_iter=1000,
        tol=args.scnmf_tol,
        density_threshold=args.dt,
        local_neighborhood_size=0.3,
        select=select,
        mask_var=None,
        random_state=seed,
        key_added=KEY,
    )


def run_scnmf(norm_counts: str, ks, args, seed: int) -> dict:
    """Read cNMF's normalised matrix and run one ``tl.consensus_nmf`` call, timed; then the
    consensus at ``--compare-k`` (untimed: only the selected k is stored, so another k is
    refitted alone — its replicate seeds do not depend on the other ks)."""
    sw = Stopwatch()
    with sw("read norm_counts"):
        adata = ad.read_h5ad(norm_counts)
    with sw("consensus_nmf"):
        scnmf_call(adata, ks, args, seed)
    uns = adata.uns[KEY]
    table, pick = uns["k_selection"], int(uns["k"])
    n_iter = np.asarray(uns["n_iter"])
    if pick != args.compare_k:
        adata = adata.copy()
        scnmf_call(adata, [args.compare_k], args, seed, select=args.compare_k)
    return {
        "wall": sw.wall,
        "cpu": sw.cpu,
        "k": [int(k) for k in table["k"]],
        "stability": [float(s) for s in table["stability"]],
        "error": [float(e) for e in table["error"]],
        "n_iter_median": [float(np.median(row)) for row in n_iter],
        "pick": pick,
        "programs": (list(adata.var_names), np.asarray(adata.varm[f"{KEY}_programs"]).T),
    }


def matched_r(a: tuple, b: tuple) -> list[float]:
    """Pearson r of Hungarian-matched programs; ``a``, ``b`` = (genes, programs × genes)."""
    order = {g: i for i, g in enumerate(b[0])}
    A, B = a[1], b[1][:, [order[g] for g in a[0]]]
    r = np.corrcoef(A, B)[: len(A), len(A) :]
    rows, cols = linear_sum_assignment(-r)
    return sorted(float(x) for x in r[rows, cols])


def profile_scnmf(norm_counts: str, ks, args) -> list[list]:
    """(function, cumulative s, calls) of one cProfiled call: scnmf/sklearn functions ≥ 2 %."""
    adata = ad.read_h5ad(norm_counts)
    prof = cProfile.Profile()
    prof.runcall(scnmf_call, adata, ks, args, args.seed)
    stats = pstats.Stats(prof).stats
    total = max(ct for *_, ct, _ in stats.values())
    rows = []
    for (path, line, fn), (_, calls, _, cum, _) in stats.items():
        if cum >= 0.02 * total and ("scnmf" in path or "sklearn" in path):
            short = path.split("site-packages/")[-1].split("scnmf/", 1)[-1]
            rows.append([f"{fn} ({short}:{line})", cum, calls])
    return sorted(rows, key=lambda r: -r[1])


def small(args: argparse.Namespace, work: Path) -> dict:
    """pbmc3k: both tools, ``--repeats`` rounds in this process."""
    ks = k_range(args.ks)
    counts = pbmc_counts(args.data_dir, work)
    rounds = []
    for i in range(args.repeats):
        seed = args.seed + i
        row = {"seed": seed, "load": [wait_quiet(args.quiet_below)]}
        row["cnmf"] = run_cnmf(counts, work, f"pbmc3k_r{i}", ks, args, seed)
        row["load"].append(os.getloadavg()[0])
        row["scnmf"] = None
        if not args.cnmf_only:
            row["load"].append(wait_quiet(args.quiet_below))
            row["scnmf"] = run_scnmf(row["cnmf"]["norm_counts"], ks, args, seed)
            row["load"].append(os.getloadavg()[0])
            row["r_vs_cnmf"] = matched_r(row["scnmf"]["programs"], row["cnmf"]["programs"])
        rounds.append(row)
        brief = {t: row[t]["wall"] for t in ("cnmf", "scnmf") if row[t]}
        print(json.dumps({"seed": seed, "load": row["load"], **brief}), flush=True)
    within = {}
    for tool in ("cnmf", "scnmf"):
        runs = [rd[tool]["programs"] for rd in rounds if rd[tool]]
        within[tool] = [matched_r(runs[0], other) for other in runs[1:]]
    X = ad.read_h5ad(rounds[0]["cnmf"]["norm_counts"]).X
    result = {"ks": ks, "n_replicates": args.n_replicates, "compare_k": args.compare_k}
    result["cnmf_workers"] = args.cnmf_workers
    result |= {"density_threshold": args.dt, "scnmf_tol": args.scnmf_tol, "within_r": within}
    result["matrix"] = {"shape": list(X.shape), "nnz": int(X.nnz), "dtype": str(X.dtype)}
    if args.profile and not args.cnmf_only:
        result["profile"] = profile_scnmf(rounds[0]["cnmf"]["norm_counts"], ks, args)
    for rd in rounds:  # the programs served the comparison; keep the JSON small
        for tool in ("cnmf", "scnmf"):
            if rd[tool]:
                rd[tool].pop("programs")
    return result | {"rounds": rounds}


# --- at scale ------------------------------------------------------------------------------


def planted_counts(
    n_cells: int,
    n_genes: int,
    n_programs: int,
    seed: int,
    depth: float,
    dispersion: float = 0.2,
    chunk: int = 10_000,
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Negative-binomial (gamma–Poisson) counts from planted usage × spectra, in row chunks.

    Spectra (``n_programs × n_genes``, rows sum to 1): a lognormal level per gene times
    (a floor of 0.02 + gamma(0.5) loadings on a random 15 % of genes per program). Usage:
    each cell has a main program (weight 0.6) plus a Dirichlet(0.1) mixture of all (0.4).
    Library sizes lognormal around ``depth``; counts ``Poisson(Gamma(1/dispersion, mean))``
    with mean = library · usage · spectra. Returns the CSR float64 counts and the spectra.
    """
    rng = np.random.default_rng(seed)
    level = rng.lognormal(0.0, 1.0, n_genes)
    member = rng.random((n_programs, n_genes)) < 0.15
    spectra = level * (0.02 + member * rng.gamma(0.5, 4.0, (n_programs, n_genes)))
    spectra /= spectra.sum(axis=1, keepdims=True)
    usage = 0.4 * rng.dirichlet(np.full(n_programs, 0.1), n_cells)
    usage[np.arange(n_cells), rng.integers(0, n_programs, n_cells)] += 0.6
    library = rng.lognormal(np.log(depth), 0.4, n_cells)
    shape = 1.0 / dispersion
    blocks = []
    for start in range(0, n_cells, chunk):  # one dense chunk at a time bounds the memory
        mean = library[start : start + chunk, None] * (usage[start : start + chunk] @ spectra)
        blocks.append(sp.csr_matrix(rng.poisson(rng.gamma(shape, mean / shape)), dtype=float))
    return sp.vstack(blocks, format="csr"), spectra


def unit_variance(X: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """Genes scaled to unit variance (ddof 1) without centring, as cNMF's ``prepare``; and
    the scale of each gene."""
    n = X.shape[0]
    mean = np.asarray(X.mean(axis=0)).ravel()
    var = (np.asarray(X.multiply(X).mean(axis=0)).ravel() - mean**2) * n / (n - 1)
    std = np.sqrt(np.maximum(var, 0.0))
    std = np.where(std > 0, std, 1.0)
    return (X @ sp.diags(1.0 / std)).tocsr(), std


def scale_matrix(args: argparse.Namespace, work: Path) -> tuple[Path, dict]:
    """The seeded planted matrix in ``work``, made once (its recipe is in its name)."""
    name = f"planted_{args.scale_cells}x{args.scale_genes}_p{args.planted}_d{args.depth:g}"
    path = work / f"{name}_s{args.seed}.h5ad"
    if not path.is_file():
        t0 = time.perf_counter()
        counts, spectra = planted_counts(
            args.scale_cells, args.scale_genes, args.planted, args.seed, args.depth
        )
        X, std = unit_variance(counts)
        adata = ad.AnnData(X, uns={"generated_s": time.perf_counter() - t0})
        adata.varm["planted"] = (spectra / std).T  # the programs of the scaled matrix
        adata.write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    meta = {"shape": list(backed.shape), "generated_s": float(backed.uns["generated_s"])}
    meta["nnz"] = int(backed.file["X"]["data"].shape[0])
    backed.file.close()
    return path, meta


def child(args: list[str]) -> dict:
    """This script's ``--worker`` mode in a fresh process; its JSON answer (last line)."""
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def worker(args: argparse.Namespace) -> None:
    """Child side: one timed job on ``--matrix``; prints one JSON line."""
    quiet()
    t0 = time.perf_counter()
    adata = ad.read_h5ad(args.matrix)
    out: dict = {"read_s": time.perf_counter() - t0}
    if args.worker == "scnmf":
        planted = adata.varm.pop("planted")
        t0, c0 = time.perf_counter(), time.process_time()
        scnmf_call(adata, k_range(args.scale_ks), args, args.seed)
        out |= {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
        uns = adata.uns[KEY]
        out |= {"pick": int(uns["k"]), "k": [int(k) for k in uns["k_selection"]["k"]]}
        out["stability"] = [float(s) for s in uns["k_selection"]["stability"]]
        out["n_iter_median"] = [float(np.median(row)) for row in np.asarray(uns["n_iter"])]
        if out["pick"] == planted.shape[1]:  # recovery of the planted programs
            found = np.asarray(adata.varm[f"{KEY}_programs"])
            cos = (found / np.linalg.norm(found, axis=0)).T @ (
                planted / np.linalg.norm(planted, axis=0)
            )
            rows, cols = linear_sum_assignment(-cos)
            out["planted_cosine"] = sorted(float(x) for x in cos[rows, cols])
    else:  # one scikit-learn fit with the NMF options cNMF's ``prepare`` writes
        from cnmf import cNMF
        from sklearn.decomposition import non_negative_factorization

        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
            _, kwargs = cNMF(output_dir=tmp, name="x").get_nmf_iter_params(
                [args.fit_k], 1, beta_loss="frobenius", init="random", max_iter=1000
            )
        kwargs |= {"n_components": args.fit_k, "random_state": args.seed + 1}
        t0, c0 = time.perf_counter(), time.process_time()
        *_, n_iter = non_negative_factorization(adata.X, **kwargs)
        out |= {"k": args.fit_k, "wall_s": time.perf_counter() - t0, "n_iter": int(n_iter)}
        out |= {"cpu_s": time.process_time() - c0, "kwargs": kwargs}
    out["peak_rss_gib"] = peak_rss_gib()
    print(json.dumps(out, default=str), flush=True)


def scale(args: argparse.Namespace, work: Path) -> dict:
    """The planted matrix: scnmf timed in a child, cNMF estimated from timed single fits."""
    path, meta = scale_matrix(args, work)
    common = ["--matrix", str(path), "--seed", str(args.seed), "--dt", str(args.dt)]
    common += ["--n-replicates", str(args.n_replicates), "--scnmf-tol", str(args.scnmf_tol)]
    result = {"matrix": meta, "ks": k_range(args.scale_ks), "n_replicates": args.n_replicates}
    result |= {"planted": args.planted, "depth": args.depth, "scnmf_tol": args.scnmf_tol}
    result |= {"load": [], "cnmf_fits": []}
    for k in k_range(args.cnmf_fit_ks):
        result["load"].append(wait_quiet(args.quiet_below))
        result["cnmf_fits"].append(child(["--worker", "cnmf-fit", "--fit-k", str(k), *common]))
        result["load"].append(os.getloadavg()[0])
        print(json.dumps(result["cnmf_fits"][-1]), flush=True)
    if not args.cnmf_only:
        result["load"].append(wait_quiet(args.quiet_below))
        result["scnmf"] = child(["--worker", "scnmf", "--scale-ks", args.scale_ks, *common])
        result["load"].append(os.getloadavg()[0])
        print(json.dumps(result["scnmf"]), flush=True)
    return result


# --- report --------------------------------------------------------------------------------


def _med(xs) -> float:
    return statistics.median(xs) if len(xs) else float("nan")


def _fmt(xs, f: str = ".2f", sep: str = " / ") -> str:
    return sep.join(format(x, f) for x in xs)


def _totals(rd: dict, ck: int) -> tuple[float, float, float]:
    """A pbmc3k round's cNMF end to end, cNMF same work (see the table note), scnmf."""
    w, s = rd["cnmf"]["wall"], rd["scnmf"]
    same = w["factorize"] + w["combine"] + w["k_selection_plot"] + w[f"consensus k={ck}"]
    return sum(w.values()), same, sum(s["wall"].values()) if s else float("nan")


def _summary(results: list[tuple[str, dict]]) -> list[str]:
    """One row per result file: medians, ratio, program agreement, k picked."""
    rows = []
    for _, r in results:
        if "cnmf_fits" in r:
            s, fits = r.get("scnmf") or {}, r["cnmf_fits"]
            fk, ft = [f["k"] for f in fits], [f["wall_s"] for f in fits]
            est = sum(float(np.interp(k, fk, ft)) for k in r["ks"]) * r["n_replicates"]
            ours = s.get("wall_s", float("nan"))
            cos = s.get("planted_cosine") or [float("nan")]
            rows.append(
                [
                    f"{r['matrix']['shape'][0]:,} planted cells, k = {r['ks'][0]}…"
                    f"{r['ks'][-1]}, tol {r['scnmf_tol']:g}",
                    f"{est:.0f} (estimate)",
                    f"{ours:.0f}",
                    f"{est / ours:.1f}×",
                    f"planted cosine {min(cos):.4f} (min)",
                    f"{s.get('pick')} / -",
                    f"{s.get('peak_rss_gib', float('nan')):.2f}",
                    f"{max(r['load']):.2f}",
                ]
            )
            continue
        ck, rounds = r["compare_k"], r["rounds"]
        t = np.array([_totals(rd, ck) for rd in rounds])
        rs = [rd["r_vs_cnmf"] for rd in rounds if rd.get("r_vs_cnmf")]
        picks = [f"{rd['scnmf']['pick'] if rd['scnmf'] else '-'}" for rd in rounds]
        picks_c = [str(rd["cnmf"]["pick"]) for rd in rounds]
        rows.append(
            [
                f"pbmc3k, k = {r['ks'][0]}…{r['ks'][-1]}, tol {r['scnmf_tol']:g}, cNMF "
                f"{r.get('cnmf_workers', 1)} worker(s)",
                f"{_med(t[:, 1]):.1f}",
                f"{_med(t[:, 2]):.1f}",
                f"{_med(t[:, 1] / t[:, 2]):.1f}×",
                f"{_med([_med(x) for x in rs]):.4f} / {min(min(x) for x in rs):.4f}",
                f"{', '.join(picks)} / {', '.join(picks_c)}",
                "-",
                f"{max(max(rd['load']) for rd in rounds):.2f}",
            ]
        )
    head = [
        "run",
        "cNMF s (median)",
        "scnmf s (median)",
        "ratio (median)",
        "k = 7 programs: median r / min r",
        "k picked: scnmf / cNMF argmax",
        "scnmf peak GiB",
        "max load seen",
    ]
    return [
        "## Summary",
        "",
        markdown_table(head, rows),
        "",
        "cNMF s: on pbmc3k the same work as one scnmf call (factorize, combine, k-selection, "
        "one consensus); at scale its factorize alone, estimated. Targets: ≥ 10× faster on "
        "2 cores, median r ≥ 0.95, < 15 min at scale. Max load: the largest 1-minute load "
        "average recorded before or after a run; this benchmark alone drives it towards 1 (one "
        "busy thread) or 2 (two), so values up to 2 need not mean other work.",
        "",
    ]


def _render_small(r: dict) -> list[str]:
    ck, rounds = r["compare_k"], r["rounds"]
    shape, nnz = r["matrix"]["shape"], r["matrix"]["nnz"]
    lines = [
        f"## pbmc3k: k = {r['ks'][0]}…{r['ks'][-1]} × {r['n_replicates']} replicates, "
        f"scnmf tol = {r['scnmf_tol']:g}, cNMF factorize workers = {r.get('cnmf_workers', 1)}",
        "",
        f"Command: `{r['command']}`" + (f". {r['label']}" if r.get("label") else ""),
        "",
        f"Matrix: cNMF's `norm_counts.h5ad`, {shape[0]} × {shape[1]}, {nnz:,} nonzeros "
        f"({nnz / np.prod(shape):.1%}), {r['matrix']['dtype']}.",
        "",
    ]
    rows, cols = [], {"all": [], "same": [], "ours": [], "ratio": [], "ratio_all": []}
    for rd in rounds:
        w, s = rd["cnmf"]["wall"], rd["scnmf"]
        t_all, t_same, t_ours = _totals(rd, ck)
        cons = sum(v for key, v in w.items() if key.startswith("consensus"))
        cols["all"].append(t_all), cols["same"].append(t_same)
        if s:
            cols["ours"].append(t_ours), cols["ratio"].append(t_same / t_ours)
            cols["ratio_all"].append(t_all / t_ours)
        stages = [w["prepare"], w["factorize"], w["combine"], cons, w["k_selection_plot"]]
        rows.append(
            [str(rd["seed"]), _fmt(rd["load"]), *(f"{x:.1f}" for x in stages)]
            + [f"{t_all:.1f}", f"{t_same:.1f}", f"{t_ours:.1f}"]
            + [f"{t_same / t_ours:.1f}×" if s else "-"]
        )
    med = {key: _med(v) for key, v in cols.items()}
    rows.append(
        ["**median**", "", "", "", "", "", ""]
        + [f"**{med[key]:.1f}**" for key in ("all", "same", "ours")]
        + [f"**{med['ratio']:.1f}×**"]
    )
    head = [
        "seed",
        "load: before / after cNMF, before / after scnmf",
        "cNMF prepare",
        "factorize",
        "combine",
        "consensus (every k)",
        "k_selection_plot",
        "cNMF end to end",
        "cNMF same work ¹",
        "scnmf end to end ²",
        "ratio ¹/²",
    ]
    lines += ["Wall seconds:", "", markdown_table(head, rows), ""]
    lines += [
        f"Ratio to cNMF's whole pipeline (median): {med['ratio_all']:.1f}×. "
        f"¹ factorize + combine + k_selection_plot + consensus at k = {ck} (the work one "
        "`tl.consensus_nmf` call does); cNMF's `prepare` (gene selection, scaling, TPM) and "
        "its consensus at the other ks left out. ² reading `norm_counts.h5ad` + one "
        "`tl.consensus_nmf` call. Load: the 1-minute load average (2 cores).",
        "",
    ]
    busy: dict[tuple[str, str], list[float]] = {}
    for rd in rounds:
        for tool in ("cnmf", "scnmf"):
            for stage, w in (rd[tool] or {"wall": {}})["wall"].items():
                if w >= 0.5:
                    busy.setdefault((tool, stage), []).append(rd[tool]["cpu"][stage] / w)
    rows = [[t, st, f"{_med(v):.2f}"] for (t, st), v in sorted(busy.items())]
    lines += ["Cores kept busy (process CPU s / wall s, median over rounds; stages ≥ 0.5 s):"]
    lines += ["", markdown_table(["tool", "stage", "CPU / wall"], rows), ""]
    first, rows = rounds[0], []
    for i, k in enumerate(first["cnmf"]["k"]):
        row = [str(k), f"{first['cnmf']['stability'][i]:.3f}", f"{first['cnmf']['error'][i]:.5g}"]
        if first["scnmf"]:
            s, j = first["scnmf"], first["scnmf"]["k"].index(k)
            row += [
                f"{s['stability'][j]:.3f}",
                f"{s['error'][j]:.5g}",
                f"{s['n_iter_median'][j]:.0f}",
            ]
        rows.append(row)
    head = [
        "k",
        "cNMF silhouette",
        "cNMF error",
        "scnmf stability",
        "scnmf error",
        "scnmf iterations (median)",
    ]
    lines += [f"k selection, seed {first['seed']}:", "", markdown_table(head, rows), ""]
    picks = {t: ", ".join(str(rd[t]["pick"]) for rd in rounds if rd[t]) for t in ("cnmf", "scnmf")}
    lines += [
        f"k picked, per seed: scnmf (`uns['cnmf']['k']`, the most stable k) "
        f"{picks['scnmf'] or '-'}; cNMF leaves k to the user (the argmax of its silhouette "
        f"is {picks['cnmf']}).",
        "",
    ]
    rows = [
        [
            f"scnmf vs cNMF, seed {rd['seed']}",
            f"{_med(rd['r_vs_cnmf']):.4f}",
            f"{min(rd['r_vs_cnmf']):.4f}",
            _fmt(rd["r_vs_cnmf"], ".3f", ", "),
        ]
        for rd in rounds
        if rd.get("r_vs_cnmf")
    ]
    for tool, runs in r["within_r"].items():
        for j, x in enumerate(runs, start=1):
            pair = f"{tool} vs {tool}, seed {rounds[0]['seed']} vs {rounds[j]['seed']}"
            rows.append([pair, f"{_med(x):.4f}", f"{min(x):.4f}", _fmt(x, ".3f", ", ")])
    lines += [
        f"Consensus programs at k = {ck} (density threshold {r['density_threshold']}), "
        "Hungarian-matched, Pearson r over the genes:",
        "",
    ]
    lines += [markdown_table(["pair", "median r", "min r", "all r"], rows), ""]
    if r.get("profile"):
        rows = [[name, f"{cum:.2f}", str(calls)] for name, cum, calls in r["profile"]]
        lines += [
            "cProfile of one more scnmf call (the first round's seed; scnmf and "
            "scikit-learn functions ≥ 2 % of it):",
            "",
        ]
        lines += [markdown_table(["function", "cumulative s", "calls"], rows), ""]
    return lines


def _render_scale(r: dict) -> list[str]:
    n_fits, fits, s = len(r["ks"]) * r["n_replicates"], r["cnmf_fits"], r.get("scnmf")
    fk, ft = [f["k"] for f in fits], [f["wall_s"] for f in fits]
    # per-fit cost linear in k between the timed ks (flat outside them)
    est = sum(float(np.interp(k, fk, ft)) for k in r["ks"]) * r["n_replicates"]
    shape, nnz = r["matrix"]["shape"], r["matrix"]["nnz"]
    lines = [
        f"## At scale: {shape[0]:,} planted cells × {shape[1]:,} genes, k = {r['ks'][0]}…"
        f"{r['ks'][-1]} step {r['ks'][1] - r['ks'][0]} × {r['n_replicates']} replicates, "
        f"scnmf tol = {r['scnmf_tol']:g}",
        "",
        f"Command: `{r['command']}`" + (f". {r['label']}" if r.get("label") else ""),
        "",
        f"Matrix: {nnz:,} nonzeros ({nnz / np.prod(shape):.1%}), {r['planted']} planted "
        f"programs, median depth {r['depth']:g} counts, scaled to unit variance; generated in "
        f"{r['matrix']['generated_s']:.0f} s. Load before / after each run (cNMF fits, then "
        f"scnmf): {_fmt(r['load'])}.",
        "",
    ]
    rows = [
        [
            f"cNMF fit (scikit-learn CD), k = {f['k']}, 1 replicate",
            f"{f['wall_s']:.1f}",
            f"{f['cpu_s'] / f['wall_s']:.2f}",
            f"{f['peak_rss_gib']:.2f}",
            f"{f['n_iter']} iterations",
        ]
        for f in fits
    ]
    rows.append(
        [
            f"cNMF factorize, estimated ({n_fits} fits)",
            f"**{est:.0f}** ({est / 3600:.1f} h)",
            "",
            "",
            "per-fit time interpolated in k",
        ]
    )
    if s:
        rows.append(
            [
                f"scnmf `tl.consensus_nmf` ({n_fits} fits + consensus)",
                f"**{s['wall_s']:.0f}** ({s['wall_s'] / 60:.1f} min)",
                f"{s['cpu_s'] / s['wall_s']:.2f}",
                f"{s['peak_rss_gib']:.2f}",
                f"picks k = {s['pick']}; reading the h5ad {s['read_s']:.1f} s",
            ]
        )
        rows.append(
            [
                "ratio (cNMF factorize estimate / scnmf)",
                f"**{est / s['wall_s']:.1f}×**",
                "",
                "",
                "cNMF's combine, consensus, k selection not counted",
            ]
        )
    lines += [markdown_table(["run", "wall s", "CPU / wall", "peak RSS GiB", "note"], rows), ""]
    if s:
        lines += [
            f"scnmf stability per k: {_fmt(s['stability'], '.3f', ', ')}; median "
            f"iterations per k: {_fmt(s['n_iter_median'], '.0f', ', ')}."
        ]
        if s.get("planted_cosine"):
            x = s["planted_cosine"]
            lines += [
                f"Planted programs recovered at k = {s['pick']}: cosine median "
                f"{_med(x):.4f}, min {min(x):.4f}."
            ]
        lines.append("")
    return lines


def render(out: Path) -> str:
    """The markdown report from every ``consensus_vs_cnmf_*.json`` in ``out``."""
    lines = ["# Consensus NMF: scnmf `tl.consensus_nmf` vs cNMF 1.7.1 (issue 14, item 7)", ""]
    lines += ["Rendered by `benchmarks/consensus_vs_cnmf.py` from the JSON files beside it.", ""]
    # the default pbmc3k run first, then its variants (``--tag``), then the scale runs
    paths = sorted(
        out.glob("consensus_vs_cnmf_*.json"),
        key=lambda p: ("scale" in p.name, p.stem.count("_") > 3, p.name),
    )
    results = [(p.name, json.loads(p.read_text())) for p in paths]
    lines += _summary(results)
    for name, r in results:
        lines += (_render_scale if "cnmf_fits" in r else _render_small)(r)
        v = r["versions"]
        pools = ", ".join(f"{k} {n}" for k, n in v.pop("threads").items())
        lines += [
            f"Machine: {r['machine']}; "
            + ", ".join(f"{k} {x}" for k, x in v.items())
            + f"; thread pools: {pools}. Data: `{name}`.",
            "",
        ]
    return "\n".join(lines)


def write_report(out: Path) -> Path:
    """Render ``consensus_vs_cnmf.md``; a hand-written part below :data:`NOTES` is kept."""
    report = out / "consensus_vs_cnmf.md"
    notes = report.read_text().partition(NOTES)[2] if report.is_file() else ""
    report.write_text(render(out) + (f"\n{NOTES}{notes}" if notes else ""))
    return report


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    from threadpoolctl import threadpool_info

    out = {}
    for name in ["scnmf", "cnmf", "scikit-learn", "numpy", "scipy", "numba", "anndata", "scanpy"]:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "-"
    out["threads"] = {t["internal_api"]: t["num_threads"] for t in threadpool_info()}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-dir", help="folder of pbmc3k_labelled.h5ad ($SCNMF_DATA_DIR)")
    p.add_argument("--work-dir", help="scratch for cNMF's files and the generated matrix")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ks", default="5-10", help="ks of the pbmc3k run ('5-10')")
    p.add_argument("--n-replicates", type=int, default=20)
    p.add_argument("--compare-k", type=int, default=7)
    p.add_argument("--dt", type=float, default=0.5, help="density threshold")
    p.add_argument("--scnmf-tol", type=float, default=1e-4, help="tol of tl.consensus_nmf")
    p.add_argument("--cnmf-workers", type=int, default=1, help="cNMF factorize processes")
    p.add_argument("--cnmf-only", action="store_true", help="skip scnmf (cNMF half only)")
    p.add_argument("--profile", action="store_true", help="cProfile one more scnmf call")
    p.add_argument("--scale", action="store_true", help="the planted large run instead")
    p.add_argument("--scale-cells", type=int, default=100_000)
    p.add_argument("--scale-genes", type=int, default=2000)
    p.add_argument("--scale-ks", default="10-20:2")
    p.add_argument("--planted", type=int, default=14, help="planted programs")
    p.add_argument("--depth", type=float, default=800.0, help="median counts per cell")
    p.add_argument("--cnmf-fit-ks", default="10-20:10", help="ks of the timed cNMF fits")
    p.add_argument("--quiet-below", type=float, help="wait for a 1-min load below this first")
    p.add_argument("--tag", default="", help="suffix of the result JSON (several variants)")
    p.add_argument("--label", default="", help="note printed with the result (e.g. the load)")
    p.add_argument("--out-dir", default=str(RESULTS))
    p.add_argument("--render", action="store_true", help="only re-render the report")
    p.add_argument("--worker", choices=["scnmf", "cnmf-fit"], help=argparse.SUPPRESS)
    p.add_argument("--matrix", help=argparse.SUPPRESS)
    p.add_argument("--fit-k", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    if args.render:
        return print(f"wrote {write_report(Path(args.out_dir))}")
    if importlib.util.find_spec("cnmf") is None:  # checked before minutes of work
        raise SystemExit("cnmf is not importable here: pip install cnmf==1.7.1")
    quiet()
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="consensus_bench_"))
    print(f"scratch (cNMF's files, generated data): {work}")
    work.mkdir(parents=True, exist_ok=True)
    result = {"command": " ".join(["python", *sys.argv]), "label": args.label}
    result |= (scale if args.scale else small)(args, work)
    result |= {"machine": machine(), "versions": versions()}
    out = Path(args.out_dir)
    name = f"consensus_vs_cnmf_{'scale' if args.scale else 'pbmc3k'}{args.tag}.json"
    (out / name).write_text(json.dumps(result, indent=1, default=float))
    print(f"wrote {out / name} and {write_report(out)}")


if __name__ == "__main__":
    main()
