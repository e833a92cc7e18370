"""Minimum-volume W-step of deep KL-NMF: log-det majoriser and its ADMM (Algorithm 2)."""

from __future__ import annotations

import numpy as np
from scipy.special import wrightomega

from .updates import FLOOR


# --------------------------------------------------------------------------------------
# Minimum-volume KL W-step: columns of W sum to one, α log det(WᵀW + δI)
# --------------------------------------------------------------------------------------
def logdet(W: np.ndarray, delta: float) -> float:
    """Natural log det(WᵀW + δI)."""
    sign, value = np.linalg.slogdet(W.T @ W + delta * np.eye(W.shape[1]))
    return float(value) if sign > 0 else float("-inf")


class MinVolMajoriser:
    """Separable majoriser of the layer-ℓ W-subproblem of Algorithm 2 (divided by λ_ℓ).

    ``M(W) = Σ[h W − B log W] + a Σ[P W²/W̃ − 2 N W] (+ λ' KL(W | W̄))`` where
    ``B = W̃ ⊙ ((Y ⊘ W̃H) Hᵀ)``, ``a = α_ℓ/λ_ℓ``, ``Ỹ = (W̃ᵀW̃ + δI)⁻¹``, ``P = W̃Ỹ⁺``,
    ``N = W̃Ỹ⁻``. The log det term is majorised by its tangent in ``WᵀW`` (concavity),
    then ``tr(W Ỹ Wᵀ)`` by the Lee–Seung bound on the positive part and the tangent of the
    negative part. ``M(W) − M(W̃)`` bounds the change of the true objective from above.
    """

    def __init__(
        self,
        W: np.ndarray,
        C: np.ndarray,
        h: np.ndarray,
        a: float,
        delta: float,
        W_bar: np.ndarray | None = None,
        lam: float = 0.0,
    ):
        self.W0 = W
        self.B = W * C
        self.h = np.asarray(h)[None, :]
        self.a = a
        Yinv = np.linalg.inv(W.T @ W + delta * np.eye(W.shape[1]))
        self.P = W @ np.maximum(Yinv, 0.0)
        self.N = W @ np.maximum(-Yinv, 0.0)
        self.W_bar = W_bar
        self.lam = lam
        self._mu: np.ndarray | None = None

    def value(self, W: np.ndarray) -> float:
        """M(W) up to a constant independent of ``W``."""
        tiny = np.finfo(float).tiny
        total = np.sum(self.h * W - self.B * np.log(np.maximum(W, tiny)))
        total += self.a * np.sum(self.P * W * W / self.W0 - 2.0 * self.N * W)
        if self.W_bar is not None and self.lam > 0:
            total += self.lam * np.sum(W * np.log(W / self.W_bar) - W + self.W_bar)
        return float(total)

    def solve(self, V: np.ndarray | None = None, p: float = 0.0) -> np.ndarray:
        """Minimiser over ``Wᵀe = e`` of the data/volume part + (p/2)‖W − V‖².

        Per entry ``q W² + (c − μ) W − B = 0`` with ``q = 2aP/W̃ + p`` and
        ``c = h − 2aN − pV``; μ (one per column) by Newton from the right of the root.
        """
        q = 2.0 * self.a * self.P / self.W0 + p
        c = self.h - 2.0 * self.a * self.N
        if V is not None and p > 0:
            c = c - p * V
        B = self.B
        if self._mu is None:
            mu = np.min(c - B + q, axis=0)  # makes one entry of each column equal to 1
        else:
            # Warm start (ADMM calls this repeatedly with nearby V). From the left of the root
            # the first Newton step of a convex increasing f lands right of it, so this is safe.
            mu = self._mu.copy()
        for _ in range(200):
            W, dW = _minvol_root(q, c - mu[None, :], B)
            f = W.sum(axis=0) - 1.0
            df = dW.sum(axis=0)
            step = np.where(df > 0, f / np.where(df > 0, df, 1.0), 0.0)
            mu -= step
            if np.all(np.abs(step) <= 1e-13 * np.maximum(1.0, np.abs(mu))):
                break
        self._mu = mu
        W = _minvol_root(q, c - mu[None, :], B)[0]
        np.maximum(W, FLOOR, out=W)
        W /= W.sum(axis=0, keepdims=True)
        return W


def _minvol_root(q: np.ndarray, phi: np.ndarray, B: np.ndarray):
    """Positive root of ``q W² + φ W − B = 0`` and its derivative in μ (φ = c − μ)."""
    R = np.sqrt(phi * phi + 4.0 * q * B)
    tiny = np.finfo(float).tiny
    W = np.where(
        phi > 0, 2.0 * B / np.maximum(phi + R, tiny), (R - phi) / np.maximum(2.0 * q, tiny)
    )
    return W, W / np.maximum(R, tiny)


def minvol_admm_w_update(
    W: np.ndarray,
    C: np.ndarray,
    h: np.ndarray,
    W_bar: np.ndarray,
    *,
    lam_l: float,
    lam_next: float,
    alpha: float,
    delta: float,
    rho: float = 100.0,
    max_iter: int = 200,
    tol: float = 1e-6,
    accelerate: bool = False,
) -> tuple[np.ndarray, int, bool]:
    """ADMM W-step of a non-final layer in minimum-volume deep KL-NMF (Algorithm 2).

    Minimises ``λ_ℓ M(W) + λ_{ℓ+1} KL(Z | W̄)`` over ``W = Z``, ``Wᵀe = e``, with the scaled
    augmented term ``(ρ/2)‖W − Z + U‖²``. W-step: :meth:`MinVolMajoriser.solve` with
    ``p = ρ/λ_ℓ``; Z-step: ``Z = ω(log(νW̄) + νV)/ν`` with ``ν = ρ/λ_{ℓ+1}``, ``V = W + U``.
    Optional extrapolation γ_k = k/(k + 10) as the reference's accelerated variant. The
    result is kept only if it does not increase the majoriser (so the sweep stays monotone
    even when ADMM stops early).

    Returns
    -------
    W
        New programs (columns sum to one).
    n_iter
        ADMM iterations run.
    accepted
        Whether the ADMM point was kept (else ``W`` is returned unchanged).
    """
    lam = lam_next / lam_l
    major = MinVolMajoriser(W, C, h, alpha / lam_l, delta, W_bar=W_bar, lam=lam)
    p = rho / lam_l
    nu = rho / lam_next
    log_nu_wbar = np.log(nu * W_bar)
    Z = W.copy()
    U = np.zeros_like(W)
    Z_hat, U_hat = Z, U
    new = W
    k = 0
    for k in range(1, max_iter + 1):
        new = major.solve(Z_hat - U_hat, p)
        Z_prev, U_prev = Z, U
        Z = np.real(wrightomega(log_nu_wbar + nu * (new + U_hat))) / nu
        U = U_hat + new - Z
        if np.linalg.norm(new - Z) <= tol:
            break
        if accelerate:
            gamma = (k - 1) / (k - 1 + 10.0)
            Z_hat = Z + gamma * (Z - Z_prev)
            U_hat = U + gamma * (U - U_prev)
        else:
            Z_hat, U_hat = Z, U
    if major.value(new) <= major.value(W):
        return new, k, True
    return W, k, False
