"""Deep β-NMF (Leplat, Hien, Onwunta & Gillis, Neural Computation 2024).

Orientation: **genes × cells**, as in the paper, unlike the rest of ``_core`` (cells × genes).
The model is ::

    X ≈ W_1 H_1,   W_1 ≈ W_2 H_2,   …,   W_{L−1} ≈ W_L H_L,      r_1 > r_2 > … > r_L

with ``X`` genes × cells, ``W_ℓ`` genes × r_ℓ (gene programs), ``H_ℓ`` r_ℓ × r_{ℓ−1}
(r_0 = number of cells). The cell activities of layer ℓ are ``H_ℓ H_{ℓ−1} … H_1``, and
``H_ℓ`` says how the layer-(ℓ−1) programs merge into layer-ℓ programs.

Layer-centric objective, minimised by block majorisation–minimisation::

    Σ_ℓ λ_ℓ D_β(W_{ℓ−1} | W_ℓ H_ℓ)   (W_0 = X)

* Algorithm 1 (deep β-NMF, β ∈ {1, 3/2, 2}): rows of ``H_ℓ`` sum to one (``H_ℓ e = e``).
* Algorithm 2 (minimum-volume deep KL-NMF): adds ``Σ α_ℓ log det(W_ℓᵀW_ℓ + δI)`` and asks
  columns of ``W_ℓ`` to sum to one (``W_ℓᵀ e = e``); the W-step of a non-final layer is an
  ADMM.

Layer 1 is evaluated with the engine's sparse-aware β-MU terms (``WH`` only at the nonzeros
for KL; the sum over zeros in closed form), on ``X.T`` (cells × genes, the engine's
orientation); sparse ``X`` is never densified. Deeper layers are small dense matrices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp

from ._result import has_converged
from .beta import beta_divergence
from .deep_updates import (
    FLOOR,
    SUPPORTED_BETAS,
    MinVolMajoriser,
    coupled_w_update,
    logdet,
    minvol_admm_w_update,
    mu_step,
    row_simplex_step,
)
from .mu import make_ops
from .mu import mu as mu_solver

#: ``callback(phase, step, value)``; ``phase`` is ``'init'`` (layer-1 iterations of the
#: multilayer initialisation, value = layer-1 error), ``'sweep'`` (value = objective) or
#: ``'baseline'``. Returning ``True`` during ``'sweep'`` stops the outer loop.
DeepCallback = Callable[[str, int, float], bool | None]


@dataclass
class MultilayerResult:
    """Plain multilayer β-NMF: each layer factorised on its own, one after the other."""

    W: list[np.ndarray]
    H: list[np.ndarray]
    errors: np.ndarray

    def activities(self, layer: int) -> np.ndarray:
        """Cell activities of ``layer`` (1-based): ``H_ℓ … H_1``, r_ℓ × cells."""
        return _activities(self.H, layer)


def _activities(H: list[np.ndarray], layer: int) -> np.ndarray:
    out = H[0]
    for factor in H[1:layer]:
        out = factor @ out
    return out


@dataclass
class DeepNMFResult:
    """Factors and records of a deep β-NMF fit (genes × cells orientation).

    Attributes
    ----------
    W
        Gene programs per layer, ``W[ℓ−1]`` genes × r_ℓ.
    H
        ``H[0]`` r_1 × cells (layer-1 cell activities); ``H[ℓ−1]`` r_ℓ × r_{ℓ−1}.
    errors
        Final unweighted D_β(W_{ℓ−1} | W_ℓ H_ℓ) per layer, shape (L,).
    init_errors
        The same at the multilayer initialisation.
    lambdas
        Layer weights λ_ℓ = 1 / init_errors[ℓ].
    alphas
        Volume weights α_ℓ (zeros for Algorithm 1).
    loss
        Objective after the initialisation and after each sweep, length ``n_iter + 1``.
    layer_loss
        Unweighted per-layer errors at the same points, shape (n_iter + 1, L).
    n_iter
        Completed sweeps.
    converged
        Whether the relative-tolerance rule stopped the loop.
    block_loss
        Objective after every block update (only with ``monitor_blocks=True``).
    multilayer_errors
        Per-layer errors of the multilayer baseline with the same iteration budget per layer
        (only with ``baseline=True``).
    multilayer
        That baseline's factors (only with ``baseline=True``).
    extra
        Algorithm-specific records (e.g. ADMM iterations, rejected ADMM steps).
    """

    W: list[np.ndarray]
    H: list[np.ndarray]
    errors: np.ndarray
    init_errors: np.ndarray
    lambdas: np.ndarray
    alphas: np.ndarray
    loss: np.ndarray
    layer_loss: np.ndarray
    n_iter: int
    converged: bool
    block_loss: np.ndarray | None = None
    multilayer_errors: np.ndarray | None = None
    multilayer: MultilayerResult | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def activities(self, layer: int) -> np.ndarray:
        """Cell activities of ``layer`` (1-based): ``H_ℓ … H_1``, r_ℓ × cells."""
        return _activities(self.H, layer)


# --------------------------------------------------------------------------------------
# Evaluation of the β-MU terms of one layer
# --------------------------------------------------------------------------------------
class _DataTerms:
    """Layer 1: ``X`` genes × cells, evaluated by the engine on ``X.T`` (cells × genes).

    The engine factorises ``Xc ≈ A B`` with ``A = H_1ᵀ`` (cells × r) and ``B = W_1ᵀ``; its
    "W-side" terms are our H-side terms transposed, and vice versa.
    """

    def __init__(self, X, beta: float):
        Xc = X.T
        if sp.issparse(Xc):
            Xc = sp.csr_matrix(Xc)
        self.Xc = Xc
        self.beta = beta
        self.ops = make_ops(Xc, beta)

    def h_terms(self, W: np.ndarray, H: np.ndarray):
        """(C, D, error at (W, H)) for the update of ``H``."""
        num, den, loss = self.ops.w_terms(H.T, W.T)
        return _f64(num).T, _f64_den(den).T, float(loss)

    def w_terms(self, W: np.ndarray, H: np.ndarray):
        """(C, D) for the update of ``W``."""
        num, den = self.ops.h_terms(H.T, W.T)
        return _f64(num).T, _f64_den(den).T

    def error(self, W: np.ndarray, H: np.ndarray) -> float:
        """D_β(X | WH)."""
        return float(beta_divergence(self.Xc, H.T, W.T, self.beta))


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _f64_den(a) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 2 and a.strides[0] == 0:  # a broadcast row: keep it a cheap view
        return np.broadcast_to(a[0].astype(np.float64), a.shape)
    return np.asarray(a, dtype=np.float64)


class _DenseTerms:
    """Deeper layers: ``Y = W_{ℓ−1}`` genes × r_{ℓ−1}, dense float64, no floors needed."""

    def __init__(self, Y: np.ndarray, beta: float):
        self.Y = Y
        self.beta = beta

    def _ratios(self, Q: np.ndarray):
        beta, Y = self.beta, self.Y
        if beta == 1:
            return Y / Q, None
        if beta == 2:
            return Y, Q
        root = np.sqrt(Q)
        return Y / root, root

    def h_terms(self, W: np.ndarray, H: np.ndarray):
        Q = W @ H
        num, den = self._ratios(Q)
        C = W.T @ num
        D = np.broadcast_to(W.sum(axis=0)[:, None], C.shape) if den is None else W.T @ den
        return C, D, _dense_beta(self.Y, Q, self.beta)

    def w_terms(self, W: np.ndarray, H: np.ndarray):
        num, den = self._ratios(W @ H)
        C = num @ H.T
        D = np.broadcast_to(H.sum(axis=1)[None, :], C.shape) if den is None else den @ H.T
        return C, D

    def error(self, W: np.ndarray, H: np.ndarray) -> float:
        return _dense_beta(self.Y, W @ H, self.beta)


def _dense_beta(Y: np.ndarray, Q: np.ndarray, beta: float) -> float:
    """Σ d_β(Y | Q) for dense float64 arrays (0 log 0 = 0)."""
    if beta == 2:
        return 0.5 * float(np.sum((Y - Q) ** 2))
    if beta == 1:
        pos = Y > 0
        return float(np.sum(Y[pos] * np.log(Y[pos] / Q[pos])) - Y.sum() + Q.sum())
    return float(
        np.sum(Y**beta + (beta - 1.0) * Q**beta - beta * Y * Q ** (beta - 1.0))
        / (beta * (beta - 1.0))
    )


def _terms(Y, beta: float, layer: int):
    return _DataTerms(Y, beta) if layer == 0 else _DenseTerms(Y, beta)


# --------------------------------------------------------------------------------------
# Multilayer initialisation
# --------------------------------------------------------------------------------------
def _random_start(rng: np.random.Generator, shape_w, shape_h, mean: float):
    """Uniform random factors scaled so that the mean of ``WH`` matches the data's mean."""
    k = shape_w[1]
    scale = np.sqrt(max(mean, FLOOR) / (0.25 * k))
    return scale * rng.random(shape_w), scale * rng.random(shape_h)


