"""The sweeps of deep β-NMF: block MM over the layers, H_ℓ then W_ℓ, until the objective stalls.

Orientation: genes × cells (see :mod:`scnmf._core.deep`). Every block update minimises a
majoriser of the layer-centric objective Σ_ℓ λ_ℓ D_β(W_{ℓ−1} | W_ℓ H_ℓ) (+ Σ α_ℓ log det
for Algorithm 2), so the objective never increases. Layer 1 lives on its backend
(:mod:`.factor`); every ``W_ℓ`` and the deeper layers are numpy on the host.
"""

from __future__ import annotations

import numpy as np

from .engine import has_converged
from .minvol import MinVolMajoriser, logdet, minvol_admm_w_update
from .multilayer import (
    DenseLayer,
    multilayer_baseline,
    multilayer_init,
    normalise,
    normalise_layer1,
)
from .result import DeepCallback, DeepNMFResult
from .updates import coupled_w_update, mu_step


def deep_sweeps(
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
    """Deep β-NMF with layer 1 on its backend: initialisation, weights, then the sweeps.

    The arguments are those of :func:`scnmf._core.deep.fit_deep` (trusted as given);
    ``layer1`` is open and stays open. Returns the result with ``device='cpu'``; the caller
    sets where layer 1 ran.
    """
    L = len(ranks)
    normalize = "columns" if min_volume else "rows"

    W, H, init_errors = multilayer_init(
        layer1, ranks, beta, n_init_iter, random_state, normalize, callback
    )
    layers = [layer1] + [DenseLayer(W[i], H[i + 1], beta) for i in range(L - 1)]
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
                    W[i] = normalise_layer1(W[i], layer, "rows")
                else:
                    W[i], layer.H = normalise(W[i], layer.H, "rows")
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
        multilayer = multilayer_baseline(
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
