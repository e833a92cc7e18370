"""Checks at the ``tl`` boundary that need the data: the AnnData itself, ranks, scale indices.

They run once the matrix (or the record) is known, through the same formatter as the
option tables of :mod:`._validate`.
"""

from __future__ import annotations

from typing import Any

from anndata import AnnData

from ._rules import option_error


def check_adata(adata: Any) -> AnnData:
    """Reject anything that is not a non-empty AnnData."""
    if not isinstance(adata, AnnData):
        raise TypeError(f"Expected an AnnData object, got {type(adata).__name__}.")
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise ValueError(
            f"AnnData is empty ({adata.n_obs} cells × {adata.n_vars} genes); "
            "filter less aggressively or pass a non-empty object."
        )
    return adata


def check_rank(k: int, shape: tuple[int, int], name: str = "n_components") -> int:
    """A rank (already an integer ≥ 1) that the matrix of ``shape`` can have."""
    if k > min(shape):
        raise option_error(
            name,
            k,
            f"integers 1 … {min(shape)}",
            fix=f"{name}={k} is impossible for a {shape[0]} × {shape[1]} matrix.",
        )
    return k


def check_ranks(ranks: tuple[int, ...], shape: tuple[int, int]) -> tuple[int, ...]:
    """Deep-NMF ranks (already strictly decreasing) that the matrix of ``shape`` can have."""
    return tuple(check_rank(r, shape, name=f"ranks[{i}]") for i, r in enumerate(ranks))


def check_scale_index(reference_scale: int, n_scales: int) -> int:
    """A scale index (already an integer ≥ 0) below the number of scales."""
    if reference_scale >= n_scales:
        raise option_error(
            "reference_scale",
            reference_scale,
            f"'finest', 'stable' or 0 … {n_scales - 1}",
            fix=f"There are only {n_scales} scales.",
        )
    return reference_scale