def _mean(Y) -> float:
    total = float(Y.sum(dtype=np.float64)) if sp.issparse(Y) else float(np.sum(Y, dtype=np.float64))
    return total / (Y.shape[0] * Y.shape[1])


def _dense_mu(Y: np.ndarray, W: np.ndarray, H: np.ndarray, beta: float, n_iter: int):
    """β-MU (exponent 1, floors at ε) on a small dense layer: H then W, as the reference."""
    terms = _DenseTerms(Y, beta)
    for _ in range(n_iter):
        C, D, _ = terms.h_terms(W, H)
        H = mu_step(H, C, D)
        C, D = terms.w_terms(W, H)
        W = mu_step(W, C, D)
    return W, H


def _normalise(W: np.ndarray, H: np.ndarray, how: Literal["rows", "columns"]):
    """Rescale (W, H) without changing WH: rows of H (or columns of W) sum to one."""
    if how == "rows":
        s = H.sum(axis=1)
        return W * s[None, :], H / s[:, None]
    s = W.sum(axis=0)
    return W / s[None, :], H * s[:, None]


def _layer_rngs(random_state: int | None, n_layers: int) -> list[np.random.Generator]:
    return [np.random.default_rng(s) for s in np.random.SeedSequence(random_state).spawn(n_layers)]


