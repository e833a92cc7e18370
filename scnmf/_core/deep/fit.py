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

Layer 1 (the data term and ``H_1``) lives behind a backend (:mod:`.factor`), picked once by
:func:`fit_deep`: numpy/numba in host memory (:mod:`.layers_host`), torch on a device
(:mod:`.layers_torch`) or dask map/reduce over cell blocks (:mod:`.layers_dask`). The
deeper layers and every ``W_ℓ`` update run in numpy; the sweeps are in :mod:`.sweeps`, the
multilayer initialisation and baseline in :mod:`.multilayer`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .._backends.select import Backend
from .backend import open_layer1
from .multilayer import multilayer_init
from .result import DeepCallback, DeepNMFResult, MultilayerResult
from .sweeps import deep_sweeps


def fit_deep(
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
    device: str | Backend = "cpu",
) -> DeepNMFResult:
    """Deep β-NMF (Algorithm 1) or minimum-volume deep KL-NMF (Algorithm 2).

    Parameters
    ----------
    X
        Nonnegative data, **genes × cells** (paper orientation). Sparse input stays sparse:
        layer 1 is evaluated on ``X.T`` with the engine's kernels (for β = 1, ``WH`` only at
        the nonzeros and Σ_ij (WH)_ij = (Σ_i W_i·)(Σ_j H_·j) for the zeros). A dask array
        (cells chunked, all genes in one chunk, numpy or scipy.sparse chunks) runs layer 1
        as map/reduce over its cell blocks (:mod:`.layers_dask`).
    ranks
        Strictly decreasing ranks (r_1, …, r_L), r_1 ≤ min(X.shape).
    beta
        1 (Kullback–Leibler), 1.5 or 2 (half squared Frobenius), one of
        :data:`.updates.SUPPORTED_BETAS`. Algorithm 2 needs β = 1.
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
        ``'cpu'`` (default): layer 1 in host memory with the numpy/numba engine. ``'cuda'``,
        ``'cuda:1'``: ``X`` goes to that GPU once (CSR when sparse) and layer 1's terms and
        ``H_1`` updates run there with torch (:mod:`.layers_torch`). ``'auto'``: a GPU when
        torch sees one, else ``'cpu'``. A :class:`~scnmf._core._backends.select.Backend`
        is taken as given (``Backend('torch', 'cpu')`` runs the torch backend on torch's CPU
        build). Ignored for dask arrays. Deeper layers (small genes × r matrices) and the
        ``W_1`` update always run in numpy on the host.

    The arguments are trusted: ``tl.deep_nmf`` checks them (ranks, β, ``min_volume`` with
    β = 1, nonnegative data).

    Returns
    -------
    DeepNMFResult
        Factors (genes × r_ℓ programs, ``H_1`` r_1 × cells), errors, weights, histories
        and where layer 1 ran (``device``: ``'cpu'``, ``'dask'`` or the torch device).

    Raises
    ------
    ValueError
        For an unknown device, a CUDA device torch cannot see, or a dask array whose genes
        are split over several chunks.
    """
    beta = float(beta)
    layer1, where = open_layer1(as_float(X), beta, device)
    try:
        result = deep_sweeps(
            layer1,
            tuple(int(r) for r in ranks),
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
    result.device = where
    return result


def multilayer_nmf(
    X,
    ranks: tuple[int, ...],
    *,
    beta: float = 1.0,
    n_iter: int = 500,
    random_state: int | None = 0,
    normalize: Literal["rows", "columns"] = "rows",
    device: str | Backend = "cpu",
) -> MultilayerResult:
    """Multilayer β-NMF: factorise ``X``, then ``W_1``, then ``W_2``… one layer at a time.

    Parameters
    ----------
    X
        Nonnegative data, **genes × cells** (dense or sparse; sparse stays sparse).
    ranks
        Strictly decreasing ranks (r_1, …, r_L), r_1 ≤ min(X.shape) (not checked).
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
    device
        Where layer 1 runs (dask arrays always run on dask): see
        :func:`scnmf._core.deep.fit_deep`.

    Returns
    -------
    MultilayerResult
        ``W`` (genes × r_ℓ), ``H`` (r_ℓ × r_{ℓ−1}, ``H[0]`` r_1 × cells) and per-layer errors.
    """
    layer1, _ = open_layer1(as_float(X), float(beta), device)
    try:
        W, H, errors = multilayer_init(
            layer1, tuple(int(r) for r in ranks), float(beta), n_iter, random_state, normalize, None
        )
        H[0] = layer1.fetch()
    finally:
        layer1.close()
    return MultilayerResult(W=W, H=H, errors=errors)


def as_float(X):
    """Floating data (float32 and float64 kept; anything else becomes float64)."""
    if X.dtype in (np.float32, np.float64):
        return X
    return X.astype(np.float64)
