import numpy as np
import pytest
import scipy.sparse as sp

from scnmf._core.graph.edges import candidate_edges
from scnmf._core.graph.laplacian import epsilon_graph
from scnmf._core.graph.persistence import persistence, select_scales
from scnmf._core.nmf.init import initialize
from scnmf._core.pnmf.gnmf import graph_nmf, solve_gnmf
from scnmf._core.pnmf.ops_numpy import NumpyGraphOps
from scnmf._core.pnmf.pnmf import ScaleGraphs, solve_pnmf, total_objective

torch = pytest.importorskip("torch")

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny CPU tensors: OpenMP threads only spin (50× slower on a busy two-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def problem():
    """60 cells × 40 genes of log1p counts, with 3 scales of its cell graph."""
    rng = np.random.default_rng(0)
    rates = rng.gamma(0.3, 2.0, (60, 1)) * rng.gamma(0.5, 1.0, (1, 40))
    X = np.log1p(rng.poisson(rates).astype(np.float64))
    X[:, 0] += 1  # no empty cell
    edges = candidate_edges(X)
    P = persistence(edges)
    scales = P.canonical[select_scales(P.canonical, P.n_components, 3)]
    return X, edges, scales


def _matrix(X, sparse, dtype):
    X = X.astype(dtype)
    return sp.csr_matrix(X) if sparse else X


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("normalize", ["start", "iteration"])
@pytest.mark.parametrize("sparse", [False, True])
def test_subproblem_matches_graph_nmf(problem, sparse, normalize, device):
    from scnmf._core.pnmf.ops_torch import TorchGraphOps

    X0, edges, scales = problem
    X = _matrix(X0, sparse, np.float64)
    W0, H0 = initialize(X, 3, "nndsvda", random_state=0)
    W_in, H_in = W0.copy(), H0.copy()
    kw = dict(
        A=epsilon_graph(edges, scales[1]), lambda_graph=1.0, prev=0.9 * W0, alpha=0.5,
        nxt=1.1 * W0, beta=0.3, lambda_anchor=0.2, max_iter=40, tol=0, normalize=normalize,
    )  # fmt: skip
    ref = graph_nmf(NumpyGraphOps(X), W0, H0, **kw)
    got = graph_nmf(TorchGraphOps(X, device), W0, H0, **kw)
    assert isinstance(got.W, np.ndarray) and got.W.dtype == np.float64
    np.testing.assert_array_equal(W0, W_in)  # inputs untouched
    np.testing.assert_array_equal(H0, H_in)
    # float64 throughout: only the summation order differs (more so on a GPU)
    rtol, atol = (1e-9, 1e-12) if device == "cpu" else (1e-7, 1e-10)
    np.testing.assert_allclose(got.W, ref.W, rtol=rtol, atol=atol)
    np.testing.assert_allclose(got.H, ref.H, rtol=rtol, atol=atol)
    np.testing.assert_allclose(got.loss, ref.loss, rtol=rtol)
    np.testing.assert_allclose(got.extra["fit"], ref.extra["fit"], rtol=rtol)
    assert got.n_iter == ref.n_iter == 40


@pytest.mark.parametrize("device", DEVICES)
def test_stopping_rule_and_callback_match(problem, device):
    from scnmf._core.pnmf.ops_torch import TorchGraphOps

    X0, edges, scales = problem
    X = _matrix(X0, True, np.float64)
    W0, H0 = initialize(X, 3, "nndsvda", random_state=0)
    kw = dict(A=epsilon_graph(edges, scales[2]), lambda_graph=1.0, max_iter=500, tol=1e-4)
    ref = graph_nmf(NumpyGraphOps(X), W0, H0, **kw)
    seen = []
    ops = TorchGraphOps(X, device)
    got = graph_nmf(ops, W0, H0, callback=lambda i, f: seen.append(i), **kw)
    assert ref.converged and got.converged and got.n_iter == ref.n_iter < 500
    assert seen == list(range(1, got.n_iter + 1))
    assert np.all(np.diff(got.loss) <= 1e-10 * got.loss[:-1])  # start-normalised: monotone


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("sparse", [False, True])
def test_pnmf_with_torch_backend_matches_numpy(problem, sparse, device):
    from scnmf._core.pnmf.ops_torch import TorchGraphOps

    X0, edges, scales = problem
    X = _matrix(X0, sparse, np.float32)
    kw = dict(n_sweeps=2, max_inner_iter=25, inner_tol=0)
    ref = solve_pnmf(NumpyGraphOps(X), edges, scales, 3, **kw)
    got = solve_pnmf(TorchGraphOps(X, device), edges, scales, 3, **kw)
    assert got.W.dtype == got.H.dtype == np.float32
    np.testing.assert_allclose(got.W, ref.W, rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(got.H, ref.H, rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(got.loss, ref.loss, rtol=1e-5)
    np.testing.assert_array_equal(got.n_inner_iter, ref.n_inner_iter)


def test_total_objective_matches_and_graphs_go_to_device_once(problem):
    from scnmf._core.pnmf.ops_torch import TorchGraphOps

    X0, edges, scales = problem
    X = _matrix(X0, True, np.float64)
    rng = np.random.default_rng(1)
    W_all = [rng.random((60, 3)) for _ in scales]
    H_all = [rng.random((3, 40)) for _ in scales]
    graphs = ScaleGraphs(edges, scales)
    args = (W_all, H_all, graphs, 1.0, 0.5, 0.2, float((X0**2).sum()))
    ops = TorchGraphOps(X, "cpu")
    expected = total_objective(NumpyGraphOps(X), *args)
    np.testing.assert_allclose(total_objective(ops, *args), expected, rtol=1e-12)
    total_objective(ops, *args)
    assert len(ops.graphs._cache) == sum(graphs[t].nnz > 0 for t in range(len(scales)))


def _rel(a, b) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_torch_cpu_equals_numba_at_default_settings(problem):
    """GNMF and pNMF with their defaults on float32 CSR (as tl passes): torch = numba."""
    from scnmf._core.graph.laplacian import knn_graph
    from scnmf._core.pnmf.ops_torch import TorchGraphOps

    X0, edges, scales = problem
    X = _matrix(X0, True, np.float32)
    A = knn_graph(X0, 5)
    ref = solve_gnmf(NumpyGraphOps(X), A, 3)
    got = solve_gnmf(TorchGraphOps(X, "cpu"), A, 3)
    assert got.n_iter == ref.n_iter and got.converged == ref.converged
    assert _rel(got.W, ref.W) < 1e-5 and _rel(got.H, ref.H) < 1e-5
    np.testing.assert_allclose(got.loss, ref.loss, rtol=1e-5)
    ref = solve_pnmf(NumpyGraphOps(X), edges, scales, 3)
    got = solve_pnmf(TorchGraphOps(X, "cpu"), edges, scales, 3)
    np.testing.assert_array_equal(got.n_inner_iter, ref.n_inner_iter)
    assert _rel(got.W, ref.W) < 1e-5 and _rel(got.H, ref.H) < 1e-5
    np.testing.assert_allclose(got.loss, ref.loss, rtol=1e-5)