def _layer1_mu(X, A, B, beta, n_iter, callback, phase):
    """Engine β-MU on ``X.T`` (cells × genes); returns the raw engine state (A, B)."""
    Xc = X.T
    if sp.issparse(Xc):
        Xc = sp.csr_matrix(Xc)
    if n_iter == 0:
        return A, B

    def report(iteration: int, loss: float) -> None:
        if callback is not None:
            callback(phase, iteration, loss)

    res = mu_solver(Xc, A, B, beta=beta, max_iter=n_iter, tol=0.0, callback=report)
    return res.W, res.H


def _multilayer(
    X,
    ranks: tuple[int, ...],
    beta: float,
    n_iter: int,
    random_state: int | None,
    normalize: Literal["rows", "columns"],
    callback: DeepCallback | None,
    phase: str = "init",
    layer1_state=None,
):
    """Multilayer β-NMF; also returns the raw layer-1 engine state for continuation."""
    rngs = _layer_rngs(random_state, len(ranks))
    n_genes, n_cells = X.shape
    if layer1_state is None:
        W0, H0 = _random_start(rngs[0], (n_genes, ranks[0]), (ranks[0], n_cells), _mean(X))
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
        A, B = H0.T.astype(dtype), W0.T.astype(dtype)
    else:
        A, B = layer1_state
    A, B = _layer1_mu(X, A, B, beta, n_iter, callback, phase)
    state = (A, B)
    W1 = np.maximum(np.asarray(B, dtype=np.float64).T, FLOOR)
    H1 = np.maximum(np.asarray(A, dtype=np.float64).T, FLOOR)
    W, H = [], []
    W1, H1 = _normalise(W1, H1, normalize)
    W.append(W1)
    H.append(H1)
    errors = [_DataTerms(X, beta).error(W1, H1)]
    for layer in range(1, len(ranks)):
        Y = W[-1]
        Wl, Hl = _random_start(
            rngs[layer], (n_genes, ranks[layer]), (ranks[layer], Y.shape[1]), _mean(Y)
        )
        Wl, Hl = _dense_mu(Y, Wl, Hl, beta, n_iter)
        Wl, Hl = _normalise(Wl, Hl, normalize)
        W.append(Wl)
        H.append(Hl)
        errors.append(_dense_beta(Y, Wl @ Hl, beta))
    return W, H, np.asarray(errors), state


