"""Cost of deep KL-NMF vs a plain KL-NMF of rank r_1 for the same number of sweeps.

    nice python benchmarks/deep_nmf_speed.py --n-cells 100000 --n-genes 2000

Deep NMF (Algorithm 1, ranks ``--ranks``): ``--n-init-iter`` multilayer MU iterations per
layer, then ``--max-iter`` sweeps (tol=0, no multilayer baseline). Plain KL-NMF: the engine's
MU with rank r_1 for ``n_init_iter + max_iter`` iterations from a random start. Both on the
same float32 CSR counts from ``scnmf.datasets.synthetic_counts``. ``--profile`` prints where
the deep sweeps spend their time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from pathlib import Path

import numpy as np
from _common import machine, markdown_table, peak_rss_gib

from scnmf._core.deep.fit import deep_nmf
from scnmf._core.nmf.mu import mu
from scnmf.datasets import synthetic_counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-cells", type=int, default=100_000)
    parser.add_argument("--n-genes", type=int, default=2000)
    parser.add_argument("--density", type=float, default=0.12)
    parser.add_argument("--ranks", type=int, nargs="+", default=[20, 10, 5])
    parser.add_argument("--n-init-iter", type=int, default=20)
    parser.add_argument("--max-iter", type=int, default=20)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    ranks = tuple(args.ranks)
    total = args.n_init_iter + args.max_iter

    adata = synthetic_counts(
        n_cells=args.n_cells,
        n_genes=args.n_genes,
        n_programs=ranks[0],
        density=args.density,
        random_state=0,
    )
    X = adata.X  # cells × genes, float32 CSR
    print(f"data: {X.shape[0]} × {X.shape[1]}, nnz {X.nnz:,} ({X.nnz / np.prod(X.shape):.3f})")

    # warm the numba kernels on a small slice so compilation is not timed
    deep_nmf(X[:500].T, ranks, n_init_iter=2, max_iter=2)

    rng = np.random.default_rng(0)
    scale = np.sqrt(X.sum(dtype=np.float64) / np.prod(X.shape) / (0.25 * ranks[0]))
    W0 = (scale * rng.random((X.shape[0], ranks[0]))).astype(np.float32)
    H0 = (scale * rng.random((ranks[0], X.shape[1]))).astype(np.float32)
    start = time.perf_counter()
    plain = mu(X, W0, H0, beta=1.0, max_iter=total, tol=0)
    t_plain = time.perf_counter() - start

    stamps: dict[str, list[float]] = {"init": [], "sweep": []}

    def clock(phase: str, step: int, value: float) -> None:
        stamps.setdefault(phase, []).append(time.perf_counter())

    profiler = cProfile.Profile() if args.profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    res = deep_nmf(
        X.T,
        ranks,
        n_init_iter=args.n_init_iter,
        max_iter=args.max_iter,
        tol=0,
        callback=clock,
    )
    if profiler:
        profiler.disable()
    t_deep = time.perf_counter() - start
    sweep_stamps = np.asarray(stamps["sweep"])
    per_sweep = float(np.median(np.diff(sweep_stamps))) if sweep_stamps.size > 1 else np.nan
    init_time = (sweep_stamps[0] if sweep_stamps.size else start + t_deep) - start
    per_mu = t_plain / total

    rows = [
        [
            f"plain KL-NMF, rank {ranks[0]}",
            f"{total} iterations",
            f"{t_plain:.1f}",
            f"{per_mu:.3f}",
        ],
        [
            f"deep KL-NMF, ranks {ranks}",
            f"{args.n_init_iter} init + {res.n_iter} sweeps",
            f"{t_deep:.1f}",
            f"{per_sweep:.3f} (sweep)",
        ],
    ]
    table = markdown_table(["method", "budget", "time (s)", "s / iteration"], rows)
    summary = (
        f"Machine: {machine()}\n\nData: synthetic_counts {X.shape[0]} cells × {X.shape[1]} genes, "
        f"nnz {X.nnz:,}\n\n{table}\n\n"
        f"deep / plain time: **{t_deep / t_plain:.2f}×** (target ≤ 1.5×); "
        f"one deep sweep = {per_sweep / per_mu:.2f} plain iterations; "
        f"initialisation (all layers) {init_time:.1f} s; "
        f"final loss plain {plain.loss[-1]:.6g}; peak RSS {peak_rss_gib():.1f} GiB"
    )
    print(summary)
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(summary + "\n")


if __name__ == "__main__":
    main()
