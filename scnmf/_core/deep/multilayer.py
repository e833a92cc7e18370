"""Plain multilayer β-NMF: each layer factorised on its own (initialisation and baseline)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .layers_host import HostFactor, make_layer1
from .layers_host import data_mean as _mean
from .updates import FLOOR, mu_step

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


# --------------------------------------------------------------------------------------
# Evaluation of the β-MU terms of one layer
# --------------------------------------------------------------------------------------
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


class _DenseLayer(HostFactor):
    """A layer ℓ ≥ 2: data ``W_{ℓ−1}`` and factor ``H_ℓ``, small dense float64 arrays."""

    def __init__(self, Y: np.ndarray, H: np.ndarray, beta: float):
        super().__init__(beta, H)
        self.terms = _DenseTerms(Y, beta)

    def set_data(self, Y: np.ndarray) -> None:
        """The previous layer's programs changed: ``Y = W_{ℓ−1}``."""
        self.terms = _DenseTerms(Y, self.beta)


# --------------------------------------------------------------------------------------
# Multilayer initialisation
# --------------------------------------------------------------------------------------
def _random_start(rng: np.random.Generator, shape_w, shape_h, mean: float):
    """Uniform random factors scaled so that the mean of ``WH`` matches the data's mean."""
    k = shape_w[1]
    scale = np.sqrt(max(mean, FLOOR) / (0.25 * k))
    return scale * rng.random(shape_w), scale * rng.random(shape_h)


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


def _normalise_layer1(W: np.ndarray, layer1, how: Literal["rows", "columns"]) -> np.ndarray:
    """:func:`_normalise` with ``H_1`` held by its backend; returns the new ``W_1``."""
    if how == "rows":
        s = layer1.row_sums()
        layer1.scale_rows(s, divide=True)
        return W * s[None, :]
    s = W.sum(axis=0)
    layer1.scale_rows(s, divide=False)
    return W / s[None, :]


def _multilayer(
    layer1,
    ranks: tuple[int, ...],
    beta: float,
    n_iter: int,
    random_state: int | None,
    normalize: Literal["rows", "columns"],
    callback: DeepCallback | None,
    phase: str = "init",
):
    """Multilayer β-NMF with layer 1 on its backend (see :mod:`.deep_backends`).

    Returns ``W`` and ``H`` per layer and the per-layer errors. ``H[0]`` is ``None``: the
    layer-1 activities stay on the backend, which also keeps the raw engine state so the
    baseline can continue the layer-1 run.
    """
    rngs = _layer_rngs(random_state, len(ranks))
    n_genes, n_cells = layer1.shape
    W0, H0 = _random_start(rngs[0], (n_genes, ranks[0]), (ranks[0], n_cells), layer1.mean())
    dtype = layer1.dtype
    layer1.start_engine(H0.T.astype(dtype), W0.T.astype(dtype))
    layer1.run_engine(n_iter, callback, phase)
    W1 = layer1.engine_programs()
    layer1.activities_from_engine()
    W1 = _normalise_layer1(W1, layer1, normalize)
    W, H = [W1], [None]
    errors = [layer1.error(W1)]
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
    return W, H, np.asarray(errors)


def multilayer_nmf(
    X,
    ranks: tuple[int, ...],
    *,
    beta: float = 1.0,
    n_iter: int = 500,
    random_state: int | None = 0,
    normalize: Literal["rows", "columns"] = "rows",
    device: str | None = None,
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
    device
        Where layer 1 runs: ``None`` (numpy/numba; dask arrays run on dask) or a torch
        device name (see :func:`deep_nmf`).

    Returns
    -------
    MultilayerResult
        ``W`` (genes × r_ℓ), ``H`` (r_ℓ × r_{ℓ−1}, ``H[0]`` r_1 × cells) and per-layer errors.
    """
    ranks = _check_ranks(ranks, X.shape)
    X = _as_float(X)
    layer1 = make_layer1(X, float(beta), device)
    try:
        W, H, errors = _multilayer(
            layer1, ranks, float(beta), n_iter, random_state, normalize, None
        )
        H[0] = layer1.fetch()
    finally:
        layer1.close()
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
