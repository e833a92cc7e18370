"""Cost of deep KL-NMF vs a plain KL-NMF of rank r_1 for the same number of sweeps.

    nice python benchmarks/deep_nmf_speed.py --n-cells 100000 --n-genes 2000

Deep NMF (Algorithm 1, ranks ``--ranks``): ``--n-init-iter`` multilayer MU iterations per
layer, then ``--max-iter`` sweeps (tol=0, no multilayer baseline). Plain KL-NMF: ``tl.nmf``'s
MU with rank r_1 for ``n_init_iter + max_iter`` iterations from a random start. Both on the
same float32 CSR counts from ``scnmf.datasets.synthetic_counts``. Time per deep sweep is
(time of the deep call − time of the same call with 0 sweeps) / ``max_iter``; the 0-sweep call
is the initialisation. ``--profile`` prints where the deep call spends its time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
from pathlib import Path

import anndata as ad
import numpy as np
from _common import from_start, machine, markdown_table, peak_rss_gib, quiet, timed

import scnmf as snmf
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
    quiet()
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

    def deep(n_sweeps: int, data=X):
        snmf.tl.deep_nmf(
            ad.AnnData(data),
            ranks,
            n_init_iter=args.n_init_iter,
            max_iter=n_sweeps,
            tol=0,
            multilayer_baseline=False,
        )

    deep(2, X[:500])  # warm the numba kernels on a small slice so compilation is not timed

    rng = np.random.default_rng(0)
    scale = np.sqrt(X.sum(dtype=np.float64) / np.prod(X.shape) / (0.25 * ranks[0]))
    W0 = (scale * rng.random((X.shape[0], ranks[0]))).astype(np.float32)
    H0 = (scale * rng.random((ranks[0], X.shape[1]))).astype(np.float32)
    kl = {"beta_loss": "kullback-leibler", "solver": "mu", "tol": 0}
    from_start(X[:500], W0[:500], H0, max_iter=1, **kl)  # and the plain MU's
    plain, t_plain = timed(from_start, X, W0, H0, max_iter=total, **kl)

    _, init_time = timed(deep, 0)
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    _, t_deep = timed(deep, args.max_iter)
    if profiler:
        profiler.disable()
    per_sweep = (t_deep - init_time) / args.max_iter if args.max_iter else np.nan
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
            f"{args.n_init_iter} init + {args.max_iter} sweeps",
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
        f"final loss plain {plain.uns['nmf']['loss'][-1]:.6g}; "
        f"peak RSS {peak_rss_gib():.1f} GiB"
    )
    print(summary)
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(summary + "\n")


if __name__ == "__main__":
    main()
