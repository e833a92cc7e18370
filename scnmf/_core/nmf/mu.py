"""Multiplicative updates for β-NMF (Lee & Seung 2001; Févotte & Idier 2011).

Orientation: ``X`` n × m (cells × genes) ≈ ``W`` (n × k) ``H`` (k × m).

:class:`MUSteps` is the solver, written once: the ops of a backend (:mod:`.ops_numpy`,
:mod:`.ops_torch`, and per block :mod:`.ops_dask`) give the β-MU numerators and
denominators and the loss of the current iterate; the step is ``F ⊙ (N ⊘ D)^γ(β)`` with the
Févotte–Idier exponent γ(β), which makes the loss non-increasing for every β.

With a :class:`~.penalty.Penalty` (``alpha_W``/``alpha_H``/``l1_ratio``) the penalty's
gradient l1 + l2 F joins each denominator, as in scikit-learn's MU for every β, and the loss
the loop sees (and stops on) is the penalised objective D_β + penalty. scikit-learn's MU
stops on the unpenalised divergence instead; the penalised objective is what the updates
decrease, and what HALS decreases monotonically, so every solver stops on the same quantity.
"""

from __future__ import annotations

from .loop import alternate
from .penalty import NO_PENALTY, Penalty
from .result import NMFResult


def mm_exponent(beta: float) -> float:
    """Exponent γ(β) that makes the multiplicative update a majorisation–minimisation step."""
    if beta < 1:
        return 1.0 / (2.0 - beta)
    if beta > 2:
        return 1.0 / (beta - 1.0)
    return 1.0


class MUSteps:
    """β-MU on any backend: ``ops`` supplies ``w_terms``, ``h_terms``, ``apply`` and ``record``."""

    def __init__(self, ops, beta: float, penalty: Penalty | None = None):
        self.ops = ops
        self.beta = float(beta)
        self.gamma = mm_exponent(self.beta)
        self.penalty = penalty or NO_PENALTY

    def w_terms(self, W, H):
        """(numerator, denominator) of the W step, and the (penalised) loss at (W, H)."""
        numerator, denominator, loss = self.ops.w_terms(W, H)
        if self.penalty:
            p = self.penalty
            denominator = p.W.mu_denominator(denominator, W)
            loss = loss + p.W.value(W, p.groups) + self.h_penalty(H)
        return (numerator, denominator), self.ops.record(loss)

    def h_penalty(self, H) -> float:
        """The H part of the penalty at ``H`` (k × m)."""
        return self.penalty.H.value(H, self.penalty.groups, axis=0) if self.penalty.H else 0.0

    def penalise_h(self, terms, H):
        """The H terms of the penalised problem (also applied by dask's driver to summed terms)."""
        numerator, denominator = terms
        return numerator, self.penalty.H.mu_denominator(denominator, H)

    def update_W(self, W, terms):
        """W ⊙ (N ⊘ D)^γ, in place."""
        self.ops.apply(W, *terms, self.gamma, self.beta)
        return W

    def h_terms(self, W, H):
        """(numerator, denominator) of the H step."""
        return self.penalise_h(self.ops.h_terms(W, H), H)

    def update_H(self, H, terms):
        """H ⊙ (N ⊘ D)^γ, in place."""
        self.ops.apply(H, *terms, self.gamma, self.beta)
        return H


def mu_loop(
    ops, W, H, *, beta, max_iter, tol, update_W=True, update_H=True, callback=None, penalty=None
) -> NMFResult:
    """MU on a backend's own arrays (``W``, ``H`` already in the representation of ``ops``)."""
    return alternate(
        MUSteps(ops, beta, penalty),
        W,
        H,
        max_iter=max_iter,
        tol=tol,
        update_W=update_W,
        update_H=update_H,
        callback=callback,
    )
