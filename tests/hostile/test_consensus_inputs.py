"""Hostile inputs of ``tl.consensus_nmf``: refused before any replicate runs, AnnData unchanged.

Each case asserts the error type, a message naming the option (the problem) and the fix,
that no fit started (``fit_consensus`` is replaced by one that fails the test), and that
the AnnData holds exactly what it held before.
"""

from __future__ import annotations

import re

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import scnmf as snmf

from ._support import assert_unchanged, counts, snapshot

N_OBS, N_VARS = 40, 20


def _adata() -> ad.AnnData:
    X = counts(3, N_OBS, N_VARS).astype(np.float32)
    obs = pd.DataFrame(index=[f"c{i}" for i in range(N_OBS)])
    var = pd.DataFrame(index=[f"g{j}" for j in range(N_VARS)])
    adata = ad.AnnData(sp.csr_matrix(X), obs=obs, var=var)
    adata.layers["counts"] = X.copy()
    return adata


@pytest.fixture(autouse=True)
def _no_fit(monkeypatch):
    """Any replicate fit fails the test: a refusal must come before the work."""

    def boom(*args, **kwargs):
        raise AssertionError("fit_consensus started before the bad input was refused")

    for target in ("scnmf._core.consensus.fit_consensus", "scnmf.tl._consensus.fit_consensus"):
        monkeypatch.setattr(target, boom, raising=False)


def _negative(a):
    a.X = a.X.toarray()
    a.X[3, 2] = -1.0


def _nan(a):
    a.X = a.X.toarray()
    a.X[0, 5] = np.nan


def _foreign_raw(a):
    raw = a.copy()
    raw.var_names = [f"other{j}" for j in range(N_VARS)]
    a.raw = raw


def _raw(a):
    a.raw = a.copy()


def _hvg_five(a):
    a.var["highly_variable"] = np.arange(N_VARS) < 5


def _masked_nan(a):
    a.X = a.X.toarray()
    a.X[0, N_VARS - 1] = np.nan  # outside the mask, but gene scores cover every gene
    a.var["highly_variable"] = np.arange(N_VARS) < 10


