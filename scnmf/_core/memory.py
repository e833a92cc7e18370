"""Peak-memory estimates for a fit, checked before it starts instead of failing midway."""

from __future__ import annotations

import os
import re

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


class InsufficientMemoryError(MemoryError):
    """A fit would need more memory than is available; the message says what would fit."""


def parse_bytes(text: str) -> int:
    """'512M', '8G', '1.5T' or a plain byte count."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]?)I?B?\s*", str(text).upper())
    if not match:
        raise ValueError(f"Cannot read a memory size from {text!r}; use e.g. '8G' or '512M'.")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def available_memory() -> int:
    """Bytes available to a new fit: ``SCNMF_MAX_MEMORY`` if set, else MemAvailable."""
    limit = os.environ.get("SCNMF_MAX_MEMORY")
    if limit:
        return parse_bytes(limit)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**62


def estimate_nmf_bytes(
    n: int,
    m: int,
    k: int,
    *,
    nnz: int,
    itemsize: int,
    sparse: bool,
    lazy: bool = False,
    copies: int = 1,
) -> int:
    """Peak bytes of an NMF fit with the engine's kernels (a deliberate over-estimate).

    Counts a working copy of the data (CSR: values + indices + row pointers; dense:
    n·m values), the factors and their per-iteration temporaries (≈ 6 (n + m) k), the
    row-block buffers of the transposed products (≤ 16 m k) and the randomised SVD of the
    initialisation (≈ 4 n (k + 10) float64). For lazy (dask) data only the driver's share
    is counted: the cell factor, the reductions and one SVD sketch. ``copies`` counts factor
    pairs held at once (one per scale in pNMF, two for deep NMF's multilayer baseline).
    """
    factors = 6 * (n + m) * k * itemsize * copies
    sketch = 4 * n * (k + 10) * 8
    if lazy:
        return 3 * n * k * itemsize + sketch + 4 * m * k * 8
    data = nnz * (itemsize + 4) + (n + 1) * 8 if sparse else n * m * itemsize
    buffers = min(16 * m * k, 1 << 26) * itemsize
    return data + factors + buffers + sketch


def check_memory(required: int, what: str, advice: str) -> None:
    """Refuse a fit whose estimate exceeds the available memory."""
    available = available_memory()
    if required > available:
        raise InsufficientMemoryError(
            f"{what} needs about {required / 2**30:.1f} GiB but only "
            f"{available / 2**30:.1f} GiB is available; {advice}"
        )
