"""``tl.persistence`` beyond the all-pairs size: scanpy's neighbour graph reused, dask input."""

import numpy as np
import pytest
import scipy.sparse as sp

import scnmf as snmf
from scnmf.tl._neighbors import cell_edges
from scnmf.tl._persistence import run_persistence

N = 1500  # above EXACT_MAX_CELLS (1,000): the kNN graph is used


@pytest.fixture
def clustered():
    """1,500 cells: a 10-dim PCA-like mixture of 5 separated clusters (+ a placeholder X)."""
    import anndata as ad

    rng = np.random.default_rng(0)
    centres = rng.normal(0.0, 6.0, (5, 10))
    X = centres[rng.integers(0, 5, N)] + rng.normal(size=(N, 10))
    X[:3] = X[3:6]  # duplicated cells (zero distances)
    adata = ad.AnnData(sp.csr_matrix((N, 60), dtype=np.float32))
    adata.obsm["X_pca"] = X.astype(np.float32)
    return adata


def _neighbors(adata, **kw):
    import scanpy as sc

    sc.pp.neighbors(adata, n_neighbors=16, random_state=0, **kw)


def test_scanpy_graph_reused_by_default_equals_recomputation(clustered):
    _neighbors(clustered)  # scanpy's default representation: X_pca
    snmf.tl.persistence(clustered)
    snmf.tl.persistence(clustered, neighbors_key=False, key_added="own")
    reused, own = clustered.uns["persistence"], clustered.uns["own"]
    assert reused["params"]["knn_from"] == "neighbors"
    assert own["params"]["knn_from"] == "None"
    assert reused["params"]["neighbors_key"] == "None"
    assert own["params"]["neighbors_key"] is False
    # exact kNN (scanpy below 4,096 cells) + exact MST: the same diagram and scales
    for key in ("diagram", "scales", "n_components", "canonical_scales"):
        np.testing.assert_array_equal(reused[key], own[key])
    # scanpy's 16 neighbours include the cell itself: the same 15 kNN edges as ours
    a, _ = cell_edges(clustered, dict(reused["params"]))
    b, _ = cell_edges(clustered, dict(own["params"]))
    np.testing.assert_array_equal(a.rows, b.rows)
    np.testing.assert_array_equal(a.cols, b.cols)
    np.testing.assert_allclose(a.dists, b.dists, rtol=1e-6)


def test_reused_graph_through_boruvka_path_equals_recomputation(clustered):
    from scnmf._core.graph.edges import candidate_edges
    from scnmf.tl._neighbors import knn_from_neighbors

    _neighbors(clustered)
    X = clustered.obsm["X_pca"].astype(np.float64)
    knn = knn_from_neighbors(clustered, "neighbors", X)
    reused = candidate_edges(X, 15, knn=knn, prim_max_cells=10)
    own = candidate_edges(X, 15, prim_max_cells=10)
    assert reused.timings["n_knn_components"] == own.timings["n_knn_components"] > 1
    np.testing.assert_array_equal(reused.rows, own.rows)
    np.testing.assert_array_equal(reused.cols, own.cols)
    np.testing.assert_allclose(reused.dists, own.dists, rtol=1e-6)


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        ({"use_rep": "X_other"}, "other representation"),
        ({"n_pcs": 5}, "fewer dimensions"),
        ({"metric": "manhattan"}, "other metric"),
    ],
)
def test_scanpy_graph_of_another_representation_not_reused(clustered, kw, why):
    clustered.obsm["X_other"] = clustered.obsm["X_pca"][:, ::-1] * 2
    _neighbors(clustered, **({"use_rep": "X_pca"} | kw))
    snmf.tl.persistence(clustered)
    assert clustered.uns["persistence"]["params"]["knn_from"] == "None", why


def test_stale_scanpy_graph_not_reused_and_explicit_key_checked(clustered):
    _neighbors(clustered)
    clustered.obsm["X_pca"] = clustered.obsm["X_pca"] * 1.5  # PCA redone after neighbours
    snmf.tl.persistence(clustered)  # the params match, the distances do not
    assert clustered.uns["persistence"]["params"]["knn_from"] == "None"
    with pytest.raises(ValueError, match="Euclidean distances"):
        snmf.tl.persistence(clustered, neighbors_key="neighbors", key_added="explicit")
    assert "explicit" not in clustered.uns
    with pytest.raises(ValueError, match="neighbors_key"):
        snmf.tl.persistence(clustered, neighbors_key=3)


def test_pnmf_rebuilds_the_edges_persistence_used(clustered):
    _neighbors(clustered)
    record, edges = run_persistence(
        clustered,
        use_rep=None,
        n_neighbors=15,
        neighbors_key=None,
        n_scales=4,
        scales=None,
        random_state=0,
    )
    assert record["params"]["knn_from"] == "neighbors"
    again, _ = cell_edges(clustered, dict(record["params"]))
    np.testing.assert_array_equal(again.dists, edges.dists)
    for stage in ("representation", "load_knn", "dedup_sort", "mst", "gudhi", "select_scales"):
        assert stage in edges.timings
    # the graph changed since: rebuilt from the representation instead (with a warning)
    clustered.obsp["distances"] = clustered.obsp["distances"] * 2
    rebuilt, _ = cell_edges(clustered, dict(record["params"]))
    own, _ = cell_edges(clustered, dict(record["params"]) | {"knn_from": "None"})
    np.testing.assert_array_equal(rebuilt.dists, own.dists)


def _dask_rep(adata, rows=200):
    da = pytest.importorskip("dask.array")
    lazy = adata.copy()
    lazy.obsm["X_pca"] = da.from_array(adata.obsm["X_pca"], chunks=(rows, -1))
    return lazy


def _same_record(a, b):
    for key in ("diagram", "scales", "n_components", "canonical_scales"):
        np.testing.assert_array_equal(a[key], b[key])
    assert dict(a["params"]) == dict(b["params"])


def test_dask_representation_equals_in_memory(clustered):
    lazy = _dask_rep(clustered)
    snmf.tl.persistence(clustered)
    snmf.tl.persistence(lazy)
    _same_record(lazy.uns["persistence"], clustered.uns["persistence"])
    assert type(lazy.obsm["X_pca"]).__module__.startswith("dask")  # left lazy


def test_dask_representation_on_local_cluster(clustered):
    distributed = pytest.importorskip("distributed")
    lazy = _dask_rep(clustered)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    with distributed.Client(cluster):
        snmf.tl.persistence(lazy)
    cluster.close()
    snmf.tl.persistence(clustered)
    _same_record(lazy.uns["persistence"], clustered.uns["persistence"])


def test_dask_sparse_x_representation(clustered):
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(1)
    X = sp.random(N, 60, density=0.1, format="csr", random_state=rng, dtype=np.float32)
    clustered.X = X
    del clustered.obsm["X_pca"]
    lazy = clustered.copy()
    lazy.X = da.from_array(X, chunks=(300, 60), asarray=False)
    # use_rep="X" explicitly: without X_pca, 60 genes now get scanpy's PCA (issue 16).
    snmf.tl.persistence(clustered, use_rep="X", n_scales=4)
    snmf.tl.persistence(lazy, use_rep="X", n_scales=4)
    _same_record(lazy.uns["persistence"], clustered.uns["persistence"])
