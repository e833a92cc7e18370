"""Independent fits of one ``X`` batched into one stacked problem (consensus replicates).

Orientation: ``X`` n × m (cells × genes); ``groups`` fits of rank k are held side by side,
``W`` n × (groups·k) and ``H`` (groups·k) × m, fit g in columns (rows of H) g·k … g·k + k − 1.

The expensive part of an iteration, the products with X, is shared: X Hᵀ and Xᵀ W of the
stacked factors are one wide sparse product each, so every iteration reads X once for all
fits instead of once per fit. What couples columns is kept inside each fit: Gram matrices
are block diagonal, the HALS sweep reads only its own block, MU denominators are taken per
block, and the loss is one value per fit. A fit whose own relative decrease falls below
``tol`` is frozen at that iterate (as if its loop had stopped there) while the others go on;
:func:`~.loop.alternate` ends when every fit is frozen. So a fit's result does not depend
on the batch it ran in. :class:`BatchedOps` wraps any backend's ops (numba or torch), so the
solvers of :mod:`.mu` and :mod:`.hals` run unchanged; a :class:`~.penalty.Penalty` is
elementwise (and on the Gram diagonal), so the steps apply it to the stacked factors as is,
with one penalty value per fit.

For β = 1 on CSR (numba) the fused kernels take the groups themselves, so X ⊘ WH is still
one pass over the nonzeros. The other MU paths (β ∉ {1, 2}, or β = 1 on a torch device)
evaluate each fit's terms in turn on the base ops.
"""

from __future__ import annotations

import numpy as np


def _columns(A, part: slice):
    """A's columns ``part`` as a contiguous array or tensor (the kernels want one)."""
    block = A[:, part]
    return block.contiguous() if hasattr(block, "contiguous") else np.ascontiguousarray(block)


