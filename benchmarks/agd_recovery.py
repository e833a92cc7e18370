"""Recovery of planted real gene programs under correlation and noise: AGD vs MU, HALS, CD.

The single-cell version of Li & Liang's (2017) semi-synthetic study. Data:
``scnmf.datasets.correlated_programs`` (programs learned on real PBMC counts, sparse activities
with a tunable latent correlation). Every method starts from the same warm start (NNDSVDa then
``--warm`` Frobenius MU iterations) and runs ``--iters`` iterations (AGD: stages of 50 inner
steps); each baseline is then also given AGD's wall time (compute-matched; our solvers stop by
callback, scikit-learn's CD gets ``max_iter`` scaled by its measured time per iteration).
Error: relative Frobenius error of unit-norm programs after Hungarian matching.

Run::

    nice python benchmarks/agd_recovery.py            # full: 5 seeds
    nice python benchmarks/agd_recovery.py --quick    # 2 seeds, fewer levels
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from _common import machine, markdown_table

from scnmf._core.nmf.agd import agd
from scnmf._core.nmf.hals import hals
from scnmf._core.nmf.init import initialize
from scnmf._core.nmf.mu import mu
from scnmf.datasets import correlated_programs
from scnmf.metrics._recovery import matched_relative_error

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ["AGD", "MU-Fro", "MU-KL", "HALS", "sklearn-CD"]


class _Budget:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = time.perf_counter()

    def __call__(self, iteration: int, loss: float) -> bool:
        return time.perf_counter() - self.start >= self.seconds


def _sklearn_cd(X, W, H, max_iter):
    from sklearn.decomposition import NMF

    model = NMF(W.shape[1], init="custom", solver="cd", max_iter=max_iter, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit_transform(X, W=W.astype(X.dtype), H=H.astype(X.dtype))
    return model.components_


def _run(method, X, W, H, iters, budget=None):
    cb = None if budget is None else _Budget(budget)
    big = 10**6 if budget is not None else iters
    if method == "AGD":
        return agd(X, W, H, n_stages=iters).H
    if method == "MU-Fro":
        return mu(X, W, H, beta=2.0, max_iter=big, tol=0, callback=cb).H
    if method == "MU-KL":
        return mu(X, W, H, beta=1.0, max_iter=big, tol=0, callback=cb).H
    if method == "HALS":
        return hals(X, W, H, max_iter=big, tol=0, callback=cb).H
    raise ValueError(method)


def one(correlation, noise, seed, args):
    adata = correlated_programs(
        args.cells, args.genes, args.k, correlation, noise, random_state=seed
    )
    X = adata.X.astype(np.float64)
    H_true = adata.varm["true_programs"].T
    W0, H0 = initialize(X, args.k, init="nndsvda", random_state=seed)
    warm = mu(X, W0, H0, max_iter=args.warm, tol=0)
    row = {"warm": matched_relative_error(H_true, warm.H)}
    times = {}
    for method in METHODS:
        t0 = time.perf_counter()
        if method == "sklearn-CD":
            H = _sklearn_cd(X, warm.W, warm.H, args.iters)
        else:
            H = _run(method, X, warm.W, warm.H, args.iters)
        times[method] = time.perf_counter() - t0
        row[method] = matched_relative_error(H_true, H)
    t_agd = times["AGD"]
    for method in METHODS[1:]:
        if method == "sklearn-CD":
            n = max(args.iters, int(round(args.iters * t_agd / max(times[method], 1e-9))))
            H = _sklearn_cd(X, warm.W, warm.H, n)
        else:
            H = _run(method, X, warm.W, warm.H, args.iters, budget=t_agd)
        row[method + "@t"] = matched_relative_error(H_true, H)
    row["t_agd"] = t_agd
    return row


def summarise(rows):
    keys = rows[0].keys()
    return {k: (np.mean([r[k] for r in rows]), np.std([r[k] for r in rows])) for k in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--genes", type=int, default=300)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--iters", type=int, default=60)
    parser.add_argument("--warm", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--corrs", type=float, nargs="+", default=[0.0, 0.3, 0.6, 0.8, 0.9, 0.95])
    parser.add_argument("--noises", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.2, 0.4])
    args = parser.parse_args()
    corrs, noises = args.corrs, args.noises
    if args.quick:
        args.seeds, corrs, noises = 2, [0.0, 0.8, 0.95], [0.0, 0.2]
    seeds = range(args.seeds)
    sweeps = [("correlation", c, 0.0) for c in corrs] + [("noise", 0.9, s) for s in noises]
    header = ["sweep", "value", "warm"] + METHODS + [m + " @AGD time" for m in METHODS[1:]]
    table, results = [], []
    for sweep, corr, noise in sweeps:
        s = summarise([one(corr, noise, seed, args) for seed in seeds])
        results.append((sweep, corr if sweep == "correlation" else noise, s))
        cols = ["warm"] + METHODS + [m + "@t" for m in METHODS[1:]]
        table.append(
            [sweep, f"{corr if sweep == 'correlation' else noise:g}"]
            + [f"{s[c][0]:.3f} ± {s[c][1]:.3f}" for c in cols]
        )
        print(table[-1], f"AGD time {s['t_agd'][0]:.2f}s", flush=True)
    text = (
        f"# AGD recovery benchmark\n\n{machine()}\n\n"
        f"n = {args.cells} cells, m = {args.genes} genes, k = {args.k}, {args.seeds} seeds; "
        f"warm start NNDSVDa + {args.warm} MU iterations; {args.iters} iterations each; "
        "noise sweep at correlation 0.9. Relative error of unit-norm programs after "
        "Hungarian matching (mean ± sd).\n\n" + markdown_table(header, table) + "\n"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "agd_recovery.md").write_text(text)
    _plot(results)
    print(text)


def _plot(results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, sweep in zip(axes, ["correlation", "noise"], strict=True):
        xs = [v for s, v, _ in results if s == sweep]
        for method in METHODS:
            ys = [r[method][0] for s, _, r in results if s == sweep]
            ax.plot(xs, ys, marker="o", label=method)
        for method in ["HALS", "sklearn-CD"]:
            ys = [r[method + "@t"][0] for s, _, r in results if s == sweep]
            ax.plot(xs, ys, marker="x", ls="--", label=f"{method} @ AGD time")
        ax.set_xlabel("latent correlation" if sweep == "correlation" else "noise (rel. sd)")
        ax.set_ylabel("relative error after matching")
        ax.set_yscale("log")
        ax.set_title(f"recovery vs {sweep}")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(RESULTS / "agd_recovery.png", dpi=120)


if __name__ == "__main__":
    main()
