"""Hierarchical alternating least squares for Frobenius NMF (Cichocki & Phan 2009).

Orientation: ``X`` n × m (cells × genes) ≈ ``W`` (n × k) ``H`` (k × m); the steps hold
``H`` transposed (m × k) so that both factors are swept by the same row-wise pass.

Each column update is an exact minimisation, so the loss never increases. The products
X Hᵀ and Xᵀ W cost O(nnz · k) while one sweep over the columns costs O((n + m) k²); as in
accelerated HALS (Gillis & Glineur 2012) the cheap sweeps are repeated on the same
products until they stop paying off. :class:`HALSSteps` is written once; the backend's ops
supply the products, the Gram matrices, the loss and the sweep itself (numba on the CPU,
tensor ops on a torch device, the CPU sweep per block on dask).
"""

from __future__ import annotations


def max_inner_sweeps(nnz: int, n_rows: int, k: int, alpha: float = 0.5, cap: int = 10) -> int:
    """Sweeps worth repeating per product pair: 1 + α · (cost of products / cost of a sweep)."""
    product_cost = 2.0 * nnz * k + 2.0 * n_rows * k * k
    sweep_cost = 2.0 * n_rows * k * k + 1.0
    return int(min(cap, 1 + alpha * product_cost / sweep_cost))


def sweep_budget(
    nnz: int, shape: tuple[int, int], k: int, max_inner: int | None
) -> tuple[int, int, bool]:
    """(sweeps for W, sweeps for H, adaptive): an explicit ``max_inner`` runs exactly that many."""
    n, m = shape
    return (
        max_inner or max_inner_sweeps(nnz, n, k),
        max_inner or max_inner_sweeps(nnz, m, k),
        max_inner is None,
    )


class HALSSteps:
    """HALS on any backend whose ops give products with X, Gram matrices, loss and sweep."""

    def __init__(self, ops, inner_W: int, inner_H: int, adaptive: bool):
        self.ops = ops
        self.inner_W = inner_W
        self.inner_H = inner_H
        self.adaptive = adaptive

    def w_terms(self, W, Ht):
        """(X Hᵀ, H Hᵀ) and the loss ½‖X − WH‖² at (W, H)."""
        XHt = self.ops.x_times(Ht)
        HtH = self.ops.gram(Ht)
        return (XHt, HtH), self.ops.frobenius_loss(W, XHt, Ht)

    def update_W(self, W, terms):
        """Column sweeps of W on the products."""
        self.ops.sweep(W, *terms, self.inner_W, self.adaptive)
        return W

    def h_terms(self, W, Ht):
        """(Xᵀ W, WᵀW)."""
        return self.ops.xt_times(W), self.ops.gram(W)

    def update_H(self, Ht, terms):
        """Column sweeps of Hᵀ on the products."""
        self.ops.sweep(Ht, *terms, self.inner_H, self.adaptive)
        return Ht
