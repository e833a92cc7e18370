"""Recovery of planted real gene programs under correlation and noise: AGD vs MU, HALS, CD.

The single-cell version of Li & Liang's (2017) semi-synthetic study. Data:
``scnmf.datasets.correlated_programs`` (programs learned on real PBMC counts, sparse activities
with a tunable latent correlation). Every method starts from the same warm start (NNDSVDa then
``--warm`` Frobenius MU iterations) and runs ``--iters`` iterations (AGD: stages of 50 inner
steps); each baseline is then also given AGD's wall time (compute-matched: ``max_iter`` scaled
by the ratio of AGD's time to the method's own time for ``--iters`` iterations). All of
scnmf's fits are ``scnmf.tl.nmf`` calls from the warm start (``init='custom'``).
Error: relative Frobenius error of unit-norm programs after Hungarian matching.

Run::

    nice python benchmarks/agd_recovery.py            # full: 5 seeds
    nice python benchmarks/agd_recovery.py --quick    # 2 seeds, fewer levels
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
from _common import factors, from_start, machine, markdown_table, nmf, quiet, timed

from scnmf.datasets import correlated_programs
from scnmf.metrics import matched_relative_error

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ["AGD", "MU-Fro", "MU-KL", "HALS", "sklearn-CD"]
#: tl.nmf settings of our methods; ``max_iter`` is the iteration (AGD: stage) budget.
SETTINGS = {
    "AGD": {"solver": "agd"},
    "MU-Fro": {"solver": "mu", "beta_loss": "frobenius"},
    "MU-KL": {"solver": "mu", "beta_loss": "kullback-leibler"},
    "HALS": {"solver": "hals"},
}


def _sklearn_cd(X, W, H, max_iter):
    from sklearn.decomposition import NMF

    model = NMF(W.shape[1], init="custom", solver="cd", max_iter=max_iter, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit_transform(X, W=W.astype(X.dtype), H=H.astype(X.dtype))
    return model.components_


def _run(method, X, W, H, iters):
    """Programs (k × genes) after ``iters`` iterations of ``method`` from ``(W, H)``."""
    if method == "sklearn-CD":
        return _sklearn_cd(X, W, H, iters)
    if method == "AGD":  # no warm-start iterations: the stages start from (W, H)
        kwargs = {"max_iter": 0, "agd_options": {"n_stages": iters, "warm_start": "mu"}}
    else:
        kwargs = {"max_iter": iters}
    return factors(from_start(X, W, H, tol=0, **SETTINGS[method], **kwargs))[1]


def one(correlation, noise, seed, args):
    adata = correlated_programs(
        args.cells, args.genes, args.k, correlation, noise, random_state=seed
    )
    X = adata.X.astype(np.float64)
    H_true = adata.varm["true_programs"].T
    warm = nmf(X, args.k, solver="mu", max_iter=args.warm, tol=0, random_state=seed)
    W, H = factors(warm)
    row = {"warm": matched_relative_error(H_true, H)}
    times = {}
    for method in METHODS:
        H_est, times[method] = timed(_run, method, X, W, H, args.iters)
        row[method] = matched_relative_error(H_true, H_est)
    t_agd = times["AGD"]
    for method in METHODS[1:]:
        n = max(args.iters, int(round(args.iters * t_agd / max(times[method], 1e-9))))
        row[method + "@t"] = matched_relative_error(H_true, _run(method, X, W, H, n))
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
    parser.add_argument("--out", default=str(RESULTS / "agd_recovery.md"), help="(and .png)")
    args = parser.parse_args()
    quiet()
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
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    _plot(results, out.with_suffix(".png"))
    print(text)


def _plot(results, path: Path):
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
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
