"""Multiplicative updates for β-NMF (Lee & Seung 2001; Févotte & Idier 2011).

Orientation: ``X`` n × m (cells × genes) ≈ ``W`` (n × k) ``H`` (k × m).

:class:`MUSteps` is the solver, written once: the ops of a backend (:mod:`.ops_numpy`,
:mod:`.ops_torch`, and per block :mod:`.ops_dask`) give the β-MU numerators and
denominators and the loss of the current iterate; the step is ``F ⊙ (N ⊘ D)^γ(β)`` with the
Févotte–Idier exponent γ(β), which makes the loss non-increasing for every β.
"""

from __future__ import annotations

from .loop import alternate
from .result import NMFResult


def mm_exponent(beta: float) -> float:
    """Exponent γ(β) that makes the multiplicative update a majorisation–minimisation step."""
    if beta < 1:
        return 1.0 / (2.0 - beta)
    if beta > 2:
        return 1.0 / (beta - 1.0)
    return 1.0


class MUSteps:
    """β-MU on any backend: ``ops`` supplies ``w_terms``, ``h_terms`` and ``apply``."""

    def __init__(self, ops, beta: float):
        self.ops = ops
        self.beta = float(beta)
        self.gamma = mm_exponent(self.beta)

    def w_terms(self, W, H):
        """(numerator, denominator) of the W step, and the loss at (W, H)."""
        numerator, denominator, loss = self.ops.w_terms(W, H)
        return (numerator, denominator), loss

    def update_W(self, W, terms):
        """W ⊙ (N ⊘ D)^γ, in place."""
        self.ops.apply(W, *terms, self.gamma, self.beta)
        return W

    def h_terms(self, W, H):
        """(numerator, denominator) of the H step."""
        return self.ops.h_terms(W, H)

    def update_H(self, H, terms):
        """H ⊙ (N ⊘ D)^γ, in place."""
        self.ops.apply(H, *terms, self.gamma, self.beta)
        return H


def mu_loop(
    ops, W, H, *, beta, max_iter, tol, update_W=True, update_H=True, callback=None
) -> NMFResult:
    """MU on a backend's own arrays (``W``, ``H`` already in the representation of ``ops``)."""
    return alternate(
        MUSteps(ops, beta),
        W,
        H,
        max_iter=max_iter,
        tol=tol,
        update_W=update_W,
        update_H=update_H,
        callback=callback,
    )
