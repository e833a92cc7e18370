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

Layer 1 (the data term and ``H_1``) lives behind a backend of :mod:`.deep_backends`:
numpy/numba in host memory, torch on a device (:mod:`.torch_deep`) or dask map/reduce over
cell blocks (:mod:`.dask_deep`). The deeper layers and every ``W_ℓ`` update run in numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..nmf.result import has_converged
from .layers_host import data_mean as _mean
from .layers_host import make_layer1
from .minvol import MinVolMajoriser, logdet, minvol_admm_w_update
from .multilayer import (
    DeepCallback,
    MultilayerResult,
    _activities,
    _as_float,
    _check_ranks,
    _dense_beta,
    _dense_mu,
    _DenseLayer,
    _layer_rngs,
    _multilayer,
    _normalise,
    _normalise_layer1,
    _random_start,
)
from .updates import SUPPORTED_BETAS, coupled_w_update, mu_step


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
    device: str | None = None,
) -> DeepNMFResult:
    """Deep β-NMF (Algorithm 1) or minimum-volume deep KL-NMF (Algorithm 2).

    Parameters
    ----------
    X
        Nonnegative data, **genes × cells** (paper orientation). Sparse input stays sparse:
        layer 1 is evaluated on ``X.T`` with the engine's kernels (for β = 1, ``WH`` only at
        the nonzeros and Σ_ij (WH)_ij = (Σ_i W_i·)(Σ_j H_·j) for the zeros). A dask array
        (cells chunked, all genes in one chunk, numpy or scipy.sparse chunks) runs layer 1
        as map/reduce over its cell blocks (:mod:`.dask_deep`).
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
    device
        ``None`` (default): layer 1 in host memory with the numpy/numba engine. A torch
        device name (``'cpu'``, ``'cuda'``, ``'cuda:1'``): ``X`` goes to that device once
        (CSR when sparse) and layer 1's terms and ``H_1`` updates run there
        (:mod:`.torch_deep`). Ignored for dask arrays. Deeper layers (small genes × r
        matrices) and the ``W_1`` update always run in numpy on the host.

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
    layer1 = make_layer1(X, beta, device)
    try:
        return _deep_fit(
            layer1,
            ranks,
            beta=beta,
            min_volume=min_volume,
            alpha=alpha,
            delta=delta,
            n_init_iter=n_init_iter,
            max_iter=max_iter,
            tol=tol,
            random_state=random_state,
            rho=rho,
            admm_max_iter=admm_max_iter,
            admm_tol=admm_tol,
            accelerate=accelerate,
            alpha_calibration=alpha_calibration,
            baseline=baseline,
            monitor_blocks=monitor_blocks,
            callback=callback,
        )
    finally:
        layer1.close()


def _deep_fit(
    layer1,
    ranks: tuple[int, ...],
    *,
    beta: float,
    min_volume: bool,
    alpha: float,
    delta: float,
    n_init_iter: int,
    max_iter: int,
    tol: float,
    random_state: int | None,
    rho: float,
    admm_max_iter: int,
    admm_tol: float,
    accelerate: bool,
    alpha_calibration: str,
    baseline: bool,
    monitor_blocks: bool,
    callback: DeepCallback | None,
) -> DeepNMFResult:
    """The body of :func:`deep_nmf`, with layer 1 on its backend (validated arguments)."""
    L = len(ranks)
    normalize = "columns" if min_volume else "rows"

    W, H, init_errors = _multilayer(
        layer1, ranks, beta, n_init_iter, random_state, normalize, callback
    )
    layers = [layer1] + [_DenseLayer(W[i], H[i + 1], beta) for i in range(L - 1)]
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
            errors[i] = layers[i].error(W[i])
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
            layer = layers[i]
            err = layer.h_terms(W[i])
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
            layer.h_update("mu" if min_volume or last else "simplex")
            after_block((i,))

            C, D = layer.w_terms(W[i])
            if min_volume:
                h = layer.row_sums()
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
                        W[i + 1] @ layers[i + 1].H,
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
                if i == 0:
                    W[i] = _normalise_layer1(W[i], layer, "rows")
                else:
                    W[i], layer.H = _normalise(W[i], layer.H, "rows")
            else:
                W[i] = coupled_w_update(
                    W[i], C, D, W[i + 1] @ layers[i + 1].H, lambdas[i + 1] / lambdas[i], beta
                )
            if i + 1 < L:
                layers[i + 1].set_data(W[i])
            after_block((i, i + 1) if i + 1 < L else (i,))
            if i > 0:
                errors[i] = layer.error(W[i])
            if i + 1 < L:
                errors[i + 1] = layers[i + 1].error(W[i + 1])
        else:
            continue
        break

    H = [layer.fetch() for layer in layers]
    final_errors = errors.copy()
    extra: dict[str, np.ndarray] = {}
    if min_volume:
        extra["admm_iterations"] = np.asarray(admm_iters, dtype=np.int64)
        extra["rejected_w_steps"] = np.asarray(rejected, dtype=np.int64)
        extra["logdet"] = logdets.copy()

    multilayer = None
    if baseline:
        multilayer = _baseline(
            layer1, ranks, beta, n_init_iter, max_iter, random_state, normalize, callback
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


def _baseline(layer1, ranks, beta, n_init_iter, max_iter, random_state, normalize, callback):
    """Multilayer errors with ``n_init_iter + max_iter`` iterations per layer.

    Layer 1 continues the initialisation's engine run, kept by ``layer1`` (MU is invariant
    to the rescaling done in between, so this equals a fresh run of the full length); deeper
    layers restart from the same per-layer random draws on the baseline's own W_{ℓ−1}.
    Overwrites ``layer1``'s activities (the deep fit's have been fetched before).
    """
    rngs = _layer_rngs(random_state, len(ranks))
    layer1.run_engine(max_iter, callback, "baseline")
    W1 = layer1.engine_programs()
    layer1.activities_from_engine()
    errors = [layer1.error(W1)]
    W1, H1 = _normalise(W1, layer1.fetch(), normalize)
    W, H = [W1], [H1]
    n_genes = layer1.shape[0]
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
