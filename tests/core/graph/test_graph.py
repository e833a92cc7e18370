import numpy as np
import pytest
import scipy.sparse as sp
from scipy.spatial.distance import cdist

from scnmf._core import graph as g
from scnmf._core.graph.edges import _link_components
from scnmf._core.graph.mst import _sorted_edges


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


def _reference_sorted_edges(n, rows, cols, dists):
    """The former construction: np.unique on int64 keys (first listing wins) + lexsort."""
    lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
    keep = lo != hi
    lo, hi, dists = lo[keep], hi[keep], dists[keep]
    _, first = np.unique(lo * n + hi, return_index=True)
    lo, hi, dists = lo[first], hi[first], dists[first]
    order = np.lexsort((hi, lo, dists))
    return lo[order], hi[order], dists[order]


@pytest.mark.parametrize("n", [7, 400])
def test_sorted_edges_match_unique_lexsort_reference(n):
    rng = np.random.default_rng(n)
    m = 30 * n
    rows, cols = rng.integers(0, n, m), rng.integers(0, n, m)
    rows[:200] = 0  # one vertex with a long bucket (sorted by mergesort, not insertion)
    dists = np.round(rng.random(m), 2)  # many ties in length
    got = _sorted_edges(n, rows, cols, dists, exact=False)
    ref = _reference_sorted_edges(n, rows, cols, dists)
    for a, b in zip((got.rows, got.cols, got.dists), ref, strict=True):
        np.testing.assert_array_equal(a, b)


def test_spanning_forest_and_components_match_scipy():
    from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

    rng = np.random.default_rng(0)
    n = 300
    rows, cols = rng.integers(0, 150, 600), rng.integers(0, 150, 600)  # 150 … 299 isolated
    rows = np.r_[rows, 200, 201]
    cols = np.r_[cols, 201, 202]
    edges = _sorted_edges(n, rows, cols, rng.random(rows.size) + 0.1, exact=False)
    forest = g.minimum_spanning_forest(edges)
    G = sp.coo_matrix((edges.dists, (edges.rows, edges.cols)), shape=(n, n)).tocsr()
    np.testing.assert_allclose(np.sort(edges.dists[forest]), np.sort(minimum_spanning_tree(G).data))
    labels, n_comp = g.connected_component_labels(n, edges.rows, edges.cols)
    ref_n, ref = connected_components(G, directed=False)
    assert n_comp == ref_n and forest.size == n - n_comp
    # the same partition, numbered by first vertex
    assert labels[0] == 0 and np.all(np.diff(np.maximum.accumulate(labels)) <= 1)
    pairs = set(zip(labels.tolist(), ref.tolist(), strict=True))
    assert len(pairs) == n_comp


def test_pair_distances_dense_and_sparse_are_exact():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 6)) * (rng.random((40, 6)) < 0.5)
    a, b = rng.integers(0, 40, 100), rng.integers(0, 40, 100)
    ref = np.sqrt(((X[a] - X[b]) ** 2).sum(axis=1))
    np.testing.assert_allclose(g.pair_distances(X, a, b), ref, rtol=1e-15)
    S = sp.csr_matrix(X)
    S = sp.csr_matrix((S.data, S.indices, S.indptr), shape=S.shape)
    S.has_sorted_indices = False  # forces the sorted copy
    np.testing.assert_allclose(g.pair_distances(S, a, b), ref, rtol=1e-14)
    np.testing.assert_allclose(g.pair_distances(X.astype(np.float32), a, b), ref, rtol=1e-6)


def _clusters(seed, n_clusters=6, per=120, p=8):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 6.0, (n_clusters, p))
    X = np.vstack([c + rng.normal(size=(per, p)) * rng.uniform(0.5, 1.5) for c in centres])
    return X, np.repeat(np.arange(n_clusters), per)


def _component_tree(X, labels, rows, cols, dists):
    """Lengths of the MST of the component graph whose edges are the given links."""
    from scipy.sparse.csgraph import minimum_spanning_tree

    c = labels.max() + 1
    L = np.full((c, c), np.inf)
    for r, q, d in zip(rows, cols, dists, strict=True):
        a, b = labels[r], labels[q]
        L[a, b] = L[b, a] = min(L[a, b], d)
    L[np.isinf(L)] = 0
    return np.sort(minimum_spanning_tree(sp.csr_matrix(L)).data)


@pytest.mark.parametrize("seed", [0, 1])
def test_link_components_exact_when_sample_covers_data(seed):
    X, labels = _clusters(seed)
    c = labels.max() + 1
    exact = np.full((c, c), np.inf)
    for a in range(c):
        for b in range(a + 1, c):
            exact[a, b] = exact[b, a] = cdist(X[labels == a], X[labels == b]).min()
    from scipy.sparse.csgraph import minimum_spanning_tree

    ref = np.sort(minimum_spanning_tree(sp.csr_matrix(np.where(np.isinf(exact), 0, exact))).data)
    r, q, d = _link_components(X, labels)  # 720 cells ≤ LINK_SAMPLE: exhaustive
    np.testing.assert_allclose(_component_tree(X, labels, r, q, d), ref, rtol=1e-12)
    # sampled (8 points per group) and refined, or one point per group + kNN: still a
    # spanning set of genuine, exactly measured cross-component pairs, never shorter
    for kw in ({"sample": 48}, {"max_groups": 2}):
        r, q, d = _link_components(X, labels, **kw)
        assert np.all(labels[r] != labels[q])
        np.testing.assert_allclose(d, np.sqrt(((X[r] - X[q]) ** 2).sum(axis=1)), rtol=1e-12)
        assert np.all(d >= exact[labels[r], labels[q]] * (1 - 1e-12))
        tree = _component_tree(X, labels, r, q, d)
        assert tree.size == c - 1 and np.all(tree >= ref * (1 - 1e-12))
        assert np.all(tree <= ref * 1.5)  # refinement gets close to the true bridges


def test_boruvka_path_connects_sparse_input():
    from scipy.sparse.csgraph import connected_components

    X, _ = _clusters(2, per=60)
    S = sp.csr_matrix(np.maximum(X, 0))
    edges = g.candidate_edges(S, 4, exact_max_cells=10)  # sparse: never Prim
    assert edges.timings["n_knn_components"] >= 1
    A = g.epsilon_graph(edges, edges.dists[-1] + 1)
    assert connected_components(A)[0] == 1
    np.testing.assert_allclose(edges.dists, g.pair_distances(S, edges.rows, edges.cols), rtol=1e-12)
    assert np.all(np.diff(edges.dists) >= 0) and np.all(edges.rows < edges.cols)
