"""Hostile inputs of ``tl.project``: refused before any fit, query and reference unchanged.

Each case asserts the error type, a message naming the problem and the fix, that no fit
started (``fit_activities`` is replaced by one that fails the test), and that both AnnData
objects hold exactly what they held before.
"""

from __future__ import annotations

import re

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import scnmf as snmf
from scnmf import _keys as C

from ._support import assert_unchanged, counts, snapshot

N_OBS, N_VARS, K, T = 40, 20, 3, 3
GENES = [f"g{j}" for j in range(N_VARS)]


def _query() -> ad.AnnData:
    X = counts(3, N_OBS, N_VARS).astype(np.float32)
    obs = pd.DataFrame(index=[f"c{i}" for i in range(N_OBS)])
    adata = ad.AnnData(sp.csr_matrix(X), obs=obs, var=pd.DataFrame(index=GENES))
    adata.layers["counts"] = X.copy()
    return adata


def _loadings(shape) -> np.ndarray:
    return np.random.default_rng(0).gamma(1.0, 1.0, shape).astype(np.float32)


def _reference() -> ad.AnnData:
    """A stored tl.nmf result and a tl.pnmf result with T scales (as the tl functions write)."""
    ref = _query()
    nmf, pnmf = C.factor_keys(C.NMF_KEY), C.pnmf_keys(C.PNMF_KEY)
    ref.obsm[nmf.obsm] = _loadings((N_OBS, K))
    ref.varm[nmf.varm] = _loadings((N_VARS, K))
    ref.uns[nmf.uns] = {"params": {"beta_loss": 2.0}, "loss": np.ones(2), "n_iter": 1}
    ref.obsm[pnmf.obsm] = _loadings((N_OBS, K))
    ref.obsm[pnmf.obsm_scales] = _loadings((N_OBS, T, K))
    ref.varm[pnmf.varm] = _loadings((N_VARS, T, K))
    ref.uns[pnmf.uns] = {"params": {}, "reference_scale": 1, "scales": np.arange(1.0, T + 1)}
    ref.obsm["X_mapped"] = _loadings((N_OBS, K))
    ref.uns["mapped"] = {"reference_key": "nmf", "params": {}}  # a tl.project result
    return ref


def _table() -> pd.DataFrame:
    return pd.DataFrame(_loadings((N_VARS, K)), index=GENES, columns=["a", "b", "c"])


@pytest.fixture(autouse=True)
def _no_fit(monkeypatch):
    """Any fit fails the test: a refusal must come before the work."""

    def boom(*args, **kwargs):
        raise AssertionError("fit_activities started before the bad input was refused")

    monkeypatch.setattr("scnmf.tl._project.fit_activities", boom)


def _set(a, value):
    a.X = a.X.toarray()
    a.X[3, 2] = value


def _other_genes(a):
    a.var_names = [f"other{j}" for j in range(N_VARS)]


def _duplicate_genes(a):
    a.var_names = ["g0", *GENES[:-1]]


def _raw(a):
    a.raw = a.copy()


def _negative_loading(r):
    r.varm[C.loadings_key(C.NMF_KEY)][4, 1] = -0.5


def _nan_loading(r):
    r.varm[C.loadings_key(C.NMF_KEY)][4, 1] = np.nan


def _frame(**changes):
    table = _table()
    for (i, j), value in changes.get("set", {}).items():
        table.iloc[i, j] = value
    return table


