"""Alternating non-negative gradient descent (AND) of Li & Liang (ICML 2017, arXiv 1706.04097).

Orientation: ``X`` n × m (cells × genes) ≈ ``W`` (n × k) ``H`` (k × m). The paper writes
``y = A* x`` with samples as columns: its feature matrix ``A`` (D × r) is our ``Hᵀ`` (genes ×
programs) and its weights ``x`` are the rows of our ``W``. In our orientation one stage reads

* decode: ``W = φ_α(X H⁺)`` with ``H⁺ = pinv(H)`` (m × k) and the hard threshold
  ``φ_α(z) = z · 1[z ≥ α]`` (values at or above α are kept unchanged, the rest set to 0);
* gradient steps on the programs with the decoded weights held fixed:
  ``H ← H + η (WᵀX − WᵀW H)``, i.e. ``A ← A + η (Y Zᵀ − A Z Zᵀ)`` in the paper's notation;
* the threshold decreases geometrically from stage to stage, ``α ← α / decay``.

AND is a *refinement* method: the theory needs a "mild" initialisation (each program dominated
by its true counterpart), and in practice a warm start from MU/HALS. From a random start it
fails. During the stages the programs are not projected onto ``H ≥ 0`` (as in the paper and its
code; per-step clipping is offered as a departure). The *returned* programs are an NMF's, so
they are projected onto ``H ≥ 0`` once after the last stage; the returned activities are decoded
from these programs and the last loss value is that of the returned pair.

Two execution modes share the schedule:

* ``batch_size=None`` (full batch, as the authors' code): the pseudo-inverse and the decoded
  weights are computed once per stage; the statistics ``WᵀX`` (k × m) and ``WᵀW`` (k × k) are
  formed once (one sparse product) and the ``n_inner`` gradient steps then cost only
  ``O(k² m)`` each. One stage therefore costs about one multiplicative-update iteration: one
  ``X H⁺`` and one ``Xᵀ W`` product.
* ``batch_size=b`` (the paper's stochastic form): every inner step draws the next mini-batch of
  ``b`` cells from a seeded permutation, decodes it with the *current* programs and takes one
  gradient step on that batch. The loss history is then an estimate (mean over the stage's
  batches, before each step, scaled to all cells).

Sparse ``X`` (CSR) is never densified: all products go through :mod:`._sparse` and mini-batches
are row slices of the CSR matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .._backends import _sparse
from .beta import frobenius_from_products, squared_norm
from .result import NMFResult

Callback = Callable[[int, float], bool | None]

#: Default number of stages (threshold levels). The authors' code runs 200 stages of 50 steps;
#: with the step size below each stage's inner problem is nearly solved in fewer steps.
N_STAGES = 100
#: Default gradient steps per stage (the authors use 50 without noise, 100 with noise).
N_INNER = 50
#: Geometric threshold decay per stage (the authors' value).
DECAY = 1.1
#: Step size as a fraction of ``1 / λ_max(WᵀW)``, the inverse Lipschitz constant of the gradient.
STEP = 1.0
#: Default ``alpha0``: this fraction of the median positive decoded activity at the start.
ALPHA0_FRACTION = 0.5
#: Default for clipping programs to ``≥ 0`` after each step (off: a departure from the paper).
CLIP = False


@dataclass
class AGDResult(NMFResult):
    """Result of :func:`agd`: an :class:`NMFResult` plus the threshold schedule.

    Attributes
    ----------
    W
        Final decoded weights ``φ_α(X pinv(H))`` at the last threshold, n × k, nonnegative.
    H
        Programs (rows), k × m, nonnegative: the stages leave them unconstrained (unless
        ``clip=True``), and the negative entries left after the last stage are set to 0.
    loss
        ½‖X − WH‖² for the initial factors, then after each stage (decoded weights of that
        stage, programs after its inner steps); length ``n_iter + 1``. The last value is
        exactly the loss of the returned ``W`` and ``H``.
    n_iter
        Number of stages run.
    converged
        Whether the relative change of ``H`` fell below ``tol``.
    alphas
        Threshold used in each stage (length ``n_iter``).
    alpha0
        The initial threshold actually used (before the first decay).
    """

    alphas: np.ndarray | None = None
    alpha0: float = 0.0
    #: Negative program entries set to 0 after the last stage, and the most negative one.
    n_clipped: int = 0
    min_unclipped: float = 0.0


def hard_threshold(Z: np.ndarray, alpha: float) -> np.ndarray:
    """The paper's decoder nonlinearity ``φ_α``: zero every entry below ``alpha`` (in place).

    Parameters
    ----------
    Z
        Array of decoded activities; modified in place.
    alpha
        Threshold, ``≥ 0``. With ``alpha = 0`` this is the ReLU.

    Returns
    -------
    numpy.ndarray
        ``Z`` itself, with ``Z[Z < alpha] = 0`` (and negatives always zeroed).
    """
    Z[Z < max(alpha, 0.0)] = 0
    Z[Z < 0] = 0
    return Z


def decode(X, H: np.ndarray, alpha: float) -> np.ndarray:
    """Thresholded non-negative decoding ``φ_α(X pinv(H))`` (the paper's ``φ_α(A† y)``).

    Parameters
    ----------
    X
        n × m data (cells × genes), ndarray or CSR (never densified).
    H
        Programs, k × m.
    alpha
        Threshold.

    Returns
    -------
    numpy.ndarray
        n × k nonnegative activities in ``X``'s dtype.
    """
    pinv = np.linalg.pinv(H.astype(np.float64)).astype(X.dtype)  # m × k
    return hard_threshold(_sparse.spmm(X, pinv), alpha)


def _lambda_max(G: np.ndarray) -> float:
    """Largest eigenvalue of a symmetric PSD k × k matrix (0 for an all-zero matrix)."""
    return float(np.linalg.eigvalsh(G.astype(np.float64))[-1]) if G.size else 0.0


def _gradient_steps(
    H: np.ndarray, B: np.ndarray, G: np.ndarray, n_steps: int, step: float, clip: bool
) -> np.ndarray:
    """``n_steps`` of ``H ← H + η (B − G H)`` with ``η = step / λ_max(G)``."""
    lam = _lambda_max(G)
    if lam <= 0:
        return H  # every activity thresholded away: no information this stage
    eta = step / lam
    for _ in range(n_steps):
        H += eta * (B - G @ H)
        if clip:
            np.maximum(H, 0, out=H)
    return H


def _default_alpha0(Z: np.ndarray) -> float:
    positive = Z[Z > 0]
    return ALPHA0_FRACTION * float(np.median(positive)) if positive.size else 0.0


def _unrefined(W, H, losses: list[float], alpha0: float | None) -> AGDResult:
    """The warm start returned as it is (no stage ran)."""
    return AGDResult(
        W=np.array(W),
        H=H,
        loss=np.asarray(losses),
        n_iter=0,
        converged=False,
        alphas=np.zeros(0),
        alpha0=float(alpha0 or 0.0),
    )


def agd(
    X,
    W: np.ndarray,
    H: np.ndarray,
    *,
    n_stages: int = N_STAGES,
    n_inner: int = N_INNER,
    alpha0: float | None = None,
    decay: float = DECAY,
    step: float = STEP,
    batch_size: int | None = None,
    clip: bool = CLIP,
    tol: float = 0.0,
    random_state: int | None = 0,
    callback: Callback | None = None,
) -> AGDResult:
    """Refine an NMF by alternating non-negative gradient descent (Li & Liang 2017).

    Parameters
    ----------
    X
        n × m nonnegative data (cells × genes), ndarray or CSR; never densified whole.
    W, H
        Warm start, n × k and k × m, e.g. from :func:`~scnmf._core.mu.mu` or
        :func:`~scnmf._core.hals.hals` (copied, not modified). Only ``H`` drives the
        algorithm; ``W`` enters the first loss value only. Each row of ``H`` should be
        dominated by one true program (the paper's "mild" initialisation); from a random start
        the method fails.
    n_stages
        Number of stages (threshold levels); default :data:`N_STAGES`.
    n_inner
        Gradient steps per stage with the decoded weights fixed (full batch), or mini-batch
        steps per stage (``batch_size`` given); default :data:`N_INNER`.
    alpha0
        Initial threshold, decayed before its first use (so stage ``s = 1, 2, …`` uses
        ``alpha0 / decay**s``). ``None`` scales it to the data: :data:`ALPHA0_FRACTION` times
        the median positive entry of the first decoding ``X pinv(H)``. The paper's value
        (0.1) assumes activities of order one.
    decay
        Threshold divisor per stage, > 1; default 1.1.
    step
        Step size as a multiple of ``1 / λ_max(WᵀW)`` of the current decoded weights (of the
        mini-batch in stochastic mode), in (0, 2): ``step < 2`` keeps each stage's quadratic
        descent stable. The authors' fixed ``η = 0.5 / D`` does not carry over to other sizes.
    batch_size
        ``None``: full batch (pseudo-inverse and decoding once per stage). An integer: the
        stochastic form, each inner step on the next ``batch_size`` cells of a seeded
        permutation, decoded with the current programs.
    clip
        Project ``H`` onto ``≥ 0`` after every step. A departure from the paper (which leaves
        ``A`` unconstrained); off by default.
    tol
        Stop when ``‖H_new − H_old‖_F ≤ tol ‖H_old‖_F`` over a stage; ``0`` runs all stages.
    random_state
        Seed of the mini-batch order (stochastic mode). The full-batch mode is deterministic
        regardless.
    callback
        Called as ``callback(stage, loss)`` after the initial loss (stage 0) and after every
        stage; returning ``True`` stops the fit there.

    Returns
    -------
    AGDResult
        ``H``: programs after the last stage with negative entries set to 0 (counted in
        ``n_clipped``, the most negative in ``min_unclipped``); ``W``: final activities, the
        thresholded decoding ``φ_α(X pinv(H))`` of these programs at the last stage's
        threshold (not an NNLS refit); ``loss``: ½‖X − WH‖² history (per stage; the last
        value is that of the returned ``W`` and ``H``); ``n_iter``: stages run; ``converged``;
        ``alphas``; ``alpha0``. When no stage runs (``n_stages=0``, or the callback stops at
        stage 0) the warm start is returned unchanged.

    Notes
    -----
    Default schedule: ``n_stages = 100`` stages of ``n_inner = 50`` steps, thresholds
    ``α_s = α_0 / 1.1**s`` with ``α_0`` half the median positive decoded activity, step
    ``η_s = 1 / λ_max(W_sᵀ W_s)``. Thresholds therefore shrink by a factor ≈ 1.4·10⁴ over
    the run: early stages decode only the dominant activities (robust to the crosstalk of
    correlated weights), late stages are nearly an unthresholded least-squares decoding.
    """
    if X.ndim != 2:
        raise ValueError("X must be a 2-d array or sparse matrix.")
    if sp.issparse(X) and X.format != "csr":
        X = X.tocsr()
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    n, m = X.shape
    H = np.array(H, dtype=X.dtype, order="C")
    W = np.asarray(W, dtype=X.dtype)
    k = H.shape[0]
    if H.shape != (k, m) or W.shape != (n, k):
        raise ValueError(f"Shapes: X {X.shape}, W {W.shape}, H {H.shape} do not match.")
    if n_stages < 0 or n_inner < 1:
        raise ValueError("n_stages must be ≥ 0 and n_inner ≥ 1.")
    if not decay > 1:
        raise ValueError(f"decay must be > 1 (the threshold is divided by it); got {decay}.")
    if not 0 < step < 2:
        raise ValueError(f"step must lie in (0, 2) (a multiple of 1/λ_max); got {step}.")
    if batch_size is not None and batch_size < 1:
        raise ValueError("batch_size must be a positive integer or None.")

    sq_norm = squared_norm(X)
    XHt = _sparse.spmm(X, np.ascontiguousarray(H.T))
    losses = [frobenius_from_products(sq_norm, W, XHt, (H @ H.T).astype(np.float64))]
    alphas: list[float] = []
    converged = False
    n_iter = 0
    alpha = alpha0
    if callback is not None and callback(0, losses[0]):
        return _unrefined(W, H, losses, alpha0)

    rng = np.random.default_rng(random_state)
    order = rng.permutation(n) if batch_size is not None else None
    if batch_size is not None:
        row_sq = (
            np.asarray(X.multiply(X).sum(axis=1), dtype=np.float64).ravel()
            if sp.issparse(X)
            else np.einsum("ij,ij->i", X, X, dtype=np.float64)
        )
    cursor = 0
    used_alpha0 = alpha0

    for stage in range(1, n_stages + 1):
        H_old = H.copy()
        if batch_size is None:
            Z = _sparse.spmm(X, np.linalg.pinv(H.astype(np.float64)).astype(X.dtype))
            if alpha is None:
                alpha = used_alpha0 = _default_alpha0(Z)
            alpha = alpha / decay
            hard_threshold(Z, alpha)
            B = _sparse.spmm_t(X, Z).T.astype(np.float64)  # WᵀX, k × m
            G = Z.T.astype(np.float64) @ Z  # WᵀW, k × k
            H64 = _gradient_steps(H.astype(np.float64), B, G, n_inner, step, clip)
            H = H64.astype(X.dtype)
            loss = 0.5 * (sq_norm - 2.0 * np.sum(B * H64) + np.sum(G * (H64 @ H64.T)))
            losses.append(max(float(loss), 0.0))
        else:
            b = min(batch_size, n)
            if alpha is None:
                first = order[:b]
                Zb = decode(X[first], H, 0.0)
                alpha = used_alpha0 = _default_alpha0(Zb)
            alpha = alpha / decay
            stage_loss = 0.0
            H64 = H.astype(np.float64)
            for _ in range(n_inner):
                if cursor + b > n:
                    order = rng.permutation(n)
                    cursor = 0
                rows = np.sort(order[cursor : cursor + b])
                cursor += b
                Xb = X[rows]
                Zb = decode(Xb, H64, alpha).astype(np.float64)
                B = np.asarray(_sparse.spmm_t(Xb, Zb).T, dtype=np.float64)
                G = Zb.T @ Zb
                stage_loss += 0.5 * (
                    row_sq[rows].sum() - 2.0 * np.sum(B * H64) + np.sum(G * (H64 @ H64.T))
                )
                H64 = _gradient_steps(H64, B, G, 1, step, clip)
            H = H64.astype(X.dtype)
            losses.append(max(float(stage_loss) * n / (n_inner * b), 0.0))
        alphas.append(float(alpha))
        n_iter = stage
        if callback is not None and callback(stage, losses[-1]):
            break
        if tol > 0:
            change = np.linalg.norm(H - H_old) / max(np.linalg.norm(H_old), 1e-300)
            if change <= tol:
                converged = True
                break

    if n_iter == 0:  # no stage ran: the warm start is the result
        return _unrefined(W, H, losses, used_alpha0)
    negative = H < 0
    n_clipped = int(negative.sum())
    min_unclipped = float(H.min()) if n_clipped else 0.0
    H[negative] = 0
    W_final = decode(X, H, alphas[-1])
    H64 = H.astype(np.float64)
    XHt = _sparse.spmm(X, np.ascontiguousarray(H64.T)).astype(np.float64)
    losses[-1] = frobenius_from_products(sq_norm, W_final.astype(np.float64), XHt, H64 @ H64.T)
    return AGDResult(
        W=W_final,
        H=H,
        loss=np.asarray(losses),
        n_iter=n_iter,
        converged=converged,
        alphas=np.asarray(alphas),
        alpha0=float(used_alpha0 or 0.0),
        n_clipped=n_clipped,
        min_unclipped=min_unclipped,
    )
