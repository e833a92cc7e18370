"""Fused row-parallel kernels for the cell-factor step of graph-regularised NMF.

The cell update of :func:`scnmf._core.pnmf.gnmf.graph_nmf` and the penalty sums of its objective
are elementwise over an n × k factor plus a k × k product per row. Done with numpy they
allocate a dozen n × k temporaries per iteration, which at 10⁵ cells costs as much as the
products with X; one pass per row keeps them in registers.
"""

from __future__ import annotations

import numba as nb
import numpy as np

#: Rows per parallel work item of the cell step.
ROW_CHUNK = 512


@nb.njit(parallel=True, cache=True)
def cell_step(W, XHt, HHt, AW, deg, pull, lam1, shrink, sigma, out):  # pragma: no cover
    """Lin's modified MU step for the cell factor, written into ``out``.

    Per row: ∇ = W HHᵀ − XHᵀ + shrink·W + λ1 (d·W − AW) − pull; F = W where ∇ ≥ 0 else
    max(W, σ); W ← W − F ⊘ (F HHᵀ + shrink·F + λ1 d·F + σ) ∘ ∇. ``AW``/``deg`` (graph) and
    ``pull`` (coupling) may be empty arrays when the term is absent.
    """
    n, k = W.shape
    use_graph = AW.shape[0] == n
    use_pull = pull.shape[0] == n
    n_chunks = (n + ROW_CHUNK - 1) // ROW_CHUNK
    for chunk in nb.prange(n_chunks):
        # Scratch per chunk of rows: allocating per row inside a parallel loop costs more
        # than the arithmetic.
        grad = np.empty(k, dtype=W.dtype)
        safe = np.empty(k, dtype=W.dtype)
        prod = np.empty(k, dtype=W.dtype)
        for i in range(chunk * ROW_CHUNK, min(n, (chunk + 1) * ROW_CHUNK)):
            diag = shrink + (lam1 * deg[i] if use_graph else 0.0)
            # Row × HHᵀ accumulated along HHᵀ's contiguous rows, so the inner loop vectorises.
            prod[:] = 0
            for d in range(k):
                w = W[i, d]
                for c in range(k):
                    prod[c] += w * HHt[d, c]
            for c in range(k):
                w = W[i, c]
                g = prod[c] - XHt[i, c] + shrink * w
                if use_graph:
                    g += lam1 * (deg[i] * w - AW[i, c])
                if use_pull:
                    g -= pull[i, c]
                grad[c] = g
                safe[c] = w if (g >= 0 or w >= sigma) else sigma
            prod[:] = 0
            for d in range(k):
                f = safe[d]
                for c in range(k):
                    prod[c] += f * HHt[d, c]
            for c in range(k):
                denom = prod[c] + diag * safe[c] + sigma
                out[i, c] = W[i, c] - safe[c] / denom * grad[c]


@nb.njit(parallel=True, cache=True)
def cell_sums(W, XHt, AW, deg, prev, nxt):  # pragma: no cover - numba
    """Float64 sums for the objective, one pass over the rows.

    Returns ``[Σ W∘XHᵀ, Σ W², Σ_i d_i ‖W_i‖², Σ W∘AW, Σ (W − prev)², Σ (W − nxt)²]``;
    the graph and coupling entries are 0 when their arrays are empty.
    """
    n, k = W.shape
    use_graph = AW.shape[0] == n
    use_prev = prev.shape[0] == n
    use_next = nxt.shape[0] == n
    partial = np.zeros((n, 6))
    for i in nb.prange(n):
        cross = 0.0
        sq = 0.0
        adj = 0.0
        dp = 0.0
        dn = 0.0
        for c in range(k):
            w = np.float64(W[i, c])
            cross += w * XHt[i, c]
            sq += w * w
            if use_graph:
                adj += w * AW[i, c]
            if use_prev:
                diff = w - prev[i, c]
                dp += diff * diff
            if use_next:
                diff = w - nxt[i, c]
                dn += diff * diff
        partial[i, 0] = cross
        partial[i, 1] = sq
        partial[i, 2] = deg[i] * sq if use_graph else 0.0
        partial[i, 3] = adj
        partial[i, 4] = dp
        partial[i, 5] = dn
    return partial.sum(axis=0)


def empty_like_rows(dtype) -> np.ndarray:
    """The placeholder for an absent term (a 0 × 0 array of the factor's dtype)."""
    return np.zeros((0, 0), dtype=dtype)
