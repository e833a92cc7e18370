"""Block updates of deep β-NMF: exact minimisers of the majorisers of one factor.

Orientation (paper, Leplat et al. 2024): ``Y ≈ W H`` with ``Y`` features × samples, i.e.
genes × cells at layer 1 and genes × r_{ℓ−1} (the previous layer's programs) deeper down.
``W`` (genes × r) holds programs, ``H`` (r × samples) their activities.

Every update here minimises a separable majoriser of the layer's objective at the current
iterate (marked ``~``), so a sweep of them never increases the objective. The inputs are the
standard β-MU ratios of the data term, computed by the caller at the current iterate:

* H-side: ``C = Wᵀ(Y ⊙ Q^{β−2})``, ``D = Wᵀ Q^{β−1}`` with ``Q = W̃H̃``;
* W-side: ``C = (Y ⊙ Q^{β−2}) Hᵀ``, ``D = Q^{β−1} Hᵀ``.

For β ∈ [1, 2] the Jensen majoriser of D_β(Y | WH) in a factor ``F`` has the derivative
``D r^{β−1} − C r^{β−2}`` in ``F`` with ``r = F / F̃`` (Févotte & Idier 2011).
"""

from __future__ import annotations

import numpy as np
from scipy.special import wrightomega

from . import hsteps
from .xp import FLOOR, NUMPY

#: Betas for which deep β-NMF has closed-form (or Newton) block updates.
SUPPORTED_BETAS: tuple[float, ...] = (1.0, 1.5, 2.0)


# --------------------------------------------------------------------------------------
# H-steps on host arrays (the loops themselves are in .hsteps, shared by every backend)
# --------------------------------------------------------------------------------------
def stationary_ratio(C: np.ndarray, D: np.ndarray, mu: np.ndarray, beta: float):
    """Stationary ratio ``r`` of the constrained majoriser and ``dr/dμ`` for one μ per row.

    Stationarity per entry: ``D r^{β−1} − C r^{β−2} = μ`` (see :func:`.hsteps.stationary_ratio`).
    """
    return hsteps.stationary_ratio(NUMPY, C, np.broadcast_to(D, C.shape), mu, beta)


def row_multipliers(
    H: np.ndarray,
    C: np.ndarray,
    D: np.ndarray,
    beta: float,
    *,
    tol: float = 1e-12,
    max_iter: int = 100,
) -> np.ndarray:
    """Lagrange multipliers μ (one per row of ``H``) for the constraint ``H e = e``, by Newton.

    See :func:`.hsteps.newton_multipliers`.

    Parameters
    ----------
    H
        Current factor (r × c), positive.
    C, D
        Numerator and denominator of the β-MU ratio for ``H`` (r × c; ``D`` may broadcast).
    beta
        1, 1.5 or 2.
    tol, max_iter
        Newton stopping rule.

    Returns
    -------
    numpy.ndarray
        μ, shape (r,).
    """
    rows = hsteps.ArrayRows(NUMPY, H, C, D, beta)
    return hsteps.newton_multipliers(rows, tol=tol, max_iter=max_iter)


def row_simplex_step(
    H: np.ndarray,
    C: np.ndarray,
    D: np.ndarray,
    beta: float,
    *,
    closed_form: bool | None = None,
) -> np.ndarray:
    """Update ``H`` under ``H e = e`` (rows sum to one): the exact constrained MM step.

    For β = 1 with ``D`` constant along each row (``D = Wᵀ1``, always the case for KL) the
    multiplier has the closed form μ_k = D_k − Σ_j H̃_kj C_kj, i.e. the step scales ``H̃`` by
    ``C`` and renormalises each row. Otherwise μ comes from :func:`row_multipliers`.

    The reference code applies the KL form ``H̃ ⊙ C ⊘ (D − μ)`` for β = 3/2 as well; here the
    β = 3/2 step solves the majoriser's stationarity exactly (a quadratic in √r), which keeps
    the objective monotone.

    Parameters
    ----------
    H
        Current factor (r × c), positive.
    C, D
        β-MU numerator and denominator at the current iterate (``D`` may broadcast).
    beta
        1, 1.5 or 2.
    closed_form
        Force (``True``) or forbid (``False``) the β = 1 closed form; ``None``: use it when
        ``D`` is constant along rows.

    Returns
    -------
    numpy.ndarray
        New ``H`` (r × c) with entries ≥ :data:`FLOOR` and rows summing to one.
    """
    if closed_form is None:
        closed_form = beta == 1 and (D.ndim < 2 or D.shape[1] == 1 or _row_constant(D))
    rows = hsteps.ArrayRows(NUMPY, H, C, D, beta)
    return hsteps.h_step(rows, "simplex", beta, closed_form=closed_form)


def _row_constant(D: np.ndarray) -> bool:
    strides = getattr(D, "strides", (1, 1))
    if len(strides) == 2 and strides[1] == 0:  # a broadcast row vector
        return True
    return bool(np.all(D == D[:, :1]))


