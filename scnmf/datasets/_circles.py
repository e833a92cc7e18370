"""Synthetic 3-D concentric circles embedded in 100 features (the pNMF paper's toy data)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

#: Ring radii, inner to outer.
RADII = (5.0, 10.0, 20.0, 50.0)


def concentric_circles(
    random_state: int | None = 0,
    *,
    n_per_ring: int = 20,
    n_features: int = 100,
    noise: float = 0.5,
) -> ad.AnnData:
    """Four noisy concentric rings in randomly oriented planes, padded with noise features.

    Ring r has radius 5, 10, 20 or 50 and lies in a random plane through the common centre
    (uniform random rotation per ring); points are evenly spaced in angle with a random
    phase, and their radius gets Gaussian noise of sd ``noise``. The three coordinates are
    shifted so their minimum is 5 (nonnegative data); the other ``n_features − 3`` features
    are i.i.d. N(5, 1) clipped at 0.

    Parameters
    ----------
    random_state
        Seed; identical seeds give identical data.
    n_per_ring
        Points per ring (4 rings).
    n_features
        Total number of features (≥ 3).
    noise
        Standard deviation of the radial noise.

    Returns
    -------
    anndata.AnnData
        ``X``: dense float64 (4·n_per_ring × n_features); ``obs['label']``: categorical ring
        (``'ring1'`` innermost … ``'ring4'``); ``obsm['coords']``: the 3-D coordinates before
        shifting (centre at the origin); ``uns['circles']``: radii and settings.

    Examples
    --------
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.concentric_circles()
    >>> adata.shape
    (80, 100)
    """
    if n_features < 3:
        raise ValueError(f"n_features must be at least 3, got {n_features!r}.")
    if n_per_ring < 1:
        raise ValueError(f"n_per_ring must be at least 1, got {n_per_ring!r}.")
    rng = np.random.default_rng(random_state)
    coords, labels = [], []
    for ring, radius in enumerate(RADII, start=1):
        # A uniformly random orthonormal frame; its first two axes span the ring's plane.
        Q, R = np.linalg.qr(rng.standard_normal((3, 3)))
        Q = Q * np.sign(np.diag(R))
        angles = rng.uniform(0, 2 * np.pi) + np.linspace(0, 2 * np.pi, n_per_ring, endpoint=False)
        r = radius + noise * rng.standard_normal(n_per_ring)
        planar = np.column_stack([r * np.cos(angles), r * np.sin(angles)])
        coords.append(planar @ Q[:, :2].T)
        labels += [f"ring{ring}"] * n_per_ring
    coords = np.vstack(coords)
    shifted = coords - coords.min(axis=0) + 5.0
    padding = np.clip(rng.normal(5.0, 1.0, (coords.shape[0], n_features - 3)), 0, None)
    X = np.hstack([shifted, padding])
    n = X.shape[0]
    obs = pd.DataFrame(
        {"label": pd.Categorical(labels, categories=[f"ring{i}" for i in range(1, 5)])},
        index=[f"cell{i}" for i in range(n)],
    )
    var = pd.DataFrame(index=[f"feature{j}" for j in range(n_features)])
    adata = ad.AnnData(X, obs=obs, var=var)
    adata.obsm["coords"] = coords
    adata.uns["circles"] = {
        "radii": np.asarray(RADII),
        "noise": float(noise),
        "n_per_ring": int(n_per_ring),
        "random_state": "None" if random_state is None else int(random_state),
    }
    return adata
