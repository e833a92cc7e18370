"""Helpers shared by the benchmark scripts: machine description, timing, tables."""

from __future__ import annotations

import os
import platform
import resource
import time


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


class IterationClock:
    """Callback recording the wall time of every loss evaluation (one per iteration)."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def __call__(self, iteration: int, loss: float) -> None:
        self.stamps.append(time.perf_counter())

    def per_iteration(self) -> list[float]:
        return [b - a for a, b in zip(self.stamps, self.stamps[1:], strict=False)]


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
