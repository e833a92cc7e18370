import numpy as np
import pytest
import scipy.sparse as sp

import scnmf as snmf
from scnmf import _keys as C


@pytest.fixture
def circles():
    return snmf.datasets.concentric_circles(random_state=1)


def snapshot(adata):
    return (
        set(adata.obsm.keys()),
        set(adata.varm.keys()),
        set(adata.uns.keys()),
        set(adata.obsp.keys()),
        adata.X.copy(),
    )


def assert_unchanged(adata, snap):
    now = snapshot(adata)
    assert now[:4] == snap[:4]
    a, b = now[4], snap[4]
    if sp.issparse(a):
        assert (a != b).nnz == 0
    else:
        np.testing.assert_array_equal(a, b)


def test_persistence_stores_contract(circles):
    # use_rep="X" explicitly: without it 100 features now get scanpy's PCA (issue 16).
    snmf.tl.persistence(circles, use_rep="X", n_scales=6)
    rec = circles.uns[C.PERSISTENCE_KEY]
    assert rec["diagram"].shape == (80, 2) and np.isinf(rec["diagram"][:, 1]).sum() == 1
    assert rec["scales"].shape == rec["n_components"].shape == (6,)
    assert np.all(np.diff(rec["scales"]) > 0)
    assert rec["n_components"][0] == 80 and rec["n_components"][-1] == 1
    assert rec["params"]["use_rep"] == "X" and rec["params"]["exact"]
    out = snmf.tl.persistence(circles, scales="all", key_added="ph_all", copy=True)
    assert out.uns["ph_all"]["scales"].size == 80 and "ph_all" not in circles.uns
    snmf.tl.persistence(circles, scales=[1.0, 20.0, 200.0], key_added="ph_x")
    np.testing.assert_array_equal(circles.uns["ph_x"]["n_components"][[0, 2]], [80, 1])


def test_persistence_uses_pca_by_default_and_large_path(adata):
    import scanpy as sc

    sc.pp.log1p(adata)
    sc.pp.pca(adata, n_comps=5)
    snmf.tl.persistence(adata)
    assert adata.uns["persistence"]["params"]["use_rep"] == "X_pca"
    from sklearn.neighbors import kneighbors_graph

    # a scanpy-style neighbour record (distances in obsp) is accepted
    adata.obsp["nn_distances"] = kneighbors_graph(adata.obsm["X_pca"], 6, mode="distance")
    adata.uns["nn"] = {"distances_key": "nn_distances"}
    snmf.tl.persistence(adata, neighbors_key="nn", key_added="ph_nn")
    assert adata.uns["ph_nn"]["params"]["neighbors_key"] == "nn"
    np.testing.assert_array_equal(
        adata.uns["ph_nn"]["n_components"], adata.uns["persistence"]["n_components"]
    )


def test_pnmf_writes_everything_and_round_trips(tmp_path, circles):
    import anndata as ad

    circles.var["highly_variable"] = np.arange(100) < 60
    snmf.tl.pnmf(circles, 3, n_sweeps=2, max_inner_iter=40)  # persistence computed on the fly
    snmf.tl.gnmf(circles, 3, max_iter=50)
    T = circles.uns["persistence"]["scales"].size
    assert circles.obsm["X_pnmf"].shape == (80, 3)
    assert circles.obsm[C.scales_obsm_key("pnmf")].shape == (80, T, 3)
    np.testing.assert_array_equal(circles.obsm["X_pnmf"], circles.obsm["X_pnmf_scales"][:, 0])
    load = circles.varm["pnmf_loadings"]
    assert load.shape == (100, T, 3) and np.all(load[60:] == 0)
    rec = circles.uns["pnmf"]
    assert rec["loss"].shape == (3,) and rec["n_inner_iter"].shape == (3, T)
    assert circles.obsm["X_gnmf"].shape == (80, 3)
    path = tmp_path / "pnmf.h5ad"
    circles.write_h5ad(path)
    back = ad.read_h5ad(path)
    for key in ("X_pnmf", "X_pnmf_scales", "X_gnmf"):
        np.testing.assert_array_equal(back.obsm[key], circles.obsm[key])
    for key in ("pnmf_loadings", "gnmf_loadings"):
        np.testing.assert_array_equal(back.varm[key], circles.varm[key])
    for key in ("persistence", "pnmf", "gnmf"):
        _assert_same_tree(back.uns[key], circles.uns[key])


def _assert_same_tree(a, b):
    assert set(a.keys()) == set(b.keys())
    for k in a:
        if isinstance(a[k], dict):
            _assert_same_tree(a[k], b[k])
        else:
            np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]))