def multilayer_nmf(
    X,
    ranks: tuple[int, ...],
    *,
    beta: float = 1.0,
    n_iter: int = 500,
    random_state: int | None = 0,
    normalize: Literal["rows", "columns"] = "rows",
) -> MultilayerResult:
    """Multilayer β-NMF: factorise ``X``, then ``W_1``, then ``W_2``… one layer at a time.

    Parameters
    ----------
    X
        Nonnegative data, **genes × cells** (dense or sparse; sparse stays sparse).
    ranks
        Strictly decreasing ranks (r_1, …, r_L).
    beta
        β of the divergence (any β ≥ 0 for the engine's layer 1; deeper layers use the MU
        with exponent one, valid for β ∈ [1, 2]).
    n_iter
        β-MU iterations per layer (exactly; no early stop).
    random_state
        Seed of the uniform random starts (one independent stream per layer).
    normalize
        ``'rows'``: rescale so rows of each ``H_ℓ`` sum to one; ``'columns'``: columns of each
        ``W_ℓ`` sum to one. Neither changes the products ``W_ℓ H_ℓ``.

    Returns
    -------
    MultilayerResult
        ``W`` (genes × r_ℓ), ``H`` (r_ℓ × r_{ℓ−1}, ``H[0]`` r_1 × cells) and per-layer errors.
    """
    ranks = _check_ranks(ranks, X.shape)
    X = _as_float(X)
    W, H, errors, _ = _multilayer(X, ranks, float(beta), n_iter, random_state, normalize, None)
    return MultilayerResult(W=W, H=H, errors=errors)


def _as_float(X):
    """Floating data (float32 and float64 kept; anything else becomes float64)."""
    if X.dtype in (np.float32, np.float64):
        return X
    return X.astype(np.float64)


def _check_ranks(ranks, shape) -> tuple[int, ...]:
    ranks = tuple(int(r) for r in ranks)
    if not ranks or any(r < 1 for r in ranks):
        raise ValueError(f"ranks must be positive integers, got {ranks}.")
    if any(a <= b for a, b in zip(ranks, ranks[1:], strict=False)):
        raise ValueError(f"ranks must be strictly decreasing, got {ranks}.")
    if ranks[0] > min(shape):
        raise ValueError(f"ranks[0]={ranks[0]} exceeds min{tuple(shape)} of the data.")
    return ranks


