"""use_raw=True: every factorisation with a layer= fits adata.raw.X, genes matched by name."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import scnmf as snmf
from scnmf import _keys as C

N_OBS, N_RAW = 40, 30


def _full(seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    rates = rng.gamma(1.0, 1.0, (N_OBS, 1)) * rng.gamma(1.0, 1.0, (1, N_RAW))
    X = rng.poisson(3.0 * rates).astype(np.float32)
    X[:, 0] += 1
    full = ad.AnnData(
        sp.csr_matrix(X),
        obs=pd.DataFrame(index=[f"c{i}" for i in range(N_OBS)]),
        var=pd.DataFrame(index=[f"g{j}" for j in range(N_RAW)]),
    )
    # One representation for the cell graphs of both fits (gnmf, persistence).
    full.obsm["X_pca"] = rng.normal(size=(N_OBS, 5))
    return full


@pytest.fixture
def pair():
    """``adata`` (a shuffled subset of genes, log data, raw = the counts, one gene not in raw)
    and ``direct``: the counts of exactly the genes ``use_raw=True`` reads, in raw order."""
    full = _full()
    rng = np.random.default_rng(1)
    subset = rng.choice(N_RAW, 20, replace=False)  # shuffled order, unlike raw's
    adata = full[:, subset].copy()
    adata.X.data = np.log1p(adata.X.data)
    extra = ad.AnnData(
        sp.csr_matrix(np.ones((N_OBS, 1), dtype=np.float32)),
        obs=adata.obs,
        var=pd.DataFrame(index=["not_in_raw"]),
    )
    adata = ad.concat([adata, extra], axis=1, merge="first")
    adata.raw = full
    adata.obsm["X_pca"] = full.obsm["X_pca"]
    direct = full[:, np.sort(subset)].copy()
    return adata, direct


def _by_name(adata, varm_key, genes):
    values = np.asarray(adata.varm[varm_key])
    return values[adata.var_names.get_indexer(genes)]


FITS = {
    "nmf": lambda a, **kw: snmf.tl.nmf(a, 3, beta_loss="kullback-leibler", max_iter=30, **kw),
    "gnmf": lambda a, **kw: snmf.tl.gnmf(a, 3, max_iter=30, **kw),
    "pnmf": lambda a, **kw: snmf.tl.pnmf(a, 3, n_sweeps=1, max_inner_iter=20, **kw),
    "deep_nmf": lambda a, **kw: snmf.tl.deep_nmf(a, (4, 2), n_init_iter=20, max_iter=10, **kw),
}
#: (obsm keys, varm keys) each result writes.
SLOTS = {
    "nmf": (["X_nmf"], ["nmf_loadings"]),
    "gnmf": (["X_gnmf"], ["gnmf_loadings"]),
    "pnmf": (["X_pnmf", "X_pnmf_scales"], ["pnmf_loadings"]),
    "deep_nmf": (
        [C.deep_keys("deep_nmf").obsm(ell) for ell in (1, 2)],
        [C.deep_keys("deep_nmf").varm(ell) for ell in (1, 2)],
    ),
}


@pytest.mark.parametrize("func", list(FITS))
def test_use_raw_fits_raw_x_as_a_direct_fit_of_it(pair, func):
    adata, direct = pair
    FITS[func](adata, use_raw=True, mask_var=None)
    FITS[func](direct, mask_var=None)
    obsm, varm = SLOTS[func]
    for key in obsm:  # the same matrix and seed: the same fit
        np.testing.assert_array_equal(adata.obsm[key], direct.obsm[key], err_msg=key)
    for key in varm:  # loadings back at the rows of adata.var, matched by name
        genes = direct.var_names
        np.testing.assert_array_equal(_by_name(adata, key, genes), direct.varm[key], err_msg=key)
        assert not np.asarray(adata.varm[key])[adata.var_names.get_loc("not_in_raw")].any()
    assert adata.uns[func]["params"]["use_raw"] is True


def test_use_raw_differs_from_fitting_x(pair):
    adata, _ = pair
    a = snmf.tl.nmf(adata, 3, max_iter=30, mask_var=None, copy=True)
    b = snmf.tl.nmf(adata, 3, max_iter=30, mask_var=None, use_raw=True, copy=True)
    assert not np.allclose(a.obsm["X_nmf"], b.obsm["X_nmf"])


def test_mask_var_selects_among_the_genes_of_adata(pair):
    adata, direct = pair
    mask = np.zeros(adata.n_vars, dtype=bool)
    mask[:6] = True
    snmf.tl.nmf(adata, 2, max_iter=20, mask_var=mask, use_raw=True)
    loadings = adata.varm["nmf_loadings"]
    assert not loadings[~mask].any() and loadings[mask].any()
    assert adata.uns["nmf"]["params"]["n_genes_used"] == 6


def test_custom_init_has_the_raw_genes_shape(pair):
    adata, direct = pair
    rng = np.random.default_rng(0)
    W, H = rng.random((N_OBS, 2)) + 0.1, rng.random((2, 20)) + 0.1
    snmf.tl.nmf(adata, 2, init="custom", init_W=W, init_H=H, max_iter=5, use_raw=True)
    snmf.tl.nmf(direct, 2, init="custom", init_W=W, init_H=H, max_iter=5)
    np.testing.assert_array_equal(adata.obsm["X_nmf"], direct.obsm["X_nmf"])


@pytest.mark.parametrize("func", list(FITS))
def test_use_raw_with_a_layer_or_without_raw_is_refused(pair, func):
    adata, _ = pair
    adata.layers["counts"] = adata.X.copy()
    with pytest.raises(ValueError, match="use_raw=True and layer='counts'"):
        FITS[func](adata, use_raw=True, layer="counts")
    del adata.raw
    with pytest.raises(ValueError, match="adata.raw is None"):
        FITS[func](adata, use_raw=True)
    assert func not in adata.uns


@pytest.mark.parametrize("value", [2, "yes", None])
def test_use_raw_is_a_flag(pair, value):
    adata, _ = pair
    with pytest.raises(ValueError, match="for use_raw"):
        snmf.tl.nmf(adata, 2, use_raw=value)
