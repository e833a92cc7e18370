import numpy as np
import pytest
import scipy.sparse as sp

from scnmf._core.graph.edges import candidate_edges
from scnmf._core.graph.laplacian import epsilon_graph, knn_graph
from scnmf._core.graph.persistence import persistence, select_scales
from scnmf._core.nmf.init import initialize
from scnmf._core.pnmf import fit_pnmf
from scnmf._core.pnmf.gnmf import graph_nmf
from scnmf._core.pnmf.ops_numpy import NumpyGraphOps
from scnmf.datasets import concentric_circles


@pytest.fixture(scope="module")
def circles_fit():
    """The reference's circles setting: k = 2, λ1 = λ2 = 100, λ3 = 1, every scale."""
    adata = concentric_circles(random_state=0)
    edges = candidate_edges(adata.X)
    P = persistence(edges)
    assert P.canonical.size == 80
    res = fit_pnmf(adata.X, edges, P.canonical, 2, lambda_graph=100, lambda_scale=100,
               lambda_anchor=1, keep_inner_losses=True, device="cpu")  # fmt: skip
    return adata, res


def ring_radii(W, labels):
    r = np.linalg.norm(W - W.mean(axis=0), axis=1)
    return np.array([r[labels == f"ring{i}"].mean() for i in range(1, 5)])


def test_circles_rings_concentric_then_collapse_inner_first(circles_fit):
    adata, res = circles_fit
    labels = np.asarray(adata.obs["label"])
    radii = np.array([ring_radii(res.W[t], labels) for t in range(res.W.shape[0])])
    finest = radii[0]
    assert np.all(np.diff(finest) > 0), finest  # concentric, inner to outer
    assert finest[3] > 2 * finest[2] and finest[0] < 0.2 * finest[3]
    collapsed = radii < finest / 4
    first = [int(np.argmax(collapsed[:, i])) if collapsed[:, i].any() else 10**6 for i in range(4)]
    assert all(first[i] <= first[i + 1] for i in range(3)), first
    assert first[3] <= radii.shape[0] - 1
    spread = lambda W: np.linalg.norm(W - W.mean(axis=0), axis=1).max()  # noqa: E731
    assert spread(res.W[-1]) < 0.1 * spread(res.W[0])


def test_inner_losses_never_increase(circles_fit):
    _, res = circles_fit
    n_traces = 0
    for stage in res.inner_losses:
        for trace in stage:
            assert np.all(np.diff(trace) <= 1e-10 * np.abs(trace[:-1])), trace
            n_traces += 1
    assert n_traces == 11 * 80
    # the start-normalised sweeps also lower the total objective
    assert np.all(np.diff(res.loss) <= 0)


def test_reference_normalisation_mode_runs_and_differs(counts):
    edges = candidate_edges(counts)
    P = persistence(edges)
    scales = P.canonical[select_scales(P.canonical, P.n_components, 4)]
    a = fit_pnmf(
        counts, edges, scales, 3, n_sweeps=2, max_inner_iter=30, normalize="iteration", device="cpu"
    )
    b = fit_pnmf(counts, edges, scales, 3, n_sweeps=2, max_inner_iter=30, device="cpu")
    assert a.W.shape == b.W.shape == (4, counts.shape[0], 3)
    # programs have unit norm after every iteration in the reference mode
    np.testing.assert_allclose(np.linalg.norm(a.H, axis=2), 1.0, rtol=1e-10)


def test_sparse_equals_dense_and_deterministic(counts, counts_csr):
    edges = candidate_edges(np.log1p(counts))
    P = persistence(edges)
    scales = P.canonical[select_scales(P.canonical, P.n_components, 3)]
    kw = dict(n_sweeps=2, max_inner_iter=25, random_state=1, device="cpu")
    dense = fit_pnmf(counts, edges, scales, 4, **kw)
    sparse = fit_pnmf(counts_csr, edges, scales, 4, **kw)
    again = fit_pnmf(counts_csr, edges, scales, 4, **kw)
    np.testing.assert_allclose(sparse.W, dense.W, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(sparse.H, dense.H, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(sparse.W, again.W)
    assert np.all(sparse.W >= 0) and np.all(sparse.H >= 0)


def test_gnmf_monotone_and_graph_smooths(counts):
    X = np.log1p(counts)
    A = knn_graph(X, 5)
    W0, H0 = initialize(X, 4, "nndsvda", 0)
    plain = graph_nmf(NumpyGraphOps(X), W0, H0, max_iter=200, tol=0)
    smooth = graph_nmf(NumpyGraphOps(X), W0, H0, A=A, lambda_graph=50.0, max_iter=200, tol=0)
    for res in (plain, smooth):
        assert np.all(np.diff(res.loss) <= 1e-10 * np.abs(res.loss[:-1]))
    L = sp.diags(np.asarray(A.sum(1)).ravel()) - A
    roughness = lambda W: np.trace(W.T @ (L @ W)) / np.sum(W**2)  # noqa: E731
    assert roughness(smooth.W) < roughness(plain.W)
    # a graph with no edges is plain NMF
    empty = epsilon_graph(candidate_edges(X), 0.0)
    same = graph_nmf(NumpyGraphOps(X), W0, H0, A=empty, lambda_graph=50.0, max_iter=20, tol=0)
    np.testing.assert_allclose(same.W, graph_nmf(NumpyGraphOps(X), W0, H0, max_iter=20, tol=0).W)