def mu_step(F: np.ndarray, C: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Unconstrained β-MU step ``max(ε, F ⊙ C ⊘ D)`` (exponent 1: β ∈ [1, 2])."""
    return hsteps.mu_step(NUMPY, F, C, D)


# --------------------------------------------------------------------------------------
# W-step of a non-final layer: min D_β(Y | W H) + λ D_β(W | W̄),  W̄ = W_{ℓ+1} H_{ℓ+1}
# --------------------------------------------------------------------------------------
def kl_w_update(
    W: np.ndarray,
    C: np.ndarray,
    h: np.ndarray,
    W_bar: np.ndarray,
    lam: float,
) -> np.ndarray:
    """Exact KL W-step through the Wright omega function.

    Stationarity of the majoriser, per entry: ``h − B/W + λ log(W/W̄) = 0`` with
    ``B = W̃ ⊙ C`` and ``h = (H 1)ᵀ``. Writing ``A = h − λ log W̄`` its solution is
    ``W = (B/λ) / LambertW((B/λ) e^{A/λ})``; since ``LambertW(e^t) = ω(t)`` (Wright omega)
    this is ``W = (B/λ) / ω(log(B/λ) + A/λ)``, which never forms the overflowing exponential.

    Parameters
    ----------
    W
        Current programs (genes × r).
    C
        ``(Y ⊘ W̃H) Hᵀ`` (genes × r).
    h
        Row sums of ``H`` (length r; all ones under ``H e = e``).
    W_bar
        ``W_{ℓ+1} H_{ℓ+1}`` from the layer below (genes × r).
    lam
        λ_{ℓ+1} / λ_ℓ.

    Returns
    -------
    numpy.ndarray
        New ``W`` with entries ≥ :data:`FLOOR`.
    """
    B = np.maximum(W * C, np.finfo(float).tiny) / lam
    A = np.asarray(h)[None, :] - lam * np.log(W_bar)
    omega = np.real(wrightomega(np.log(B) + A / lam))
    return np.maximum(B / omega, FLOOR)


def kl_w_update_lambertw(
    W: np.ndarray, C: np.ndarray, h: np.ndarray, W_bar: np.ndarray, lam: float
) -> np.ndarray:
    """The same step with LambertW of an exponential (overflows for large arguments).

    Kept to check :func:`kl_w_update`; never used by the solver.
    """
    from scipy.special import lambertw

    B = (W * C) / lam
    A = np.asarray(h)[None, :] - lam * np.log(W_bar)
    return np.maximum(B / np.real(lambertw(B * np.exp(A / lam))), FLOOR)


def beta32_w_update(
    W: np.ndarray, C: np.ndarray, D: np.ndarray, W_bar: np.ndarray, lam: float
) -> np.ndarray:
    """Exact β = 3/2 W-step: a quadratic in √W.

    With s = √W, the majoriser's stationarity ``D √(W/W̃) − C √(W̃/W) + 2λ(√W − √W̄) = 0``
    becomes ``a s² − b s − c = 0`` with ``a = D/√W̃ + 2λ``, ``b = 2λ√W̄``, ``c = C√W̃``.

    Returns
    -------
    numpy.ndarray
        New ``W`` with entries ≥ :data:`FLOOR`.
    """
    sqrt_w = np.sqrt(W)
    a = D / sqrt_w + 2.0 * lam
    b = 2.0 * lam * np.sqrt(W_bar)
    c = C * sqrt_w
    s = (b + np.sqrt(b * b + 4.0 * a * c)) / (2.0 * a)
    return np.maximum(s * s, FLOOR)


def frobenius_w_update(
    W: np.ndarray, C: np.ndarray, D: np.ndarray, W_bar: np.ndarray, lam: float
) -> np.ndarray:
    """Exact β = 2 W-step: ``W = W̃ ⊙ (C + λW̄) ⊘ (D + λW̃)`` (C = YHᵀ, D = W̃HHᵀ).

    Returns
    -------
    numpy.ndarray
        New ``W`` with entries ≥ :data:`FLOOR`.
    """
    return np.maximum(W * (C + lam * W_bar) / (D + lam * W), FLOOR)


def coupled_w_update(
    W: np.ndarray,
    C: np.ndarray,
    D: np.ndarray,
    W_bar: np.ndarray,
    lam: float,
    beta: float,
) -> np.ndarray:
    """Dispatch the W-step of a non-final layer on β (1, 3/2 or 2).

    For β = 1, ``D`` is the broadcast row sums of ``H`` (only its first row is read).

    Returns
    -------
    numpy.ndarray
        New ``W``.
    """
    if beta == 1:
        return kl_w_update(W, C, np.asarray(D)[0], W_bar, lam)
    if beta == 1.5:
        return beta32_w_update(W, C, D, W_bar, lam)
    return frobenius_w_update(W, C, D, W_bar, lam)