def test_pnmf_sparse_stays_sparse_and_matches_dense(adata):
    import scanpy as sc

    sc.pp.log1p(adata)
    dense = adata.copy()
    dense.X = adata.X.toarray()
    kw = dict(n_sweeps=1, max_inner_iter=20)
    for a in (adata, dense):
        snmf.tl.persistence(a, use_rep="X", n_scales=3)
        snmf.tl.pnmf(a, 3, **kw)
    assert sp.issparse(adata.X)
    np.testing.assert_allclose(
        adata.obsm["X_pnmf_scales"], dense.obsm["X_pnmf_scales"], rtol=1e-3, atol=1e-5
    )  # float32 data
    again = snmf.tl.pnmf(adata, 3, copy=True, **kw)
    np.testing.assert_array_equal(again.obsm["X_pnmf_scales"], adata.obsm["X_pnmf_scales"])


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda a: snmf.tl.persistence(a, n_scales=0), ValueError, "n_scales"),
        (lambda a: snmf.tl.persistence(a, scales=[2.0, 1.0]), ValueError, "increasing"),
        (lambda a: snmf.tl.persistence(a, scales="some"), ValueError, "scales"),
        (lambda a: snmf.tl.persistence(a, use_rep="X_umap"), KeyError, "X_umap"),
        (lambda a: snmf.tl.persistence(a, neighbors_key="nope"), KeyError, "nope"),
        (lambda a: snmf.tl.pnmf(a, 2, persistence_key="bad"), KeyError, "persistence"),
        (lambda a: snmf.tl.pnmf(a, 2, lambda_graph=-1), ValueError, "lambda_graph"),
        (lambda a: snmf.tl.pnmf(a, 0), ValueError, "n_components"),
        (lambda a: snmf.tl.pnmf(a, 2, mask_var="nope"), KeyError, "mask_var"),
        (lambda a: snmf.tl.pnmf(a, 2, reference_scale=99), ValueError, "reference_scale"),
        (lambda a: snmf.tl.gnmf(a, 2, use_rep="X_umap"), KeyError, "X_umap"),
        (lambda a: snmf.tl.gnmf(a, 2, layer="nope"), KeyError, "nope"),
    ],
)
def test_bad_input_raises_and_leaves_adata_unchanged(circles, call, error, match):
    snmf.tl.persistence(circles, n_scales=3)
    circles.uns["bad"] = {"scales": np.array([1.0])}
    snap = snapshot(circles)
    before = {k: np.copy(v) for k, v in circles.uns["persistence"].items() if k != "params"}
    with pytest.raises(error, match=match):
        call(circles)
    assert_unchanged(circles, snap)
    for k, v in before.items():
        np.testing.assert_array_equal(circles.uns["persistence"][k], v)


def test_no_representation_raises(circles):
    import anndata as ad

    empty = ad.AnnData(obs=circles.obs.copy(), var=circles.var.copy())
    with pytest.raises(ValueError, match="representation"):
        snmf.tl.persistence(empty)
    assert "persistence" not in empty.uns


def test_reference_scale_stable_is_label_free_and_stored(tmp_path):
    import anndata as ad

    adata = snmf.datasets.concentric_circles()
    snmf.tl.persistence(adata, use_rep="X", n_scales=6)
    snmf.tl.pnmf(adata, 3, n_sweeps=2, max_inner_iter=50, reference_scale="stable", n_clusters=4)
    rec = adata.uns["pnmf"]
    T = rec["scales"].size
    stability = rec["scale_stability"]
    assert stability.shape == (T,)
    assert np.all((stability >= -1) & (stability <= 1))
    t = int(rec["reference_scale"])
    assert t == int(np.argmax(stability[:-1]))
    np.testing.assert_array_equal(adata.obsm["X_pnmf"], adata.obsm["X_pnmf_scales"][:, t])
    assert rec["params"]["n_clusters"] == 4
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    np.testing.assert_array_equal(back.uns["pnmf"]["scale_stability"], stability)


@pytest.mark.parametrize("bad", ["middle", -1, 2.5])
def test_reference_scale_rejects_unknown_values(bad):
    adata = snmf.datasets.concentric_circles()
    snmf.tl.persistence(adata, use_rep="X", n_scales=4)
    before = adata.copy()
    with pytest.raises((ValueError, TypeError)):
        snmf.tl.pnmf(adata, 2, n_sweeps=1, max_inner_iter=5, reference_scale=bad)
    assert set(adata.obsm) == set(before.obsm)
    assert set(adata.uns) == set(before.uns)