# (id, mutate the AnnData, kwargs, error, patterns: the problem, then the fix)
CASES = [
    ("k-empty-list", None, {"n_components": []}, ValueError,
     [r"n_components", r"empty", r"range\(5, 11\)"]),
    ("k-empty-range", None, {"n_components": range(5, 5)}, ValueError,
     [r"n_components", r"empty"]),
    ("k-above-min-shape", None, {"n_components": [3, 25]}, ValueError,
     [r"n_components", r"25 is impossible for a 40 × 20 matrix"]),
    ("k-above-masked-genes", _hvg_five, {"n_components": [3, 6]}, ValueError,
     [r"n_components", r"6 is impossible for a 40 × 5 matrix"]),
    ("k-one", None, {"n_components": [1, 3]}, ValueError,
     [r"n_components", r"k ≥ 2", r"drop it"]),
    ("k-zero-int", None, {"n_components": 0}, ValueError, [r"n_components", r"k ≥ 2"]),
    ("k-float", None, {"n_components": [3.0, 4]}, ValueError,
     [r"n_components", r"integer"]),
    ("k-string", None, {"n_components": "5-12"}, ValueError,
     [r"n_components", r"range\(5, 11\)"]),
    ("k-2d-array", None, {"n_components": np.array([[3, 4]])}, ValueError,
     [r"n_components"]),
    ("k-bool", None, {"n_components": [True, 3]}, ValueError, [r"n_components"]),
    ("replicates-one", None, {"n_replicates": 1}, ValueError,
     [r"n_replicates", r"n_replicates ≥ 2"]),
    ("replicates-bool", None, {"n_replicates": True}, ValueError, [r"n_replicates"]),
    ("threshold-zero", None, {"density_threshold": 0}, ValueError,
     [r"density_threshold", r"\(0, 2\]", r"2 keeps every"]),
    ("threshold-above-2", None, {"density_threshold": 2.5}, ValueError,
     [r"density_threshold", r"\(0, 2\]"]),
    ("threshold-nan", None, {"density_threshold": float("nan")}, ValueError,
     [r"density_threshold", r"\(0, 2\]"]),
    ("threshold-string", None, {"density_threshold": "0.5"}, ValueError,
     [r"density_threshold"]),
    ("neighborhood-zero", None, {"local_neighborhood_size": 0.0}, ValueError,
     [r"local_neighborhood_size", r"\(0, 1\]", r"fraction of n_replicates"]),
    ("neighborhood-above-1", None, {"local_neighborhood_size": 1.5}, ValueError,
     [r"local_neighborhood_size"]),
    ("select-not-tried", None, {"n_components": [2, 3], "select": 5}, ValueError,
     [r"select", r"2 or 3", r"add it to n_components"]),
    ("select-one", None, {"n_components": [2, 3], "select": 1}, ValueError, [r"select"]),
    ("select-string", None, {"select": "auto"}, ValueError, [r"select"]),
    ("init-nndsvda", None, {"init": "nndsvda"}, ValueError,
     [r"init", r"replicates that differ", r"init='random'"]),
    ("init-nndsvd", None, {"init": "nndsvd"}, ValueError,
     [r"init", r"replicates that differ"]),
    ("init-custom", None, {"init": "custom"}, ValueError, [r"init", r"'random'"]),
    ("solver-agd", None, {"solver": "agd"}, ValueError, [r"solver", r"'hals'"]),
    ("hals-with-kl", None, {"solver": "hals", "beta_loss": "kullback-leibler"}, ValueError,
     [r"solver", r"solver='mu'"]),
    ("beta-negative", None, {"beta_loss": -1}, ValueError, [r"beta_loss"]),
    ("max-iter-zero", None, {"max_iter": 0}, ValueError, [r"max_iter", r"≥ 1"]),
    ("tol-negative", None, {"tol": -1e-3}, ValueError, [r"tol"]),
    ("seed-negative", None, {"random_state": -1}, ValueError,
     [r"random_state", r"random_state=0"]),
    ("device-unknown", None, {"device": "tpu"}, ValueError, [r"device", r"scnmf\[gpu\]"]),
    ("key-slash", None, {"key_added": "a/b"}, ValueError, [r"key_added", r"key_added='a_b'"]),
    ("key-scanpy-pca", None, {"key_added": "pca"}, ValueError,
     [r"key_added", r"sc.pp.pca", r"pca_scnmf"]),
    ("use-raw-flag", None, {"use_raw": "yes"}, ValueError, [r"use_raw", r"True or False"]),
    ("negative-data", _negative, {}, ValueError,
     [r"negative values", r"counts or log1p"]),
    ("nan-data", _nan, {}, ValueError, [r"NaN", r"remove or impute"]),
    ("nan-outside-mask", _masked_nan, {}, ValueError, [r"NaN", r"remove or impute"]),
    ("itakura-saito-zeros", None, {"beta_loss": "itakura-saito"}, ValueError,
     [r"zeros", r"pseudo-count"]),
    ("layer-missing", None, {"layer": "nope"}, KeyError,
     [r"Layer 'nope' not found", r"layer=None"]),
    ("use-raw-without-raw", None, {"use_raw": True}, ValueError,
     [r"adata.raw is None", r"adata.raw = adata", r"use_raw=False"]),
    ("use-raw-and-layer", _raw, {"use_raw": True, "layer": "counts"}, ValueError,
     [r"use_raw=True and layer='counts'", r"only one of them"]),
    ("use-raw-no-shared-gene", _foreign_raw, {"use_raw": True}, ValueError,
     [r"adata.raw.var_names", r"use_raw=False"]),
    ("mask-var-missing", None, {"mask_var": "hvg"}, KeyError,
     [r"mask_var='hvg'", r"mask_var=None"]),
    ("mask-var-empty", None, {"mask_var": np.zeros(N_VARS, dtype=bool)}, ValueError,
     [r"selects no gene", r"mask_var=None"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mutate", "kwargs", "error", "patterns"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_refused_before_any_fit(mutate, kwargs, error, patterns):
    adata = _adata()
    if mutate is not None:
        mutate(adata)
    before = snapshot(adata)
    call = {"n_components": [2, 3], "n_replicates": 3, "max_iter": 5, **kwargs}
    with pytest.raises(error) as info:
        snmf.tl.consensus_nmf(adata, call.pop("n_components"), **call)
    message = str(info.value.args[0]) if error is KeyError else str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message), (pattern, message)
    assert_unchanged(adata, before)


def test_not_an_anndata():
    with pytest.raises(TypeError, match="Expected an AnnData"):
        snmf.tl.consensus_nmf(np.ones((5, 5)), 2)


def test_backed_copy_refused(tmp_path):
    path = tmp_path / "a.h5ad"
    _adata().write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    try:
        with pytest.raises(ValueError, match=r"copy.*to_memory\(\)"):
            snmf.tl.consensus_nmf(backed, [2, 3], copy=True)
    finally:
        backed.file.close()


def test_every_option_is_in_the_table():
    import inspect

    from scnmf.tl._validate_consensus import CONSENSUS_PARAMS

    params = set(inspect.signature(snmf.tl.consensus_nmf).parameters)
    assert set(CONSENSUS_PARAMS.rules) == params - {"adata", "layer", "mask_var", "copy"}


def test_memory_guard_refuses_before_any_fit(monkeypatch):
    from scnmf._core.memory import InsufficientMemoryError

    monkeypatch.setenv("SCNMF_MAX_MEMORY", "4K")
    adata = _adata()
    before = snapshot(adata)
    with pytest.raises(InsufficientMemoryError, match=r"consensus NMF of 40 × 20 with k = 3"):
        snmf.tl.consensus_nmf(adata, [2, 3], n_replicates=3)
    assert_unchanged(adata, before)