class BatchedOps:
    """``groups`` independent fits through one backend's ops (see the module docstring)."""

    def __init__(self, base, groups: int, beta: float | None = None, tol: float = 0.0):
        self.base = base
        self.groups = int(groups)
        self.beta = beta
        self.tol = float(tol)
        if hasattr(base, "groups"):  # the fused sparse-KL kernels batch the fits themselves
            base.groups = self.groups
        self.fused = hasattr(base, "groups")
        #: Fits still iterating, and the iteration each fit stopped at.
        self.active = np.ones(self.groups, dtype=bool)
        self.n_iter = np.zeros(self.groups, dtype=np.int64)
        self._evaluations = 0
        self._previous: np.ndarray | None = None
        self._axis = 1

    def record(self, loss: np.ndarray) -> np.ndarray:
        """Freeze the fits whose relative decrease fell below ``tol`` (the loop's own rule).

        The steps call this with the loss the loop will see (the penalised objective when
        there is a :class:`~.penalty.Penalty`), once per iteration.
        """
        loss = np.asarray(loss, dtype=np.float64)
        # A fit still active here has had one update per earlier evaluation; one that stops
        # now keeps this iterate, as a loop stopping here reports n_iter = evaluations.
        self.n_iter[self.active] = self._evaluations
        previous, self._previous = self._previous, loss
        if previous is not None and self.tol > 0:
            done = self.active & ((previous - loss) <= self.tol * np.abs(previous))
            self.active &= ~done
        self._evaluations += 1
        return loss

    def apply(self, factor, numerator, denominator, gamma: float, beta: float) -> None:
        """The base MU step on the active fits' columns (W) or rows (H) only."""
        if self.active.all():
            self.base.apply(factor, numerator, denominator, gamma, beta)
            return
        # The loop applies the terms it has just asked for: W's after w_terms, H's after h_terms.
        take = (lambda A, s: A[:, s]) if self._axis == 1 else (lambda A, s: A[s])
        for part in np.asarray(self._parts(factor.shape[self._axis]))[self.active]:
            self.base.apply(
                take(factor, part), take(numerator, part), take(denominator, part), gamma, beta
            )

    def _parts(self, width: int) -> list[slice]:
        k = width // self.groups
        return [slice(g * k, (g + 1) * k) for g in range(self.groups)]

    # --- products: one wide product for all fits -----------------------------------------
    def x_times(self, B):
        """X B for the stacked B (m × groups·k)."""
        return self.base.x_times(B)

    def xt_times(self, A):
        """Xᵀ A for the stacked A (n × groups·k)."""
        return self.base.xt_times(A)

    # --- what stays within a fit -------------------------------------------------------------
    def gram(self, A):
        """Block-diagonal AᵀA: each fit's own Gram, zeros between fits."""
        return self.base.block_diag(
            [self.base.gram(_columns(A, s)) for s in self._parts(A.shape[1])]
        )

    def sweep(self, A, B, G, max_inner: int, adaptive: bool):
        """The base HALS sweep of the active fits, each reading only its own block of G."""
        return self.base.sweep(A, B, G, max_inner, adaptive, active=self.active)

    def frobenius_loss(self, W, XHt, Ht) -> np.ndarray:
        """½‖X − W_g H_g‖² of every fit g (HALS evaluates it once per iteration)."""
        return self._frobenius(W, XHt, Ht)

    def _frobenius(self, W, XHt, Ht) -> np.ndarray:
        return np.array(
            [
                self.base.frobenius_loss(_columns(W, s), _columns(XHt, s), _columns(Ht, s))
                for s in self._parts(W.shape[1])
            ]
        )

    # --- MU terms ---------------------------------------------------------------------------
    def w_terms(self, W, H):
        """MU numerator and denominator of the stacked W, and one loss per fit."""
        self._axis = 1
        if self.fused:
            numerator, denominator, loss = self.base.w_terms(W, H)
            return numerator, denominator, np.asarray(loss, dtype=np.float64)
        parts = self._parts(W.shape[1])
        if self.beta == 2:
            Ht = H.T
            XHt = self.base.x_times(Ht)
            denominator = self.base.concat(
                [_columns(W, s) @ (H[s] @ H[s].T) for s in parts], axis=1
            )
            return XHt, denominator, self._frobenius(W, XHt, Ht)
        terms = [self.base.w_terms(_columns(W, s), H[s]) for s in parts]
        numerator = self.base.concat([t[0] for t in terms], axis=1)
        denominator = self.base.concat([_full(t[1], t[0]) for t in terms], axis=1)
        return numerator, denominator, np.array([float(t[2]) for t in terms])

    def h_terms(self, W, H):
        """MU numerator and denominator of the stacked H."""
        self._axis = 0
        if self.fused:
            return self.base.h_terms(W, H)
        parts = self._parts(W.shape[1])
        if self.beta == 2:
            numerator = self.base.xt_times(W).T
            denominator = self.base.concat(
                [self.base.gram(_columns(W, s)) @ H[s] for s in parts], axis=0
            )
            return numerator, denominator
        terms = [self.base.h_terms(_columns(W, s), H[s]) for s in parts]
        numerator = self.base.concat([t[0] for t in terms], axis=0)
        denominator = self.base.concat([_full(t[1], t[0]) for t in terms], axis=0)
        return numerator, denominator

    # --- the rest is the base's ---------------------------------------------------------------
    def context(self):
        """The base's run context."""
        return self.base.context()

    def to_backend(self, A, dtype):
        """The base's representation of a factor."""
        return self.base.to_backend(A, dtype)

    def to_numpy(self, A, dtype) -> np.ndarray:
        """A factor back as numpy."""
        return self.base.to_numpy(A, dtype)


def _full(denominator, like):
    """A broadcast (read-only) denominator as a full array, so fits can be concatenated."""
    if hasattr(denominator, "expand_as"):
        return denominator.expand_as(like).contiguous()
    return np.array(np.broadcast_to(denominator, like.shape))