# --------------------------------------------------------------------------------------
# Deep β-NMF
# --------------------------------------------------------------------------------------
def deep_nmf(
    X,
    ranks: tuple[int, ...],
    *,
    beta: float = 1.0,
    min_volume: bool = False,
    alpha: float = 0.05,
    delta: float = 1.0,
    n_init_iter: int = 500,
    max_iter: int = 500,
    tol: float = 1e-6,
    random_state: int | None = 0,
    rho: float = 100.0,
    admm_max_iter: int = 200,
    admm_tol: float = 1e-6,
    accelerate: bool = True,
    alpha_calibration: Literal["weighted", "unweighted"] = "weighted",
    baseline: bool = False,
    monitor_blocks: bool = False,
    callback: DeepCallback | None = None,
) -> DeepNMFResult:
    """Deep β-NMF (Algorithm 1) or minimum-volume deep KL-NMF (Algorithm 2).

    Parameters
    ----------
    X
        Nonnegative data, **genes × cells** (paper orientation). Sparse input stays sparse:
        layer 1 is evaluated on ``X.T`` with the engine's kernels (for β = 1, ``WH`` only at
        the nonzeros and Σ_ij (WH)_ij = (Σ_i W_i·)(Σ_j H_·j) for the zeros).
    ranks
        Strictly decreasing ranks (r_1, …, r_L), r_1 ≤ min(X.shape).
    beta
        1 (Kullback–Leibler), 1.5 or 2 (half squared Frobenius). Algorithm 2 needs β = 1.
    min_volume
        Use Algorithm 2 (volume penalty, ``W_ℓᵀe = e``) instead of Algorithm 1 (``H_ℓ e = e``).
    alpha
        α̃: initial ratio of each layer's volume term to its weighted data term (Algorithm 2).
    delta
        δ in log det(WᵀW + δI).
    n_init_iter
        β-MU iterations per layer of the multilayer initialisation.
    max_iter
        Maximum number of sweeps (one pass over the layers, H_ℓ then W_ℓ each).
    tol
        Stop when the objective decreases by less than ``tol`` relative to the previous
        sweep; ``tol=0`` runs exactly ``max_iter`` sweeps.
    random_state
        Seed of the random starts of the initialisation; same seed, same result.
    rho, admm_max_iter, admm_tol, accelerate
        ADMM of Algorithm 2: penalty ρ, iteration cap, stop when ‖W − Z‖_F ≤ ``admm_tol``,
        extrapolation γ_k = k/(k + 10) (the reference demos' accelerated variant).
    alpha_calibration
        ``'weighted'`` (default): α_ℓ = α̃ λ_ℓ D_ℓ / |log det|, so the volume term starts at
        α̃ times the weighted data term. ``'unweighted'``: α_ℓ = α̃ D_ℓ / |log det| as the
        reference code, which for count data (D_ℓ ~ 10⁵–10⁶) lets the volume term dominate.
    baseline
        Also run a multilayer β-NMF with ``n_init_iter + max_iter`` iterations per layer from
        the same random starts (its layer 1 continues the initialisation's run) and report its
        errors in ``multilayer_errors``.
    monitor_blocks
        Evaluate the full objective after every block update (for tests; costs a pass over
        ``X`` per layer-1 block).
    callback
        See :data:`DeepCallback`.

    Returns
    -------
    DeepNMFResult
        Factors (genes × r_ℓ programs, ``H_1`` r_1 × cells), errors, weights and histories.
    """
    beta = float(beta)
    if beta not in SUPPORTED_BETAS:
        raise ValueError(f"deep β-NMF supports β in {SUPPORTED_BETAS}, got β = {beta:g}.")
    if min_volume and beta != 1:
        raise ValueError(f"min_volume=True is implemented for β = 1 only, got β = {beta:g}.")
    ranks = _check_ranks(ranks, X.shape)
    X = _as_float(X)
    L = len(ranks)
    normalize = "columns" if min_volume else "rows"

    W, H, init_errors, layer1_state = _multilayer(
        X, ranks, beta, n_init_iter, random_state, normalize, callback
    )
    terms = [_DataTerms(X, beta)] + [_DenseTerms(W[i], beta) for i in range(L - 1)]
    lambdas = 1.0 / np.maximum(init_errors, np.finfo(float).tiny)
    alphas = np.zeros(L)
    if min_volume:
        for i in range(L):
            ld = abs(logdet(W[i], delta))
            ref = lambdas[i] * init_errors[i] if alpha_calibration == "weighted" else init_errors[i]
            alphas[i] = alpha * ref / max(ld, np.finfo(float).tiny)

    errors = init_errors.copy()
    logdets = np.array([logdet(W[i], delta) for i in range(L)]) if min_volume else np.zeros(L)

    def objective() -> float:
        return float(lambdas @ errors + alphas @ logdets)

    block_loss: list[float] = []

    def after_block(changed: tuple[int, ...]) -> None:
        if not monitor_blocks:
            return
        for i in changed:
            errors[i] = terms[i].error(W[i], H[i])
            if min_volume:
                logdets[i] = logdet(W[i], delta)
        block_loss.append(objective())

    losses = [objective()]
    layer_losses = [errors.copy()]
    block_loss.append(losses[0])
    admm_iters: list[int] = []
    rejected = 0
    converged = False
    n_iter = 0
    for sweep in range(max_iter + 1):
        for i in range(L):
            C, D, err = terms[i].h_terms(W[i], H[i])
            if i == 0 and sweep > 0:
                # Layer 1's error at the end of the previous sweep comes free with this pass.
                errors[0] = err
                losses.append(objective())
                layer_losses.append(errors.copy())
                n_iter = sweep
                stop = callback is not None and callback("sweep", sweep, losses[-1])
                if has_converged(losses, tol):
                    converged = True
                    stop = True
                if stop:
                    break
            if sweep == max_iter:
                break
            last = i == L - 1
            if min_volume or last:
                H[i] = mu_step(H[i], C, D)
            else:
                H[i] = row_simplex_step(H[i], C, D, beta)
            after_block((i,))

            C, D = terms[i].w_terms(W[i], H[i])
            if min_volume:
                h = H[i].sum(axis=1)
                if last:
                    major = MinVolMajoriser(W[i], C, h, alphas[i] / lambdas[i], delta)
                    new = major.solve()
                    if major.value(new) <= major.value(W[i]):
                        W[i] = new
                    else:
                        rejected += 1
                else:
                    W[i], k, ok = minvol_admm_w_update(
                        W[i],
                        C,
                        h,
                        W[i + 1] @ H[i + 1],
                        lam_l=lambdas[i],
                        lam_next=lambdas[i + 1],
                        alpha=alphas[i],
                        delta=delta,
                        rho=rho,
                        max_iter=admm_max_iter,
                        tol=admm_tol,
                        accelerate=accelerate,
                    )
                    admm_iters.append(k)
                    rejected += int(not ok)
                logdets[i] = logdet(W[i], delta)
            elif last:
                W[i] = mu_step(W[i], C, D)
                W[i], H[i] = _normalise(W[i], H[i], "rows")
            else:
                W[i] = coupled_w_update(
                    W[i], C, D, W[i + 1] @ H[i + 1], lambdas[i + 1] / lambdas[i], beta
                )
            if i + 1 < L:
                terms[i + 1] = _DenseTerms(W[i], beta)
            after_block((i, i + 1) if i + 1 < L else (i,))
            if i > 0:
                errors[i] = terms[i].error(W[i], H[i])
            if i + 1 < L:
                errors[i + 1] = terms[i + 1].error(W[i + 1], H[i + 1])
        else:
            continue
        break

    final_errors = errors.copy()
    extra: dict[str, np.ndarray] = {}
    if min_volume:
        extra["admm_iterations"] = np.asarray(admm_iters, dtype=np.int64)
        extra["rejected_w_steps"] = np.asarray(rejected, dtype=np.int64)
        extra["logdet"] = logdets.copy()

    multilayer = None
    if baseline:
        multilayer = _baseline(
            X, ranks, beta, n_init_iter, max_iter, random_state, normalize, layer1_state, callback
        )
    return DeepNMFResult(
        W=W,
        H=H,
        errors=final_errors,
        init_errors=init_errors,
        lambdas=lambdas,
        alphas=alphas,
        loss=np.asarray(losses),
        layer_loss=np.asarray(layer_losses),
        n_iter=n_iter,
        converged=converged,
        block_loss=np.asarray(block_loss) if monitor_blocks else None,
        multilayer_errors=None if multilayer is None else multilayer.errors,
        multilayer=multilayer,
        extra=extra,
    )


