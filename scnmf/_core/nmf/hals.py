"""Hierarchical alternating least squares for Frobenius NMF (Cichocki & Phan 2009).

Orientation: ``X`` n × m (cells × genes) ≈ ``W`` (n × k) ``H`` (k × m); the steps hold
``H`` transposed (m × k) so that both factors are swept by the same row-wise pass.

Each column update is an exact minimisation, so the loss never increases. The products
X Hᵀ and Xᵀ W cost O(nnz · k) while one sweep over the columns costs O((n + m) k²); as in
accelerated HALS (Gillis & Glineur 2012) the cheap sweeps are repeated on the same
products until they stop paying off. :class:`HALSSteps` is written once; the backend's ops
supply the products, the Gram matrices, the loss and the sweep itself (numba on the CPU,
tensor ops on a torch device, the CPU sweep per block on dask).

With a :class:`~.penalty.Penalty`, B − l1 and G + l2 I replace the products (exact
coordinate minimisation of the penalised objective, as scikit-learn's ``cd``), and the loss
is the penalised objective ½‖X − WH‖² + penalty, which every sweep still never increases.
"""

from __future__ import annotations

from .penalty import NO_PENALTY, Penalty


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

    def __init__(
        self, ops, inner_W: int, inner_H: int, adaptive: bool, penalty: Penalty | None = None
    ):
        self.ops = ops
        self.inner_W = inner_W
        self.inner_H = inner_H
        self.adaptive = adaptive
        self.penalty = penalty or NO_PENALTY

    def w_terms(self, W, Ht):
        """(X Hᵀ, H Hᵀ) (penalised) and the loss ½‖X − WH‖² (+ penalty) at (W, H)."""
        XHt = self.ops.x_times(Ht)
        HtH = self.ops.gram(Ht)
        loss = self.ops.frobenius_loss(W, XHt, Ht)  # from the unpenalised products
        if self.penalty:
            p = self.penalty
            loss = loss + p.W.value(W, p.groups) + self.h_penalty(Ht)
            XHt, HtH = p.W.hals_terms(XHt, HtH)
        return (XHt, HtH), self.ops.record(loss)

    def h_penalty(self, Ht) -> float:
        """The H part of the penalty at ``Hᵀ`` (m × k)."""
        return self.penalty.H.value(Ht, self.penalty.groups) if self.penalty.H else 0.0

    def penalise_h(self, terms, Ht):
        """The H products of the penalised problem (also dask's driver, on summed products)."""
        return self.penalty.H.hals_terms(*terms)

    def update_W(self, W, terms):
        """Column sweeps of W on the products."""
        self.ops.sweep(W, *terms, self.inner_W, self.adaptive)
        return W

    def h_terms(self, W, Ht):
        """(Xᵀ W, WᵀW), penalised."""
        return self.penalise_h((self.ops.xt_times(W), self.ops.gram(W)), Ht)

    def update_H(self, Ht, terms):
        """Column sweeps of Hᵀ on the products."""
        self.ops.sweep(Ht, *terms, self.inner_H, self.adaptive)
        return Ht