SELF = "self"  # the query is its own reference
# (id, mutate the query, the reference (None: _reference(); SELF; or an object), kwargs,
#  error, patterns: the problem, then the fix)
CASES = [
    ("no-result-under-key", None, None, {"key": "other"}, KeyError,
     [r"In the reference", r"key='other'", r"run scnmf.tl.nmf", r"DataFrame"]),
    ("projection-result-has-no-programs", None, None, {"key": "mapped"}, KeyError,
     [r"cell activities only", r"the result whose programs"]),
    ("reference-array", None, np.ones((N_VARS, K)), {}, TypeError,
     [r"reference must be an AnnData", r"genes × programs pandas DataFrame", r"ndarray"]),
    ("reference-dict", None, {"nmf": 1}, {}, TypeError, [r"reference must be"]),
    ("pnmf-scale-out-of-range", None, None, {"key": "pnmf", "scale": T}, ValueError,
     [r"In the reference", r"scale", rf"0 … {T - 1}", rf"{T} scales"]),
    ("scale-for-nmf", None, None, {"scale": 0}, ValueError,
     [r"scale", r"not a tl.pnmf result"]),
    ("scale-for-dataframe", None, _table(), {"scale": 0}, ValueError,
     [r"scale", r"DataFrame"]),
    ("scale-negative", None, None, {"key": "pnmf", "scale": -1}, ValueError, [r"scale"]),
    ("scale-float", None, None, {"key": "pnmf", "scale": 1.0}, ValueError, [r"scale"]),
    ("no-shared-gene", _other_genes, None, {}, ValueError,
     [r"None of the reference's 20 genes is in adata.var_names", r"Ensembl"]),
    ("dataframe-programs-by-genes", None, _table().T, {}, ValueError,
     [r"None of the reference's", r"programs × genes", r"reference.T"]),
    ("dataframe-negative", None, _frame(set={(2, 1): -1.0}), {}, ValueError,
     [r"negative loadings", r"nonnegative"]),
    ("dataframe-nan", None, _frame(set={(2, 1): np.nan}), {}, ValueError,
     [r"NaN or infinite loadings"]),
    ("dataframe-inf", None, _frame(set={(2, 1): np.inf}), {}, ValueError, [r"NaN or infinite"]),
    ("dataframe-text", None, _table().assign(d="x"), {}, ValueError,
     [r"non-numeric", r"one numeric column per program"]),
    ("dataframe-empty", None, _table().iloc[:, :0], {}, ValueError, [r"shape \(20, 0\)"]),
    ("dataframe-zeros", None, _table() * 0, {}, ValueError, [r"all zeros"]),
    ("dataframe-duplicate-genes", None, _table().set_axis(["g0", *GENES[:-1]]), {}, ValueError,
     [r"duplicate gene names", r"aggregate or drop"]),
    ("reference-negative-loading", None, _negative_loading, {}, ValueError,
     [r"reference.varm\['nmf_loadings'\] contains negative", r"refit the reference"]),
    ("reference-nan-loading", None, _nan_loading, {}, ValueError, [r"NaN"]),
    ("self-overwrite", None, SELF, {"key_added": "nmf"}, ValueError,
     [r"key_added", r"overwrite uns\['nmf'\]", r"key_added=None"]),
    ("key-int", None, None, {"key": 3}, TypeError, [r"key", r"names of a scnmf result"]),
    ("key-added-slash", None, None, {"key_added": "a/b"}, ValueError,
     [r"key_added", r"key_added='a_b'"]),
    ("key-added-scanpy", None, None, {"key_added": "pca"}, ValueError,
     [r"key_added", r"sc.pp.pca"]),
    ("key-slash-default-name", None, _table(), {"key": "a/b"}, ValueError,
     [r"key_added", r"'a/b_projected'"]),
    ("max-iter-zero", None, None, {"max_iter": 0}, ValueError, [r"max_iter", r"≥ 1"]),
    ("tol-negative", None, None, {"tol": -1.0}, ValueError, [r"tol"]),
    ("device-unknown", None, None, {"device": "tpu"}, ValueError, [r"device", r"scnmf\[gpu\]"]),
    ("use-raw-flag", None, None, {"use_raw": "yes"}, ValueError, [r"use_raw", r"True or False"]),
    ("beta-unknown", None, None, {"beta_loss": "poisson"}, ValueError,
     [r"beta_loss", r"'kullback-leibler'"]),
    ("negative-data", lambda a: _set(a, -1.0), None, {}, ValueError,
     [r"negative values", r"counts or log1p"]),
    ("nan-data", lambda a: _set(a, np.nan), None, {}, ValueError,
     [r"NaN", r"remove or impute"]),
    ("itakura-saito-zeros", None, None, {"beta_loss": "itakura-saito"}, ValueError,
     [r"zeros", r"pseudo-count"]),
    ("layer-missing", None, None, {"layer": "nope"}, KeyError,
     [r"Layer 'nope' not found", r"layer=None"]),
    ("use-raw-without-raw", None, None, {"use_raw": True}, ValueError,
     [r"adata.raw is None", r"use_raw=False"]),
    ("use-raw-and-layer", _raw, None, {"use_raw": True, "layer": "counts"}, ValueError,
     [r"use_raw=True and layer='counts'", r"only one of them"]),
    ("duplicate-query-genes", _duplicate_genes, None, {}, ValueError,
     [r"adata.var_names has duplicate gene names", r"var_names_make_unique"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mutate", "reference", "kwargs", "error", "patterns"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_refused_before_any_fit(mutate, reference, kwargs, error, patterns):
    adata = _query()
    if mutate is not None:
        mutate(adata)
    if reference is SELF:
        adata, reference = _reference(), None
        reference = adata
    elif reference is None or callable(reference):
        build = reference
        reference = _reference()
        if build is not None:
            build(reference)
    before = snapshot(adata)
    ref_before = snapshot(reference) if isinstance(reference, ad.AnnData) else None
    with pytest.raises(error) as info:
        snmf.tl.project(adata, reference, **kwargs)
    message = str(info.value.args[0]) if error is KeyError else str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message), (pattern, message)
    assert_unchanged(adata, before)
    if ref_before is not None:
        assert_unchanged(reference, ref_before)


def test_not_an_anndata():
    with pytest.raises(TypeError, match="Expected an AnnData"):
        snmf.tl.project(np.ones((5, 5)), _reference())


def test_backed_copy_refused(tmp_path):
    path = tmp_path / "a.h5ad"
    _query().write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    try:
        with pytest.raises(ValueError, match=r"copy.*to_memory\(\)"):
            snmf.tl.project(backed, _reference(), copy=True)
    finally:
        backed.file.close()


def test_every_option_is_in_the_table():
    import inspect

    from scnmf.tl._validate_project import PROJECT_PARAMS

    params = set(inspect.signature(snmf.tl.project).parameters)
    assert set(PROJECT_PARAMS.rules) == params - {"adata", "reference", "layer", "copy"}


def test_memory_guard_refuses_before_any_fit(monkeypatch):
    from scnmf._core.memory import InsufficientMemoryError

    monkeypatch.setenv("SCNMF_MAX_MEMORY", "4K")
    adata = _query()
    before = snapshot(adata)
    with pytest.raises(InsufficientMemoryError, match=r"projection of 40 × 20 with k = 3"):
        snmf.tl.project(adata, _reference())
    assert_unchanged(adata, before)
