"""The consensus against the data: usage refit, gene specificity scores, reconstruction error.

Orientation: ``X`` is n × m (cells × genes), programs are rows (k × m), usage is n × k, so
``X ≈ usage @ programs``. ``X`` may be an ndarray, a CSR matrix or a dask array chunked
along cells; it is read in row blocks of bounded size and never densified.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._backends import _sparse
from .._backends.dask import as_block, is_dask, map_row_blocks
from ..nmf.beta import beta_divergence, row_blocks
from ..nmf.fixed import fit_activities

#: Below this standard deviation a gene of the score matrix counts as constant (score 0).
MIN_STD = 1e-6


def _map_row_blocks(X, fn, per_row: tuple[np.ndarray, ...] = (), shared: tuple = ()) -> list:
    """``[fn(X_b, *(a[b] for a in per_row), *shared) for each row block X_b]``.

    ``per_row`` arrays are cut along rows with ``X``; ``shared`` arguments go to every block.

    Blocks of an in-memory ``X`` hold about :data:`.nmf.beta.BLOCK_ENTRIES` entries; a dask
    array uses its own row chunks (computed where the scheduler runs them).
    """
    if is_dask(X):
        edges = np.cumsum([0, *X.chunks[0]])
        slices = [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]
        per_block = [tuple(a[s] for a in per_row) for s in slices]
        return map_row_blocks(X, fn, per_block, *shared)
    blocks = row_blocks(X.shape[0], X.shape[1])
    return [fn(X[s], *(a[s] for a in per_row), *shared) for s in blocks]


def refit_usage(
    X,
    programs: np.ndarray,
    *,
    beta: float,
    solver: str,
    max_iter: int,
    tol: float,
    device="auto",
) -> np.ndarray:
    """Usage of fixed programs: the NMF W step alone (:func:`..nmf.fixed.fit_activities`).

    Parameters
    ----------
    X
        n × m nonnegative data (ndarray, CSR, or a dask array chunked along rows).
    programs
        k × m nonnegative programs (rows), kept fixed.
    beta
        β of the divergence.
    solver
        ``'mu'``, ``'hals'`` (β = 2), or ``'auto'``/``'agd'`` (HALS for β = 2, else MU: with
        the programs fixed the W problem is convex and HALS solves it exactly per sweep).
    max_iter, tol
        Iteration cap and relative-decrease tolerance of the loop.
    device
        As in :func:`..nmf.fit.run_solver` (a dask ``X`` always runs on dask).

    Returns
    -------
    numpy.ndarray
        n × k float64 nonnegative usage, not normalised.
    """
    fit = fit_activities(
        X, programs, beta=beta, solver=solver, max_iter=max_iter, tol=tol, device=device
    )
    return fit.W


def normalise_usage(usage: np.ndarray) -> np.ndarray:
    """Usage rows divided by their sums.

    Parameters
    ----------
    usage
        n × k nonnegative usage.

    Returns
    -------
    numpy.ndarray
        n × k float64 rows summing to 1; a row summing to 0 stays zero.
    """
    out = np.array(usage, dtype=np.float64)
    totals = out.sum(axis=1)
    positive = totals > 0
    out[positive] /= totals[positive, None]
    return out


def _moments_and_cross(block, U_b: np.ndarray) -> tuple:
    """One row block's (rows, column sums, centred sums of squares, U_bᵀ X_b), in float64.

    Centred on the block's own mean so the sums of squares do not cancel; the blocks are
    merged exactly by :func:`_merge_moments`.
    """
    block = as_block(block, np.float64)
    n_b = block.shape[0]
    if sp.issparse(block):  # canonical CSR: each stored entry is one distinct nonzero
        m = block.shape[1]
        sums = np.bincount(block.indices, weights=block.data, minlength=m)
        mean = sums / n_b
        stored = np.bincount(block.indices, minlength=m)
        centred = block.data - mean[block.indices]
        m2 = np.bincount(block.indices, weights=centred * centred, minlength=m)
        m2 += (n_b - stored) * mean * mean  # the zeros, each at distance mean
        cross = _sparse.spmm_t(block, np.ascontiguousarray(U_b), dtype=np.float64).T
    else:
        sums = block.sum(axis=0)
        centred = block - sums / n_b
        m2 = np.einsum("ij,ij->j", centred, centred)
        cross = U_b.T @ block
    return n_b, sums, m2, np.asarray(cross)


def _merge_moments(parts: list) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Chan et al.'s pairwise merge: M2 = Σ M2_b + Σ n_b (mean_b − mean)²."""
    n = sum(p[0] for p in parts)
    total = np.sum([p[1] for p in parts], axis=0)
    mean = total / n
    m2 = np.zeros_like(mean)
    for n_b, sums, m2_b, _ in parts:
        if n_b:
            gap = sums / n_b - mean
            m2 += m2_b + n_b * gap * gap
    cross = np.sum([p[3] for p in parts], axis=0)
    return n, mean, m2, cross


def gene_scores(score_matrix, usage_normalised: np.ndarray) -> np.ndarray:
    """OLS coefficients of every z-scored gene on the usage (cNMF's specificity scores).

    β = (UᵀU)⁺ Uᵀ Z with Z = (X − 1μᵀ) / σ; Z is never formed: Uᵀ Z = (Uᵀ X − (Uᵀ1) μᵀ) / σ,
    with μ, σ the column means and standard deviations (ddof = 0), all from one pass over
    the row blocks of ``score_matrix``.

    Parameters
    ----------
    score_matrix
        n × m_all data (ndarray, CSR, or a dask array chunked along rows), every gene to
        score.
    usage_normalised
        n × k usage (rows summing to 1).

    Returns
    -------
    numpy.ndarray
        k × m_all float64 coefficients; a gene with σ < 1e-6 (constant) gets 0.
    """
    U = np.asarray(usage_normalised, dtype=np.float64)
    parts = _map_row_blocks(score_matrix, _moments_and_cross, (U,))
    n, mean, m2, cross = _merge_moments(parts)
    std = np.sqrt(m2 / n)
    varying = std >= MIN_STD
    UtZ = np.zeros_like(cross)
    UtZ[:, varying] = (cross[:, varying] - np.outer(U.sum(axis=0), mean[varying])) / std[varying]
    return np.linalg.pinv(U.T @ U) @ UtZ


def _block_divergence(block, U_b: np.ndarray, programs: np.ndarray, beta: float) -> float:
    return beta_divergence(as_block(block, block.dtype), U_b, programs, beta)


def reconstruction_error(X, usage: np.ndarray, programs: np.ndarray, beta: float) -> float:
    """How well ``usage @ programs`` reconstructs ``X`` (cNMF's k-selection error).

    Parameters
    ----------
    X
        n × m data (ndarray, CSR, or a dask array chunked along rows).
    usage, programs
        n × k usage and k × m programs.
    beta
        β of the divergence.

    Returns
    -------
    float
        ‖X − U S‖²_F for β = 2 (twice the β = 2 divergence), else D_β(X | U S); summed over
        row blocks, the product U S formed only a bounded block at a time.
    """
    U = np.asarray(usage, dtype=np.float64)
    S = np.asarray(programs, dtype=np.float64)
    if is_dask(X):  # beta_divergence works on in-memory matrices: sum its share per block
        total = float(sum(_map_row_blocks(X, _block_divergence, (U,), (S, beta))))
    else:
        total = beta_divergence(X, U, S, beta)
    return 2.0 * total if beta == 2 else total
