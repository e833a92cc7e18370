"""AGD time per epoch vs MU time per iteration on large sparse scRNA-like counts.

Data: ``scnmf.datasets.synthetic_counts`` (CSR, float32). One AGD epoch is one full-batch
stage (a pass over all cells: ``X pinv(H)``, ``Xᵀ W`` and ``n_inner`` k × m steps) or, in
mini-batch mode, ``n / batch_size`` steps. MU (Frobenius) time per iteration is measured with
the same data and rank. Each figure is the median over ``--repeats`` of (time of a
``tl.nmf`` call with ``--steps`` iterations or stages − time of one with 0) / ``--steps``:
the AGD calls share the same 3-iteration MU warm start, whose cost cancels.

Run::

    nice python benchmarks/agd_speed.py                       # 100,000 × 2,000, k = 20
    nice python benchmarks/agd_speed.py --cells 20000 --genes 1000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import factors, from_start, machine, markdown_table, nmf, quiet, seconds_per_step

from scnmf.datasets import synthetic_counts

RESULTS = Path(__file__).resolve().parent / "results"
N_INNER = 50  # tl.nmf's default AGD inner steps per stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--genes", type=int, default=2_000)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--steps", type=int, default=5, help="iterations / epochs per call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--out", default=str(RESULTS / "agd_speed.md"))
    args = parser.parse_args()
    quiet()
    t0 = time.perf_counter()
    X = synthetic_counts(args.cells, args.genes, n_programs=args.k, random_state=0).X
    t_gen = time.perf_counter() - t0
    W, H = factors(nmf(X, args.k, init="random", max_iter=0, random_state=0))
    fro = {"beta_loss": "frobenius", "solver": "mu", "tol": 0}
    warm = {"solver": "agd", "max_iter": 3, "tol": 0}  # 3 MU iterations, then the stages

    def mu_run(n: int):
        return from_start(X, W, H, max_iter=n, **fro)

    def agd_run(n: int, **options):
        options = {"warm_start": "mu", "n_stages": n, **options}
        return from_start(X, W, H, **warm, agd_options=options)

    steps = -(-args.cells // args.batch_size)
    sgd = {"n_inner": steps, "batch_size": args.batch_size}
    mu_run(1)  # compile the kernels outside the timing
    agd_run(1, n_inner=1)
    t_mu = seconds_per_step(mu_run, args.steps, args.repeats)
    t_agd = seconds_per_step(agd_run, args.steps, args.repeats)
    t_sgd = seconds_per_step(lambda n: agd_run(n, **sgd), args.steps, args.repeats)
    rows = [
        ["MU (Frobenius), one iteration", f"{t_mu:.3f}", "1.00"],
        [
            f"AGD full batch, one epoch (stage, {N_INNER} inner steps)",
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
        f"(generated in {t_gen:.1f} s). Median over {args.repeats} calls of "
        f"{args.steps} iterations/epochs (minus a 0-step call).\n\n"
        + markdown_table(["run", "seconds", "× MU iteration"], rows)
        + "\n"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
