"""Peak-memory estimates for a fit, checked before it starts instead of failing midway.

The limit is ``SCNMF_MAX_MEMORY`` when it is set (a byte count with an optional unit:
``8G``, ``512MiB``, ``1.5T``, ``2e9``), else the memory this machine reports as available.
"""

from __future__ import annotations

import math
import os
import re

#: The environment variable that caps the memory a fit may plan to use.
ENV_VAR = "SCNMF_MAX_MEMORY"
#: How a memory size is written (:data:`ENV_VAR`).
SIZE_FORMAT = (
    "a positive number of bytes with an optional binary unit K, M, G or T ('GB' and 'GiB' "
    "read as 'G')"
)

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_SIZE = re.compile(r"\s*((?:\d+\.?\d*|\.\d+)(?:E[+-]?\d+)?)\s*(?:([KMGT])I?)?B?\s*")


class InsufficientMemoryError(MemoryError):
    """A fit would need more memory than is available; the message says what would fit."""


def parse_bytes(text: str) -> int:
    """'512M', '8G', '1.5GiB', '2e9' or a plain byte count, as a positive number of bytes."""
    match = _SIZE.fullmatch(str(text).upper())
    size = float(match.group(1)) * _UNITS[match.group(2) or ""] if match else math.nan
    if not math.isfinite(size) or size < 1:
        raise ValueError(
            f"Cannot read a memory size from {text!r}; use {SIZE_FORMAT}, e.g. '8G', "
            "'512M' or '2e9'."
        )
    return int(size)


def format_bytes(size: float, digits: int = 1) -> str:
    """A byte count in the largest binary unit that keeps it ≥ 1: '512 B', '10.0 KiB', '1.5 GiB'."""
    size = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} B" if unit == "B" else f"{size:.{digits}f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _format_pair(required: int, available: int) -> tuple[str, str]:
    """Both sizes, with as many digits as it takes for them to read differently."""
    for digits in range(1, 5):
        a, b = format_bytes(required, digits), format_bytes(available, digits)
        if a != b:
            return a, b
    return f"{required} bytes", f"{available} bytes"


def memory_limit() -> tuple[int, str]:
    """The bytes a new fit may use and where that figure comes from (for messages)."""
    limit = os.environ.get(ENV_VAR, "").strip()
    if limit:
        try:
            return parse_bytes(limit), f"allowed by {ENV_VAR}={limit!r}"
        except ValueError:
            raise ValueError(
                f"The environment variable {ENV_VAR}={limit!r} is not a memory size. Set it "
                f"to {SIZE_FORMAT}, e.g. {ENV_VAR}=8G, 512M or 2e9, or unset it to use the "
                "memory this machine has available."
            ) from None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "available on this machine"
    except OSError:
        pass
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return pages, "available on this machine"
    except (ValueError, OSError, AttributeError):
        return 2**62, "available (unknown)"


def available_memory() -> int:
    """Bytes available to a new fit: ``SCNMF_MAX_MEMORY`` if set, else MemAvailable.

    Raises ``ValueError``, naming the variable and its format, when ``SCNMF_MAX_MEMORY``
    cannot be read.
    """
    return memory_limit()[0]


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
    """Refuse a fit whose estimate exceeds the available memory.

    The message gives both sizes in readable units and where the limit comes from; when it
    is :data:`ENV_VAR`, it also says how to raise it.
    """
    available, source = memory_limit()
    if required > available:
        need, have = _format_pair(required, available)
        if source.startswith("allowed by"):
            advice = (
                f"{advice.rstrip('.')}; or raise {ENV_VAR} "
                f"(e.g. {ENV_VAR}={_suggest(required)}) or unset it."
            )
        raise InsufficientMemoryError(
            f"{what} needs about {need} but only {have} is {source}; {advice}"
        )


def _suggest(required: int) -> str:
    """A round SCNMF_MAX_MEMORY value above ``required`` (in GiB, at least 1GiB)."""
    return f"{max(1, math.ceil(required * 1.25 / 2**30))}GiB"
