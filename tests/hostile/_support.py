"""Shared helpers of the hostile battery: small count data and the "AnnData unchanged" check."""

from __future__ import annotations

import copy

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

N_OBS, N_VARS = 40, 20


def counts(seed: int = 0, n_obs: int = N_OBS, n_vars: int = N_VARS) -> np.ndarray:
    """Poisson counts with no empty cell (dense float64)."""
    rng = np.random.default_rng(seed)
    rates = rng.gamma(1.0, 1.0, (n_obs, 1)) * rng.gamma(1.0, 1.0, (1, n_vars))
    X = rng.poisson(2.0 * rates).astype(np.float64)
    X[:, 0] += 1
    return X


def _dense(X) -> np.ndarray:
    return X.toarray() if sp.issparse(X) else np.array(X)


def snapshot(adata: ad.AnnData) -> dict:
    """Everything a failed call must leave as it was: X, annotations, every slot's values."""
    return {
        "X": _dense(adata.X),
        "obs": adata.obs.copy(),
        "var": adata.var.copy(),
        **{slot: {k: copy.deepcopy(v) for k, v in getattr(adata, slot).items()}
           for slot in ("obsm", "varm", "layers")},
        "uns": copy.deepcopy(dict(adata.uns)),
    }  # fmt: skip


def _assert_same(after, before, where: str) -> None:
    if isinstance(before, dict):
        assert isinstance(after, dict) and after.keys() == before.keys(), where
        for key, value in before.items():
            _assert_same(after[key], value, f"{where}[{key!r}]")
    elif isinstance(before, pd.DataFrame):
        pd.testing.assert_frame_equal(after, before)
    elif isinstance(before, np.ndarray) or sp.issparse(before):
        a, b = _dense(after), _dense(before)
        nan = a.dtype.kind in "fc" and b.dtype.kind in "fc"
        assert a.shape == b.shape and np.array_equal(a, b, equal_nan=nan), where
    else:
        assert type(after) is type(before) and (after == before or after != after), where


def assert_unchanged(adata: ad.AnnData, before: dict) -> None:
    """The AnnData holds exactly what :func:`snapshot` saw."""
    _assert_same(snapshot(adata), before, "adata")