def _baseline(X, ranks, beta, n_init_iter, max_iter, random_state, normalize, state, callback):
    """Multilayer errors with ``n_init_iter + max_iter`` iterations per layer.

    Layer 1 continues the initialisation's engine run (MU is invariant to the rescaling done
    in between, so this equals a fresh run of the full length); deeper layers restart from
    the same per-layer random draws on the baseline's own W_{ℓ−1}.
    """
    rngs = _layer_rngs(random_state, len(ranks))
    A, B = _layer1_mu(X, state[0], state[1], beta, max_iter, callback, "baseline")
    W1 = np.maximum(np.asarray(B, dtype=np.float64).T, FLOOR)
    H1 = np.maximum(np.asarray(A, dtype=np.float64).T, FLOOR)
    errors = [_DataTerms(X, beta).error(W1, H1)]
    W1, H1 = _normalise(W1, H1, normalize)
    W, H = [W1], [H1]
    n_genes = X.shape[0]
    for layer in range(1, len(ranks)):
        Y = W[-1]
        Wl, Hl = _random_start(
            rngs[layer], (n_genes, ranks[layer]), (ranks[layer], Y.shape[1]), _mean(Y)
        )
        Wl, Hl = _dense_mu(Y, Wl, Hl, beta, n_init_iter + max_iter)
        errors.append(_dense_beta(Y, Wl @ Hl, beta))
        Wl, Hl = _normalise(Wl, Hl, normalize)
        W.append(Wl)
        H.append(Hl)
    return MultilayerResult(W=W, H=H, errors=np.asarray(errors))
