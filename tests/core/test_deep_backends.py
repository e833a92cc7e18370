"""Layer-1 backends of deep β-NMF: torch (CPU here, CUDA when present) and dask vs numpy."""

import numpy as np
import pytest
import scipy.sparse as sp

from scnmf._core.deep import updates as du
from scnmf._core.deep.fit import deep_nmf
from scnmf._core.deep.multilayer import multilayer_nmf

pytestmark = pytest.mark.filterwarnings("ignore:Sparse:UserWarning")  # torch's CSR is beta

RANKS = (5, 3, 2)
FAST = {"n_init_iter": 8, "max_iter": 5, "tol": 0, "baseline": True}
#: Fewer iterations on dask: every pass is a round trip to the workers.
DASK_FAST = {"n_init_iter": 4, "max_iter": 3, "tol": 0, "baseline": True}


@pytest.fixture(scope="module")
def data():
    """Genes × cells counts (deep-NMF orientation): 50 genes, 80 cells, float64."""
    rng = np.random.default_rng(11)
    X = rng.poisson(rng.gamma(0.4, 2.0, (50, 1)) * rng.gamma(0.6, 1.0, (1, 80))).astype(float)
    X[:, 0] += 1
    X[0, :] += 1
    return X


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny problems: OpenMP threads only add contention
    yield torch
    torch.set_num_threads(threads)


def _assert_same_fit(got, ref, rtol, atol=1e-12):
    assert got.n_iter == ref.n_iter
    for x, y in zip(got.W + got.H, ref.W + ref.H, strict=True):
        assert isinstance(x, np.ndarray) and x.dtype == np.float64
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)
    np.testing.assert_allclose(got.loss, ref.loss, rtol=rtol)
    np.testing.assert_allclose(got.errors, ref.errors, rtol=rtol)
    if ref.multilayer_errors is not None:
        np.testing.assert_allclose(got.multilayer_errors, ref.multilayer_errors, rtol=rtol)


CASES = [
    pytest.param(1.0, True, {}, id="kl-sparse"),
    pytest.param(1.0, False, {}, id="kl-dense"),
    pytest.param(2.0, True, {}, id="frobenius-sparse"),
    pytest.param(2.0, False, {}, id="frobenius-dense"),
    pytest.param(1.5, False, {}, id="beta1.5-dense"),
    pytest.param(1.0, True, {"min_volume": True, "admm_max_iter": 15}, id="minvol-sparse"),
]


# --------------------------------------------------------------------------------------
# torch
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("beta,sparse,kwargs", CASES)
def test_torch_cpu_matches_numpy(torch, data, beta, sparse, kwargs):
    X = sp.csr_matrix(data) if sparse else data
    ref = deep_nmf(X, RANKS, beta=beta, **FAST, **kwargs)
    got = deep_nmf(X, RANKS, beta=beta, device="cpu", **FAST, **kwargs)
    _assert_same_fit(got, ref, rtol=1e-7)


def test_torch_single_layer_and_float32(torch, data):
    X = sp.csr_matrix(data.astype(np.float32))
    ref = deep_nmf(X, (4,), **FAST)
    got = deep_nmf(X, (4,), device="cpu", **FAST)
    _assert_same_fit(got, ref, rtol=2e-3, atol=1e-7)
    np.testing.assert_allclose(got.H[0].sum(axis=1), 1.0, atol=1e-10)


def test_torch_multilayer_matches_numpy(torch, data):
    ref = multilayer_nmf(sp.csr_matrix(data), RANKS, n_iter=10)
    got = multilayer_nmf(sp.csr_matrix(data), RANKS, n_iter=10, device="cpu")
    np.testing.assert_allclose(got.errors, ref.errors, rtol=1e-9)
    np.testing.assert_allclose(got.H[0], ref.H[0], rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("beta", [1.0, 1.5, 2.0])
def test_torch_h_steps_match_numpy(torch, beta):
    from scnmf._core.deep.layers_torch import mu_step_t, row_simplex_step_t

    rng = np.random.default_rng(4)
    H = rng.dirichlet(np.ones(30), size=4)
    C = rng.uniform(0.0, 2.0, (4, 30))
    D = np.broadcast_to(rng.uniform(0.5, 3.0, (4, 1)), C.shape) if beta == 1 else None
    D = rng.uniform(0.5, 3.0, (4, 30)) if D is None else D
    t = [torch.as_tensor(np.ascontiguousarray(a)) for a in (H, C, D)]
    ref = du.row_simplex_step(H, C, D, beta)
    got = row_simplex_step_t(*t, beta, closed_form=beta == 1).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(mu_step_t(*t).numpy(), du.mu_step(H, C, D), rtol=1e-15)


def test_torch_layer1_holds_csr_on_device(torch, data):
    from scnmf._core.deep.layers_torch import TorchLayer1

    layer = TorchLayer1(sp.csr_matrix(data), 1.0, "cpu")
    assert layer.data.X.layout == torch.sparse_csr and layer.data.X.shape == (80, 50)
    layer.close()
    assert layer.data is None


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_cuda_matches_numpy(torch, data, beta):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    X = sp.csr_matrix(data.astype(np.float32))
    ref = deep_nmf(X, RANKS, beta=beta, **FAST)
    got = deep_nmf(X, RANKS, beta=beta, device="cuda", **FAST)
    _assert_same_fit(got, ref, rtol=2e-3, atol=1e-7)


# --------------------------------------------------------------------------------------
# dask
# --------------------------------------------------------------------------------------
def _lazy(X, rows=30):
    """A genes × cells dask array whose cells × genes transpose is row-chunked."""
    da = pytest.importorskip("dask.array")
    Xc = sp.csr_matrix(X.T) if sp.issparse(X) else np.ascontiguousarray(X.T)
    return da.from_array(Xc, chunks=(rows, Xc.shape[1]), asarray=False).T


def test_dask_local_scheduler_matches_in_memory(data):
    from scnmf._core.deep.layers_dask import DaskLayer1

    X = sp.csr_matrix(data)
    lazy = _lazy(X)
    assert DaskLayer1(lazy, 1.0).blocks.client is None  # no cluster: the local scheduler
    ref = deep_nmf(X, RANKS, **DASK_FAST)
    got = deep_nmf(lazy, RANKS, **DASK_FAST)
    _assert_same_fit(got, ref, rtol=1e-9)


def test_dask_rejects_gene_chunks(data):
    da = pytest.importorskip("dask.array")
    lazy = da.from_array(np.ascontiguousarray(data.T), chunks=(40, 20)).T
    with pytest.raises(ValueError, match="one chunk"):
        deep_nmf(lazy, RANKS, n_init_iter=2, max_iter=1)


@pytest.mark.parametrize("beta,sparse,kwargs", [CASES[0], CASES[3], CASES[5]])
def test_dask_cluster_matches_in_memory(client, data, beta, sparse, kwargs):
    from scnmf._core.deep.layers_dask import DaskLayer1

    X = sp.csr_matrix(data) if sparse else data
    lazy = _lazy(X)
    assert DaskLayer1(lazy, beta).blocks.client is client
    monitor = beta == 2  # the objective after every block, layer-1 blocks included
    ref = deep_nmf(X, RANKS, beta=beta, monitor_blocks=monitor, **DASK_FAST, **kwargs)
    got = deep_nmf(lazy, RANKS, beta=beta, monitor_blocks=monitor, **DASK_FAST, **kwargs)
    _assert_same_fit(got, ref, rtol=1e-9)
    if monitor:
        np.testing.assert_allclose(got.block_loss, ref.block_loss, rtol=1e-9)
