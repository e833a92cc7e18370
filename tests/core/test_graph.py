import numpy as np
import pytest
import scipy.sparse as sp
from scipy.spatial.distance import cdist

from scnmf._core import graph as g


def dense_epsilon_laplacian(X, eps):
    D = cdist(X, X)
    with np.errstate(divide="ignore", invalid="ignore"):  # ε = 0: no edge, weights unused
        A = np.where((D < eps) & ~np.eye(len(X), dtype=bool), np.exp(-(D**2) / eps**1.5), 0.0)
    A = np.maximum(A, A.T)
    return np.diag(A.sum(axis=0)) - A, A


@pytest.mark.parametrize("seed", [0, 1])
def test_sparse_laplacian_equals_dense(seed):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(30, 4)), rng.normal(size=(3, 4))])
    X = np.vstack([X, X[:4]])  # duplicated cells: zero distances
    edges = g.candidate_edges(X)
    assert edges.exact
    for eps in np.quantile(edges.dists, [0.0, 0.05, 0.3, 1.0]).tolist() + [edges.dists[-1] + 1]:
        A = g.epsilon_graph(edges, eps)
        L = g.laplacian(A)
        L_dense, A_dense = dense_epsilon_laplacian(X, eps)
        assert sp.issparse(L)
        np.testing.assert_allclose(A.toarray(), A_dense, atol=1e-12)
        np.testing.assert_allclose(L.toarray(), L_dense, atol=1e-12)
        assert (A != A.T).nnz == 0
        assert np.all(A.diagonal() == 0)


def test_knn_candidates_contain_exact_mst_and_knn():
    from scipy.sparse.csgraph import minimum_spanning_tree

    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3))
    edges = g.candidate_edges(X, 5, exact_max_cells=10)
    assert not edges.exact
    assert edges.n_edges < 200 * 199 / 2 / 4
    mst = minimum_spanning_tree(sp.csr_matrix(cdist(X, X)))
    np.testing.assert_allclose(np.sort(mst.data), np.sort(_tree_lengths(edges, X)), rtol=1e-10)


def _tree_lengths(edges, X):
    from scipy.sparse.csgraph import minimum_spanning_tree

    G = sp.coo_matrix((edges.dists, (edges.rows, edges.cols)), shape=(len(X), len(X)))
    return minimum_spanning_tree(G).data


def test_approximate_path_connects_components():
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(40, 2)), rng.normal(size=(40, 2)) + 100])
    edges = g.candidate_edges(X, 3, exact_max_cells=10, prim_max_cells=10)
    A = g.epsilon_graph(edges, edges.dists[-1] + 1)
    assert connected_components(A)[0] == 1


def test_knn_graph_symmetric_heat_kernel():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    A = g.knn_graph(X, 5)
    assert (A != A.T).nnz == 0
    assert A.diagonal().sum() == 0
    assert np.all((A.data > 0) & (A.data <= 1))
    assert np.all(np.diff(A.indptr) >= 5)
    with pytest.raises(ValueError, match="weight"):
        g.knn_graph(X, 5, weight="gaussian")


def test_precomputed_knn_used_beyond_exact_size():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(120, 3))
    r, c, d = g.knn_edges(X, 4)
    edges = g.candidate_edges(X, 4, knn=(r, c, d), exact_max_cells=10)
    ref = g.candidate_edges(X, 4, exact_max_cells=10)
    np.testing.assert_array_equal(edges.dists, ref.dists)
