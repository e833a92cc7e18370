"""Plain multilayer β-NMF: each layer factorised on its own (initialisation and baseline)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from .factor import ArrayFactor, data_mean
from .result import DeepCallback, MultilayerResult
from .updates import mu_step
from .xp import FLOOR, NUMPY


# --------------------------------------------------------------------------------------
# Evaluation of the β-MU terms of one layer
# --------------------------------------------------------------------------------------
class DenseTerms:
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
        return C, D, dense_beta(self.Y, Q, self.beta)

    def w_terms(self, W: np.ndarray, H: np.ndarray):
        num, den = self._ratios(W @ H)
        C = num @ H.T
        D = np.broadcast_to(H.sum(axis=1)[None, :], C.shape) if den is None else den @ H.T
        return C, D

    def error(self, W: np.ndarray, H: np.ndarray) -> float:
        return dense_beta(self.Y, W @ H, self.beta)


def dense_beta(Y: np.ndarray, Q: np.ndarray, beta: float) -> float:
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


class DenseLayer(ArrayFactor):
    """A layer ℓ ≥ 2: data ``W_{ℓ−1}`` and factor ``H_ℓ``, small dense float64 arrays."""

    def __init__(self, Y: np.ndarray, H: np.ndarray, beta: float):
        super().__init__(NUMPY, beta, H)
        self.terms = DenseTerms(Y, beta)

    def set_data(self, Y: np.ndarray) -> None:
        """The previous layer's programs changed: ``Y = W_{ℓ−1}``."""
        self.terms = DenseTerms(Y, self.beta)


# --------------------------------------------------------------------------------------
# Multilayer initialisation
# --------------------------------------------------------------------------------------
def random_start(rng: np.random.Generator, shape_w, shape_h, mean: float):
    """Uniform random factors scaled so that the mean of ``WH`` matches the data's mean."""
    k = shape_w[1]
    scale = np.sqrt(max(mean, FLOOR) / (0.25 * k))
    return scale * rng.random(shape_w), scale * rng.random(shape_h)


def dense_mu(Y: np.ndarray, W: np.ndarray, H: np.ndarray, beta: float, n_iter: int):
    """β-MU (exponent 1, floors at ε) on a small dense layer: H then W, as the reference."""
    terms = DenseTerms(Y, beta)
    for _ in range(n_iter):
        C, D, _ = terms.h_terms(W, H)
        H = mu_step(H, C, D)
        C, D = terms.w_terms(W, H)
        W = mu_step(W, C, D)
    return W, H


def normalise(W: np.ndarray, H: np.ndarray, how: Literal["rows", "columns"]):
    """Rescale (W, H) without changing WH: rows of H (or columns of W) sum to one."""
    if how == "rows":
        s = H.sum(axis=1)
        return W * s[None, :], H / s[:, None]
    s = W.sum(axis=0)
    return W / s[None, :], H * s[:, None]


def layer_rngs(random_state: int | None, n_layers: int) -> list[np.random.Generator]:
    return [np.random.default_rng(s) for s in np.random.SeedSequence(random_state).spawn(n_layers)]


def normalise_layer1(W: np.ndarray, layer1, how: Literal["rows", "columns"]) -> np.ndarray:
    """:func:`_normalise` with ``H_1`` held by its backend; returns the new ``W_1``."""
    if how == "rows":
        s = layer1.row_sums()
        layer1.scale_rows(s, divide=True)
        return W * s[None, :]
    s = W.sum(axis=0)
    layer1.scale_rows(s, divide=False)
    return W / s[None, :]


def multilayer_init(
    layer1,
    ranks: tuple[int, ...],
    beta: float,
    n_iter: int,
    random_state: int | None,
    normalize: Literal["rows", "columns"],
    callback: DeepCallback | None,
    phase: str = "init",
):
    """Multilayer β-NMF with layer 1 on its backend (see :mod:`.factor`).

    Returns ``W`` and ``H`` per layer and the per-layer errors. ``H[0]`` is ``None``: the
    layer-1 activities stay on the backend, which also keeps the raw engine state so the
    baseline can continue the layer-1 run.
    """
    rngs = layer_rngs(random_state, len(ranks))
    n_genes, n_cells = layer1.shape
    W0, H0 = random_start(rngs[0], (n_genes, ranks[0]), (ranks[0], n_cells), layer1.mean())
    dtype = layer1.dtype
    layer1.start_engine(H0.T.astype(dtype), W0.T.astype(dtype))
    layer1.run_engine(n_iter, callback, phase)
    W1 = layer1.engine_programs()
    layer1.activities_from_engine()
    W1 = normalise_layer1(W1, layer1, normalize)
    W, H = [W1], [None]
    errors = [layer1.error(W1)]
    for layer in range(1, len(ranks)):
        Y = W[-1]
        Wl, Hl = random_start(
            rngs[layer], (n_genes, ranks[layer]), (ranks[layer], Y.shape[1]), data_mean(Y)
        )
        Wl, Hl = dense_mu(Y, Wl, Hl, beta, n_iter)
        Wl, Hl = normalise(Wl, Hl, normalize)
        W.append(Wl)
        H.append(Hl)
        errors.append(dense_beta(Y, Wl @ Hl, beta))
    return W, H, np.asarray(errors)


def multilayer_baseline(
    layer1, ranks, beta, n_init_iter, max_iter, random_state, normalize, callback
):
    """Multilayer errors with ``n_init_iter + max_iter`` iterations per layer.

    Layer 1 continues the initialisation's engine run, kept by ``layer1`` (MU is invariant
    to the rescaling done in between, so this equals a fresh run of the full length); deeper
    layers restart from the same per-layer random draws on the baseline's own W_{ℓ−1}.
    Overwrites ``layer1``'s activities (the deep fit's have been fetched before).
    """
    rngs = layer_rngs(random_state, len(ranks))
    layer1.run_engine(max_iter, callback, "baseline")
    W1 = layer1.engine_programs()
    layer1.activities_from_engine()
    errors = [layer1.error(W1)]
    W1, H1 = normalise(W1, layer1.fetch(), normalize)
    W, H = [W1], [H1]
    n_genes = layer1.shape[0]
    for layer in range(1, len(ranks)):
        Y = W[-1]
        Wl, Hl = random_start(
            rngs[layer], (n_genes, ranks[layer]), (ranks[layer], Y.shape[1]), data_mean(Y)
        )
        Wl, Hl = dense_mu(Y, Wl, Hl, beta, n_init_iter + max_iter)
        errors.append(dense_beta(Y, Wl @ Hl, beta))
        Wl, Hl = normalise(Wl, Hl, normalize)
        W.append(Wl)
        H.append(Hl)
    return MultilayerResult(W=W, H=H, errors=np.asarray(errors))
