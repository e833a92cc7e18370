import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import scnmf as snmf
from scnmf import _keys as C


def _snapshot(adata):
    X = adata.X.toarray() if sp.issparse(adata.X) else np.array(adata.X)
    return (
        X.copy(),
        sorted(adata.obsm.keys()),
        sorted(adata.varm.keys()),
        sorted(adata.uns.keys()),
        sorted(adata.layers.keys()),
        list(adata.obs.columns),
    )


def _assert_unchanged(adata, snap):
    now = _snapshot(adata)
    np.testing.assert_array_equal(now[0], snap[0])
    assert now[1:] == snap[1:]


def test_nmf_writes_contract(adata):
    snmf.tl.nmf(adata, 4, beta_loss="kullback-leibler", max_iter=30)
    W = adata.obsm[C.obsm_key(C.NMF_KEY)]
    loadings = adata.varm[C.loadings_key(C.NMF_KEY)]
    assert W.shape == (adata.n_obs, 4) and loadings.shape == (adata.n_vars, 4)
    assert W.dtype == np.float32 and W.min() >= 0 and loadings.min() >= 0
    uns = adata.uns[C.NMF_KEY]
    assert set(uns) == {"params", "loss", "n_iter", "converged"}
    assert uns["params"]["beta_loss"] == 1.0 and uns["params"]["solver"] == "mu"
    assert len(uns["loss"]) == uns["n_iter"] + 1
    assert sp.issparse(adata.X)  # caller's matrix untouched


def test_tol_zero_runs_exactly_max_iter(adata):
    snmf.tl.nmf(adata, 3, max_iter=17, tol=0)
    assert adata.uns["nmf"]["n_iter"] == 17 and len(adata.uns["nmf"]["loss"]) == 18
    assert not adata.uns["nmf"]["converged"]


@pytest.mark.parametrize("solver,beta", [("hals", "frobenius"), ("mu", 1.5), ("mu", "frobenius")])
def test_same_seed_bit_identical(adata, solver, beta):
    a = snmf.tl.nmf(
        adata,
        4,
        solver=solver,
        beta_loss=beta,
        init="random",
        max_iter=20,
        random_state=7,
        copy=True,
    )
    b = snmf.tl.nmf(
        adata,
        4,
        solver=solver,
        beta_loss=beta,
        init="random",
        max_iter=20,
        random_state=7,
        copy=True,
    )
    np.testing.assert_array_equal(a.obsm["X_nmf"], b.obsm["X_nmf"])
    np.testing.assert_array_equal(a.varm["nmf_loadings"], b.varm["nmf_loadings"])
    c = snmf.tl.nmf(
        adata,
        4,
        solver=solver,
        beta_loss=beta,
        init="random",
        max_iter=20,
        random_state=8,
        copy=True,
    )
    assert not np.array_equal(a.obsm["X_nmf"], c.obsm["X_nmf"])


def test_copy_leaves_original(adata):
    snap = _snapshot(adata)
    out = snmf.tl.nmf(adata, 3, max_iter=5, copy=True)
    assert "X_nmf" in out.obsm
    _assert_unchanged(adata, snap)


def test_mask_var_default_highly_variable_and_zero_rows(adata):
    hv = np.zeros(adata.n_vars, dtype=bool)
    hv[::2] = True
    adata.var["highly_variable"] = hv
    snmf.tl.nmf(adata, 3, max_iter=10, key_added="hv")
    loadings = adata.varm["hv_loadings"]
    assert np.all(loadings[~hv] == 0) and np.any(loadings[hv] > 0)
    assert adata.uns["hv"]["params"]["n_genes_used"] == hv.sum()
    snmf.tl.nmf(adata, 3, max_iter=10, mask_var=None, key_added="all")
    assert np.any(adata.varm["all_loadings"][~hv] > 0)


def test_float64_kept_and_layer(adata):
    adata.layers["dense64"] = adata.X.toarray().astype(np.float64)
    snmf.tl.nmf(adata, 3, layer="dense64", max_iter=10)
    assert adata.obsm["X_nmf"].dtype == np.float64
    assert adata.uns["nmf"]["params"]["layer"] == "dense64"


def test_integer_counts_become_float32(adata):
    adata.layers["int"] = adata.X.toarray().astype(np.int64)
    snmf.tl.nmf(adata, 3, layer="int", max_iter=5)
    assert adata.obsm["X_nmf"].dtype == np.float32


