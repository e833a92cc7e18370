import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import cdist

from scnmf._core.graph.edges import candidate_edges
from scnmf._core.graph.persistence import persistence, select_scales


def dense_betti0(X, eps):
    D = cdist(X, X)
    return connected_components(sp.csr_matrix((D < eps) & ~np.eye(len(X), dtype=bool)))[0]


def data(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(50, 3))
    X = np.vstack([X, X[:6], X[:2], rng.normal(size=(5, 3)) + 40])  # duplicates, far group
    return X[rng.permutation(len(X))]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("mode", ["all_pairs", "knn_prim"])
def test_betti0_matches_dense_epsilon_graph(seed, mode):
    X = data(seed)
    kwargs = {} if mode == "all_pairs" else {"exact_max_cells": 10}
    edges = candidate_edges(X, 4, **kwargs)
    P = persistence(edges)
    assert np.all(np.diff(P.canonical) > 0)
    for eps, b in zip(P.canonical, P.n_components, strict=True):
        assert b == dense_betti0(X, eps), eps
    # selected scales are canonical scales, so they agree too
    idx = select_scales(P.canonical, P.n_components, 8)
    assert idx[0] == 0 and idx[-1] == P.canonical.size - 1
    assert np.all(np.diff(idx) > 0) and idx.size <= 8


def test_diagram_shape_and_extremes():
    X = data(0)
    P = persistence(candidate_edges(X))
    n = len(X)
    assert P.diagram.shape == (n, 2)
    assert np.all(P.diagram[:, 0] == 0)
    assert np.isinf(P.diagram[:, 1]).sum() == 1  # connected candidate set
    assert (P.diagram[:, 1] == 0).sum() == 8  # one zero-length class per duplicated cell
    assert P.n_components[0] == n and P.n_components[-1] == 1


def test_disconnected_candidate_set_keeps_essential_classes():
    from scnmf._core.graph.mst import EdgeList

    edges = EdgeList(4, np.array([0, 2]), np.array([1, 3]), np.array([1.0, 2.0]), exact=False)
    P = persistence(edges)
    assert np.isinf(P.diagram[:, 1]).sum() == 2
    np.testing.assert_array_equal(P.n_components, [4, 3, 2])


def test_select_scales_geometric_in_betti0():
    canonical = np.arange(1.0, 101.0)
    counts = np.arange(100, 0, -1)
    idx = select_scales(canonical, counts, 5)
    np.testing.assert_array_equal(counts[idx], [100, 32, 10, 3, 1])
    assert select_scales(canonical, counts, 1).tolist() == [0]
    assert select_scales(canonical[:3], counts[:3], 8).tolist() == [0, 1, 2]


def test_gudhi_on_spanning_forest_equals_gudhi_on_all_edges():
    import gudhi

    from scnmf._core.graph.persistence import h0_diagram

    X = data(2)
    edges = candidate_edges(X)  # all pairs: 63 cells, 1,953 edges
    st = gudhi.SimplexTree()
    st.insert_batch(np.arange(edges.n)[None, :], np.zeros(edges.n))
    st.insert_batch(np.vstack([edges.rows, edges.cols]), edges.dists)
    st.compute_persistence(min_persistence=-1.0, persistence_dim_max=False)
    full = np.asarray(st.persistence_intervals_in_dimension(0)).reshape(-1, 2)
    timings = {}
    got = h0_diagram(edges, timings)
    np.testing.assert_array_equal(got, full[np.argsort(full[:, 1], kind="stable")])
    assert {"mst", "gudhi"} <= timings.keys()
