"""Helpers shared by the benchmark scripts: machine description, timing, tables, public fits.

The benchmarks use scnmf's public API only (``tl``, ``get``, ``metrics``, ``datasets``): a
solver is timed as a whole ``tl`` call on an AnnData wrapping the matrix.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import anndata as ad
import numpy as np
import scanpy as sc

import scnmf as snmf

#: Folder of the labelled data sets (``--data-dir`` overrides it).
DATA_DIR_ENV = "SCNMF_DATA_DIR"


def machine() -> str:
    """Cores, memory and CPU of this machine, for result tables."""
    cores = os.cpu_count()
    try:
        with open("/proc/meminfo") as fh:
            mem_kb = int(fh.readline().split()[1])
        mem = f"{mem_kb / 2**20:.0f} GiB"
    except OSError:
        mem = "unknown memory"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cores} cores, {mem}, {cpu}, Python {platform.python_version()}"


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def quiet() -> None:
    """No scanpy log lines and no progress bars (they would sit inside the timings)."""
    sc.settings.verbosity = 0


def timed(fn: Callable, *args, **kwargs) -> tuple[object, float]:
    """``fn(*args, **kwargs)`` and its wall time in seconds."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def seconds_per_step(run: Callable[[int], object], n: int, repeats: int = 3) -> float:
    """Median over ``repeats`` of ``(t(run(n)) − t(run(0))) / n``.

    ``run(i)`` makes one whole public call with ``i`` iterations (``tol=0``); subtracting the
    0-iteration call removes what a call costs besides its iterations (checks, the start,
    the first loss, storing), so this is the price of one more iteration.
    """
    per = []
    for _ in range(repeats):
        _, base = timed(run, 0)
        _, full = timed(run, n)
        per.append(max(full - base, 0.0) / n)
    return statistics.median(per)


def nmf(X, k: int, **kwargs) -> ad.AnnData:
    """``tl.nmf`` on a fresh AnnData wrapping ``X`` (not copied; no gene mask)."""
    adata = ad.AnnData(X)
    snmf.tl.nmf(adata, k, **kwargs)
    return adata


def factors(adata: ad.AnnData, key: str = "nmf") -> tuple[np.ndarray, np.ndarray]:
    """``(W, H)`` stored by ``tl.nmf``: cells × k activities and k × genes programs."""
    return adata.obsm[f"X_{key}"], np.ascontiguousarray(adata.varm[f"{key}_loadings"].T)


def start_factors(X, k: int, init: str = "nndsvda", random_state: int = 0):
    """The start ``tl.nmf`` would use (``max_iter=0`` stores it), to share with other tools."""
    return factors(nmf(X, k, init=init, max_iter=0, random_state=random_state))


def from_start(X, W, H, **kwargs) -> ad.AnnData:
    """``tl.nmf`` from the given factors (``init='custom'``)."""
    return nmf(X, W.shape[1], init="custom", init_W=W, init_H=H, **kwargs)


def nmf_loss(X, W, H, beta_loss: str | float) -> float:
    """scnmf's loss of ``(W, H)`` (the first entry of a 0-iteration fit's loss history)."""
    solver = "hals" if beta_loss in ("frobenius", 2, 2.0) else "mu"
    adata = from_start(X, W, H, beta_loss=beta_loss, solver=solver, max_iter=0)
    return float(adata.uns["nmf"]["loss"][0])


def labelled(name: str, data_dir: str | None = None) -> ad.AnnData:
    """``<data_dir or $SCNMF_DATA_DIR>/<name>.h5ad`` (cell types in ``obs['label']``)."""
    folder = data_dir or os.environ.get(DATA_DIR_ENV)
    path = Path(folder or ".") / f"{name}.h5ad"
    if not folder or not path.is_file():
        raise FileNotFoundError(f"{path} not found (pass --data-dir or set {DATA_DIR_ENV})")
    return ad.read_h5ad(path)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


class EchoRows(list):
    """Table rows that are also printed as they are added (long runs show progress)."""

    def append(self, row: list[str]) -> None:
        print(" | ".join(row), flush=True)
        super().append(row)