def test_h5ad_round_trip(adata, tmp_path):
    snmf.tl.nmf(adata, 3, beta_loss=1.5, max_iter=10)
    path = tmp_path / "nmf.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    np.testing.assert_array_equal(back.obsm["X_nmf"], adata.obsm["X_nmf"])
    np.testing.assert_array_equal(back.varm["nmf_loadings"], adata.varm["nmf_loadings"])
    np.testing.assert_array_equal(back.uns["nmf"]["loss"], adata.uns["nmf"]["loss"])
    for key, value in adata.uns["nmf"]["params"].items():
        assert back.uns["nmf"]["params"][key] == value
    assert back.uns["nmf"]["n_iter"] == adata.uns["nmf"]["n_iter"]


def test_scanpy_interop(adata):
    import scanpy as sc

    snmf.tl.nmf(adata, 4, max_iter=10)
    sc.pp.neighbors(adata, use_rep="X_nmf", n_neighbors=10)
    ax = sc.pl.embedding(adata, basis="nmf", show=False)
    assert ax is not None


def _negative(a):
    X = a.X.toarray()
    X[0, 0] = -1
    a.X = sp.csr_matrix(X)


def _nan(a):
    X = a.X.toarray()
    X[1, 2] = np.nan
    a.X = X


def _inf(a):
    X = a.X.toarray()
    X[1, 2] = np.inf
    a.X = X


BAD_CALLS = [
    ("negative", _negative, {}, ValueError, "negative"),
    ("nan", _nan, {}, ValueError, "NaN"),
    ("inf", _inf, {}, ValueError, "infinite"),
    ("k0", None, {"n_components": 0}, ValueError, "n_components"),
    ("k_big", None, {"n_components": 1000}, ValueError, "n_components"),
    ("k_float", None, {"n_components": 2.5}, ValueError, "integer"),
    ("layer", None, {"layer": "nope"}, KeyError, "nope"),
    ("mask_key", None, {"mask_var": "nope"}, KeyError, "mask_var"),
    ("mask_empty", None, {"mask_var": "no_genes"}, ValueError, "no gene"),
    ("beta_name", None, {"beta_loss": "poisson"}, ValueError, "beta_loss"),
    ("beta_neg", None, {"beta_loss": -1.0}, ValueError, "beta_loss"),
    ("solver", None, {"solver": "cd"}, ValueError, "solver"),
    ("init", None, {"init": "svd"}, ValueError, "init"),
    ("hals_kl", None, {"solver": "hals", "beta_loss": "kullback-leibler"}, ValueError, "HALS|hals"),
    ("is_zeros", None, {"beta_loss": "itakura-saito"}, ValueError, "zeros"),
    ("custom_missing", None, {"init": "custom"}, ValueError, "W and H"),
    ("max_iter", None, {"max_iter": -1}, ValueError, "max_iter"),
    ("tol", None, {"tol": -1e-3}, ValueError, "tol"),
    ("key", None, {"key_added": ""}, ValueError, "key_added"),
]


@pytest.mark.parametrize("name,mutate,kwargs,error,match", BAD_CALLS, ids=[b[0] for b in BAD_CALLS])
def test_bad_input_raises_and_leaves_adata_unchanged(adata, name, mutate, kwargs, error, match):
    adata.var["no_genes"] = False
    if mutate is not None:
        mutate(adata)
    snap = _snapshot(adata)
    kwargs = {"n_components": 3, "max_iter": 5, **kwargs}
    with pytest.raises(error, match=match):
        snmf.tl.nmf(adata, kwargs.pop("n_components"), **kwargs)
    _assert_unchanged(adata, snap)


def test_empty_and_all_zero_adata():
    empty = ad.AnnData(np.zeros((0, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="empty"):
        snmf.tl.nmf(empty, 1)
    zeros = ad.AnnData(sp.csr_matrix((10, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="all zeros"):
        snmf.tl.nmf(zeros, 1)
    with pytest.raises(TypeError, match="AnnData"):
        snmf.tl.nmf(np.ones((3, 3)), 1)


def test_nmf_view_input(adata):
    view = adata[:50]
    out = snmf.tl.nmf(view, 2, max_iter=5, copy=True)
    assert out.obsm["X_nmf"].shape == (50, 2)
    assert isinstance(adata.obs, pd.DataFrame)
