"""Million-cell NMF benchmark: seconds per iteration on CPU, Dask (local workers) and GPU.

    python benchmarks/million_cells.py --n-cells 1000000 --n-genes 2000 -k 30

Generated scRNA-like counts (``scnmf.datasets.synthetic_counts``, ~10 % nonzero), log1p,
float32 CSR. For each backend (``scnmf.tl.nmf`` with ``device='cpu'``, on a dask-backed
AnnData, with ``device='cuda'``): MU-Frobenius, HALS and MU-KL, seconds per iteration from the
same NNDSVDA start, i.e. (time of a call with ``--iters`` iterations − time of one with 0) /
``--iters``, median of ``--repeats``, and peak memory. Side by side in the
same run, on a subset both can hold (``--subset`` cells): scikit-learn (MU-KL, MU-Frobenius,
CD) and, where installed with a CUDA GPU, nmf-torch. The GPU rows need CUDA; without it they
say so instead of running.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np
import scipy.sparse as sp
from _common import (
    from_start,
    machine,
    markdown_table,
    peak_rss_gib,
    quiet,
    seconds_per_step,
    start_factors,
    timed,
)

from scnmf.datasets import synthetic_counts

SOLVERS = (
    ("MU-Frobenius", {"solver": "mu", "beta_loss": "frobenius"}),
    ("HALS", {"solver": "hals"}),
    ("MU-KL", {"solver": "mu", "beta_loss": "kullback-leibler"}),
)


def scnmf_rows(X, W0, H0, args, label, memory, **where) -> list[list[str]]:
    """One row per solver: seconds per iteration of ``tl.nmf`` from ``(W0, H0)``."""
    rows = []
    for name, settings in SOLVERS:

        def run(n: int, settings=settings):
            return from_start(X, W0, H0, max_iter=n, tol=0, **settings, **where)

        s = seconds_per_step(run, args.iters, args.repeats)
        rows.append([label, name, f"{s:.4f}", memory()])
        print(" | ".join(rows[-1]), flush=True)
    return rows


def host_memory() -> str:
    return f"{peak_rss_gib():.2f}"


def cpu_rows(X, W0, H0, args, label):
    for _, settings in SOLVERS:  # compile the kernels outside the timing
        from_start(X[:1000], W0[:1000], H0, max_iter=1, device="cpu", **settings)
    return scnmf_rows(X, W0, H0, args, label, host_memory, device="cpu")


def start_cluster(n_workers: int):
    """Local workers, started before the data exist.

    Started later, the worker processes would report the parent's peak resident memory at
    spawn time as their own (``ru_maxrss`` survives exec).
    """
    from dask.distributed import Client, LocalCluster

    # One numba thread per single-threaded worker: the workers share the machine's cores.
    os.environ["NUMBA_NUM_THREADS"] = "1"
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True)
    return cluster, Client(cluster)


def dask_rows(X, W0, H0, args, cluster, client):
    import dask.array as da

    def memory() -> str:
        worker_peak = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
        per_worker = " + ".join(f"{v:.2f}" for v in worker_peak.values())
        return f"{peak_rss_gib():.2f} + workers {per_worker}"

    chunk = args.chunk
    try:
        starts = range(0, X.shape[0], chunk)
        parts = client.scatter([X[s : s + chunk] for s in starts])
        meta = sp.csr_matrix((0, X.shape[1]), dtype=X.dtype)
        blocks = [
            da.from_delayed(
                part, shape=(min(chunk, X.shape[0] - s), X.shape[1]), dtype=X.dtype, meta=meta
            )
            for part, s in zip(parts, starts, strict=True)
        ]
        Xd = da.concatenate(blocks, axis=0)
        from_start(Xd, W0, H0, max_iter=1, beta_loss="kullback-leibler", solver="mu")
        label = f"Dask, {args.workers} local workers"
        return scnmf_rows(Xd, W0, H0, args, label, memory)
    finally:
        client.close()
        cluster.close()


def sklearn_rows(X, W0, H0, iters, label):
    from sklearn.decomposition import non_negative_factorization

    rows = []
    for name, solver, beta in (
        ("MU-Frobenius", "mu", 2.0),
        ("CD (Frobenius)", "cd", 2.0),
        ("MU-KL", "mu", 1.0),
    ):
        start = time.perf_counter()
        non_negative_factorization(
            X, W=W0.copy(), H=H0.copy(), n_components=W0.shape[1], init="custom",
            solver=solver, beta_loss=beta, max_iter=iters, tol=0,
        )  # fmt: skip
        s = (time.perf_counter() - start) / iters
        rows.append([label, name, f"{s:.3f}", host_memory()])
        print(" | ".join(rows[-1]), flush=True)
    return rows


def gpu_rows(X, W0, H0, args, label):
    try:
        import torch
    except ImportError:
        return [[label, "-", "not run: torch is not installed", "-"]]
    if not torch.cuda.is_available():
        return [[label, "-", "not run: no CUDA device on this machine", "-"]]

    def memory() -> str:
        gib = torch.cuda.max_memory_allocated() / 2**30
        torch.cuda.reset_peak_memory_stats()
        return f"GPU {gib:.2f}"

    from_start(X, W0, H0, max_iter=2, beta_loss="kullback-leibler", solver="mu", device="cuda")
    torch.cuda.reset_peak_memory_stats()
    return scnmf_rows(X, W0, H0, args, label, memory, device="cuda")


def nmf_torch_rows(X, k, iters):
    try:
        import torch
        from nmf import run_nmf
    except ImportError:
        return [["nmf-torch", "-", "not run: nmf-torch is not installed", "-"]]
    if not torch.cuda.is_available():
        return [["nmf-torch", "-", "not run: no CUDA device on this machine", "-"]]
    dense = X.toarray()
    rows = []
    for name, algo, beta in (
        ("MU-Frobenius", "mu", "frobenius"),
        ("HALS", "hals", "frobenius"),
        ("MU-KL", "mu", "kullback-leibler"),
    ):
        start = time.perf_counter()
        run_nmf(
            dense, n_components=k, init="nndsvdar", beta_loss=beta, algo=algo, mode="batch",
            tol=0, max_iter=iters, use_gpu=True,
        )  # fmt: skip
        s = (time.perf_counter() - start) / iters
        rows.append(["nmf-torch (GPU, dense)", name, f"{s:.4f}", "-"])
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n-cells", type=int, default=1_000_000)
    p.add_argument("--n-genes", type=int, default=2000)
    p.add_argument("-k", "--n-components", type=int, default=30)
    p.add_argument("--density", type=float, default=0.1)
    p.add_argument("--iters", type=int, default=4)
    p.add_argument("--repeats", type=int, default=1, help="timings per solver (median)")
    p.add_argument("--subset", type=int, default=100_000, help="cells for the side-by-side rows")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--chunk", type=int, default=100_000, help="cells per dask chunk")
    p.add_argument("--skip", nargs="*", default=[], choices=["cpu", "dask", "sklearn", "gpu"])
    args = p.parse_args()
    quiet()

    cluster = client = None
    if "dask" not in args.skip:
        cluster, client = start_cluster(args.workers)
    t0 = time.perf_counter()
    adata = synthetic_counts(
        args.n_cells, args.n_genes, n_programs=20, density=args.density, random_state=0
    )
    X = adata.X
    del adata
    X.data = np.log1p(X.data)
    gen = time.perf_counter() - t0
    k = args.n_components
    (W0, H0), init_s = timed(start_factors, X, k)
    print(f"machine: {machine()}")
    print(
        f"{X.shape[0]:,} cells × {X.shape[1]:,} genes, nnz {X.nnz:,} "
        f"({X.nnz / (X.shape[0] * X.shape[1]):.1%}), k = {k}; generated in {gen:.0f} s, "
        f"NNDSVDA in {init_s:.0f} s; seconds per iteration from calls of {args.iters} "
        f"iterations minus a 0-iteration call (median of {args.repeats})",
        flush=True,
    )
    rows = []
    if "cpu" not in args.skip:
        rows += cpu_rows(X, W0, H0, args, f"scnmf CPU ({os.cpu_count()} cores), full")
    if "dask" not in args.skip:
        rows += dask_rows(X, W0, H0, args, cluster, client)
    if "gpu" not in args.skip:
        rows += gpu_rows(X, W0, H0, args, "scnmf GPU, full")
    sub = slice(0, min(args.subset, X.shape[0]))
    Xs, Ws = X[sub], np.ascontiguousarray(W0[sub])
    if "cpu" not in args.skip:
        rows += cpu_rows(Xs, Ws, H0, args, f"scnmf CPU, subset {Xs.shape[0]:,}")
    if "sklearn" not in args.skip:
        rows += sklearn_rows(Xs, Ws, H0, args.iters, f"scikit-learn, subset {Xs.shape[0]:,}")
    if "gpu" not in args.skip:
        rows += gpu_rows(Xs, Ws, H0, args, f"scnmf GPU, subset {Xs.shape[0]:,}")
        rows += nmf_torch_rows(Xs, k, args.iters)
    print(markdown_table(["backend", "solver", "s / iteration", "peak memory GiB"], rows))


if __name__ == "__main__":
    main()
