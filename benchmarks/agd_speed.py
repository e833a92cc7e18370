"""AGD time per epoch vs MU time per iteration on large sparse scRNA-like counts.

Data: ``scnmf.datasets.synthetic_counts`` (CSR, float32). One AGD epoch is one full-batch
stage (a pass over all cells: ``X pinv(H)``, ``Xᵀ W`` and ``n_inner`` k × m steps) or, in
mini-batch mode, ``n / batch_size`` steps. MU (Frobenius) time per iteration is measured with
the same data and rank.

Run::

    nice python benchmarks/agd_speed.py                       # 100,000 × 2,000, k = 20
    nice python benchmarks/agd_speed.py --cells 20000 --genes 1000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _common import IterationClock, machine, markdown_table

from scnmf._core.nmf.agd import agd
from scnmf._core.nmf.init import initialize
from scnmf._core.nmf.mu import mu
from scnmf.datasets import synthetic_counts

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--genes", type=int, default=2_000)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=10_000)
    args = parser.parse_args()
    t0 = time.perf_counter()
    X = synthetic_counts(args.cells, args.genes, n_programs=args.k, random_state=0).X
    t_gen = time.perf_counter() - t0
    W, H = initialize(X, args.k, init="random", random_state=0)
    mu(X, W, H, max_iter=1, tol=0)  # compile kernels
    clock = IterationClock()
    mu(X, W, H, max_iter=args.repeats, tol=0, callback=clock)
    t_mu = float(np.median(clock.per_iteration()))
    warm = mu(X, W, H, max_iter=3, tol=0)
    agd(X, warm.W, warm.H, n_stages=1, n_inner=1)  # compile
    clock = IterationClock()
    agd(X, warm.W, warm.H, n_stages=args.repeats, callback=clock)
    t_agd = float(np.median(clock.per_iteration()))
    steps = -(-args.cells // args.batch_size)
    clock = IterationClock()
    agd(
        X,
        warm.W,
        warm.H,
        n_stages=args.repeats,
        n_inner=steps,
        batch_size=args.batch_size,
        callback=clock,
    )
    t_sgd = float(np.median(clock.per_iteration()))
    rows = [
        ["MU (Frobenius), one iteration", f"{t_mu:.3f}", "1.00"],
        [
            "AGD full batch, one epoch (stage, 50 inner steps)",
            f"{t_agd:.3f}",
            f"{t_agd / t_mu:.2f}",
        ],
        [
            f"AGD mini-batch {args.batch_size}, one epoch ({steps} steps)",
            f"{t_sgd:.3f}",
            f"{t_sgd / t_mu:.2f}",
        ],
    ]
    text = (
        f"# AGD speed\n\n{machine()}\n\n"
        f"synthetic_counts: {args.cells} cells × {args.genes} genes, k = {args.k}, "
        f"nnz = {X.nnz} ({X.nnz / (X.shape[0] * X.shape[1]):.1%}), float32 CSR "
        f"(generated in {t_gen:.1f} s). Median over {args.repeats} iterations/epochs.\n\n"
        + markdown_table(["run", "seconds", "× MU iteration"], rows)
        + "\n"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "agd_speed.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
