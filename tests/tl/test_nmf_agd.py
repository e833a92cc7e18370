import anndata as ad
import numpy as np
import pytest

import scnmf as snmf


@pytest.fixture
def correlated():
    return snmf.datasets.correlated_programs(
        n_cells=400, n_genes=120, n_programs=4, correlation=0.7, noise=0.0, random_state=0
    )


def test_agd_through_tl_stores_contract(correlated, tmp_path):
    snmf.tl.nmf(
        correlated,
        4,
        solver="agd",
        max_iter=30,
        mask_var=None,
        agd_options={"n_stages": 20, "n_inner": 20},
    )
    uns = correlated.uns["nmf"]
    assert correlated.obsm["X_nmf"].shape == (correlated.n_obs, 4)
    assert correlated.obsm["X_nmf"].min() >= 0
    assert correlated.varm["nmf_loadings"].shape == (correlated.n_vars, 4)
    assert uns["params"]["solver"] == "agd" and uns["n_iter"] == 20
    assert len(uns["alphas"]) == 20 and np.all(np.diff(uns["alphas"]) < 0)
    assert len(uns["loss"]) == 21 and len(uns["warm_start_loss"]) == 31
    path = tmp_path / "agd.h5ad"
    correlated.write_h5ad(path)
    back = ad.read_h5ad(path)
    np.testing.assert_array_equal(back.obsm["X_nmf"], correlated.obsm["X_nmf"])
    np.testing.assert_array_equal(back.uns["nmf"]["alphas"], uns["alphas"])
    assert back.uns["nmf"]["params"]["agd_options"]["n_stages"] == 20


def test_agd_deterministic(correlated):
    kw = dict(
        solver="agd",
        max_iter=10,
        mask_var=None,
        copy=True,
        agd_options={"n_stages": 5, "n_inner": 5, "batch_size": 64},
    )
    a = snmf.tl.nmf(correlated, 4, random_state=3, **kw)
    b = snmf.tl.nmf(correlated, 4, random_state=3, **kw)
    np.testing.assert_array_equal(a.obsm["X_nmf"], b.obsm["X_nmf"])


def test_agd_bad_options(correlated):
    with pytest.raises(ValueError, match="Frobenius"):
        snmf.tl.nmf(correlated, 4, solver="agd", beta_loss="kullback-leibler")
    with pytest.raises(ValueError, match="Unknown agd_options"):
        snmf.tl.nmf(correlated, 4, solver="agd", agd_options={"stages": 3})
    with pytest.raises(ValueError, match="only applies"):
        snmf.tl.nmf(correlated, 4, solver="hals", agd_options={"n_stages": 3})
    assert "X_nmf" not in correlated.obsm
