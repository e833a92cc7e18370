"""The H-steps of deep β-NMF, written once for every backend.

Orientation (paper, Leplat et al. 2024): ``Y ≈ W H``, ``H`` r × samples. The inputs are the
β-MU ratios at the current iterate ``H̃`` (see :mod:`.updates`): ``C = Wᵀ(Y ⊙ Q^{β−2})``,
``D = Wᵀ Q^{β−1}``, ``Q = W̃H̃``. Two steps:

* ``'mu'``: the unconstrained step ``max(ε, H̃ ⊙ C ⊘ D)`` (MU exponent 1, β ∈ [1, 2]);
* ``'simplex'``: the exact minimiser of the Jensen majoriser under ``H e = e``,
  ``H = H̃ ⊙ r(μ)`` with one Lagrange multiplier μ_k per row solving
  f_k(μ) = Σ_j H̃_kj r_kj(μ) − 1 = 0. For β = 1 with ``D`` constant along rows (always the
  case for the solver's KL terms) μ has a closed form and the step is ``H̃ ⊙ C``
  renormalised; otherwise Newton finds μ.

The arithmetic runs on a :class:`Rows` object, the backend's view of ``(H̃, C, D)``:
:class:`ArrayRows` for numpy or torch arrays (an array namespace of :mod:`.xp`), and the dask
backend's block-wise rows, which evaluate :class:`ArrayRows` on every block and reduce the
per-row sums on the driver. :func:`newton_multipliers` and :func:`h_step` are the only copies
of the Newton loop and of the step.
"""

from __future__ import annotations

from typing import Any, Protocol

from .xp import FLOOR, TINY

#: The two kinds of H-step: plain MU, or the exact step under ``H e = e``.
H_STEPS: tuple[str, ...] = ("mu", "simplex")


def stationary_ratio(xp, C, D, mu, beta: float):
    """Stationary ratio ``r`` of the constrained majoriser and ``dr/dμ``, one μ per row.

    Stationarity per entry: ``D r^{β−1} − C r^{β−2} = μ``. ``D`` has the shape of ``C``.
    """
    mu = mu[:, None]
    if beta == 1:
        gap = D - mu
        r = C / gap
        return r, r / gap
    if beta == 2:
        t = C + mu
        active = t > 0
        return xp.where(active, t / D, 0.0), xp.where(active, 1.0 / D, 0.0)
    # β = 3/2: with s = √r, D s² − μ s − C = 0, s the positive root (cancellation-free form).
    R = xp.sqrt(mu * mu + 4.0 * D * C)
    s = xp.where(mu >= 0, (mu + R) / (2.0 * D), 2.0 * C / xp.floor(R - mu, TINY))
    r = s * s
    return r, 2.0 * r / xp.floor(R, TINY)


def mu_step(xp, F, C, D):
    """Unconstrained β-MU step ``max(ε, F ⊙ C ⊘ D)`` (exponent 1: β ∈ [1, 2])."""
    return xp.floor_(F * (C / xp.floor(D, TINY)), FLOOR)


class Rows(Protocol):
    """A backend's ``(H̃, C, D)`` for the H-steps; r-vectors live in ``xp``'s arrays."""

    xp: Any

    def start(self):
        """Per row, a multiplier right of the root (``f ≥ 0``)."""

    def partials(self, mu, idx):
        """``(Σ_j H̃ r(μ), Σ_j H̃ r'(μ))`` for the rows ``idx`` (``mu`` of those rows)."""

    def scaled(self, mu):
        """The unnormalised step ``max(ε, H̃ ⊙ r(μ))`` and its row sums.

        ``mu=None``: the β = 1 closed form ``max(ε, H̃ ⊙ C)``.
        """

    def divided(self, new, sums):
        """``new`` with each row divided by ``sums``."""

    def mu_step(self):
        """The unconstrained step."""


class ArrayRows:
    """``(H̃, C, D)`` as arrays of one namespace (numpy, torch, or one dask block).

    Parameters
    ----------
    xp
        Array namespace of :mod:`.xp`.
    H, C, D
        Current factor (r × c, positive), β-MU numerator and denominator (``D`` may
        broadcast against ``C``).
    beta
        1, 1.5 or 2.
    """

    def __init__(self, xp, H, C, D, beta: float):
        self.xp = xp
        self.H = H
        self.C = C
        self.D = D
        self.beta = beta

    def start(self):
        xp, H, C, beta = self.xp, self.H, self.C, self.beta
        D = xp.expand(self.D, C.shape)
        if beta == 1:
            # As the reference: j* = argmin_j D_kj, μ = D − C H̃ there (so that term alone is 1).
            d, c, h = xp.row_argmin_take(D, C, H)
            return d - c * h
        if beta == 2:
            return xp.row_min(D / H - C)
        sqrt_h = xp.sqrt(H)
        return xp.row_min(D / sqrt_h - C * sqrt_h)

    def partials(self, mu, idx):
        xp, H = self.xp, self.H
        D = xp.expand(self.D, self.C.shape)
        r, dr = stationary_ratio(xp, self.C[idx], D[idx], mu, self.beta)
        return xp.row_sum(H[idx] * r), xp.row_sum(H[idx] * dr)

    def scaled(self, mu):
        xp = self.xp
        if mu is None:
            new = self.H * self.C
        else:
            D = xp.expand(self.D, self.C.shape)
            new = self.H * stationary_ratio(xp, self.C, D, mu, self.beta)[0]
        new = xp.floor_(new, FLOOR)
        return new, xp.row_sum(new)

    def divided(self, new, sums):
        return new / sums[:, None]

    def mu_step(self):
        return mu_step(self.xp, self.H, self.C, self.D)


def newton_multipliers(rows: Rows, *, tol: float = 1e-12, max_iter: int = 100):
    """Lagrange multipliers μ (one per row) for ``H e = e``, by Newton.

    f_k(μ) = Σ_j H̃_kj r_kj(μ) − 1 is increasing and convex in μ for β ∈ {1, 3/2, 2}; Newton
    started right of the root (``f ≥ 0``) therefore decreases monotonically onto it. A row
    stops when |Δμ_k| ≤ ``tol``·max(1, |μ_k|); all stop after ``max_iter`` steps.

    Returns
    -------
    μ as an r-vector of ``rows.xp``.
    """
    xp = rows.xp
    mu = rows.start()
    active = xp.ones_mask(mu)
    for _ in range(max_iter):
        idx = xp.flatnonzero(active)
        if xp.size(idx) == 0:
            break
        total, slope = rows.partials(mu[idx], idx)
        f = total - 1.0
        positive = slope > 0
        step = xp.where(positive, f / xp.where(positive, slope, 1.0), 0.0)
        mu[idx] -= step
        done = xp.abs(step) <= tol * xp.floor(xp.abs(mu[idx]), 1.0)
        active[idx[done]] = False
    return mu


def h_step(rows: Rows, kind: str, beta: float, *, closed_form: bool | None = None):
    """The H-step ``kind`` (``'mu'`` or ``'simplex'``) from the ratios held by ``rows``.

    ``closed_form`` (default: β = 1) uses the KL closed form of the multiplier, exact when
    ``D`` is constant along rows.

    Returns
    -------
    The new ``H`` in the backend's representation, entries ≥ :data:`FLOOR`; under
    ``'simplex'`` its rows sum to one.
    """
    if kind == "mu":
        return rows.mu_step()
    if closed_form is None:
        closed_form = beta == 1
    mu = None if closed_form else newton_multipliers(rows)
    return rows.divided(*rows.scaled(mu))
