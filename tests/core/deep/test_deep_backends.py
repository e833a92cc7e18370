"""Layer-1 backends of deep β-NMF: torch (CPU here, CUDA when present) and dask vs numpy."""

import numpy as np
import pytest
import scipy.sparse as sp

from scnmf._core._backends.select import Backend
from scnmf._core.deep import fit_deep, multilayer_nmf
from scnmf._core.deep import updates as du

#: The torch backend on torch's CPU build (``device='cpu'`` is the numba engine).
TORCH_CPU = Backend("torch", "cpu")

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
    ref = fit_deep(X, RANKS, beta=beta, **FAST, **kwargs)
    got = fit_deep(X, RANKS, beta=beta, device=TORCH_CPU, **FAST, **kwargs)
    _assert_same_fit(got, ref, rtol=1e-7)


def _relative(got: np.ndarray, ref: np.ndarray) -> float:
    """‖got − ref‖_F / ‖ref‖_F."""
    return float(np.linalg.norm(np.asarray(got) - ref) / np.linalg.norm(ref))


def _assert_within(got, ref, rtol: float) -> None:
    """Every factor, every layer's activities and the records within ``rtol`` (Frobenius)."""
    assert got.n_iter == ref.n_iter and got.converged == ref.converged
    L = len(ref.W)
    pairs = {f"W{i + 1}": (got.W[i], ref.W[i]) for i in range(L)}
    pairs |= {f"H{i + 1}": (got.H[i], ref.H[i]) for i in range(L)}
    pairs |= {f"activities{i}": (got.activities(i), ref.activities(i)) for i in range(1, L + 1)}
    pairs |= {"errors": (got.errors, ref.errors), "loss": (got.loss, ref.loss)}
    pairs |= {"multilayer_errors": (got.multilayer_errors, ref.multilayer_errors)}
    off = {name: _relative(a, b) for name, (a, b) in pairs.items()}
    assert max(off.values()) <= rtol, off


@pytest.mark.parametrize(
    "beta,dtype,sparse",
    [
        pytest.param(1.0, np.float32, True, id="kl-float32-csr"),
        pytest.param(2.0, np.float32, True, id="frobenius-float32-csr"),
        pytest.param(1.5, np.float32, False, id="beta1.5-float32-dense"),
        pytest.param(1.0, np.float64, False, id="kl-float64-dense"),
    ],
)
def test_torch_cpu_equals_numba_at_default_settings(torch, data, beta, dtype, sparse):
    """Issue 12: the torch CPU build within 1e-5 (relative) of numba, default settings."""
    X = data.astype(dtype)
    X = sp.csr_matrix(X) if sparse else X
    ref = fit_deep(X, RANKS, beta=beta, baseline=True)
    got = fit_deep(X, RANKS, beta=beta, baseline=True, device=TORCH_CPU)
    assert ref.device == "cpu" and got.device == "cpu"  # torch's CPU build, named as numba's
    _assert_within(got, ref, rtol=1e-5)


def test_torch_single_layer_and_float32(torch, data):
    X = sp.csr_matrix(data.astype(np.float32))
    ref = fit_deep(X, (4,), **FAST)
    got = fit_deep(X, (4,), device=TORCH_CPU, **FAST)
    _assert_same_fit(got, ref, rtol=2e-3, atol=1e-7)
    np.testing.assert_allclose(got.H[0].sum(axis=1), 1.0, atol=1e-10)


def test_torch_multilayer_matches_numpy(torch, data):
    ref = multilayer_nmf(sp.csr_matrix(data), RANKS, n_iter=10)
    got = multilayer_nmf(sp.csr_matrix(data), RANKS, n_iter=10, device=TORCH_CPU)
    np.testing.assert_allclose(got.errors, ref.errors, rtol=1e-9)
    np.testing.assert_allclose(got.H[0], ref.H[0], rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("beta", [1.0, 1.5, 2.0])
def test_torch_h_steps_match_numpy(torch, beta):
    from scnmf._core.deep import hsteps
    from scnmf._core.deep.xp import TorchOps

    rng = np.random.default_rng(4)
    H = rng.dirichlet(np.ones(30), size=4)
    C = rng.uniform(0.0, 2.0, (4, 30))
    D = np.broadcast_to(rng.uniform(0.5, 3.0, (4, 1)), C.shape) if beta == 1 else None
    D = rng.uniform(0.5, 3.0, (4, 30)) if D is None else D
    t = [torch.as_tensor(np.ascontiguousarray(a)) for a in (H, C, D)]
    xp = TorchOps("cpu")
    ref = du.row_simplex_step(H, C, D, beta)
    got = hsteps.h_step(hsteps.ArrayRows(xp, *t, beta), "simplex", beta).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hsteps.mu_step(xp, *t).numpy(), du.mu_step(H, C, D), rtol=1e-15)


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
    ref = fit_deep(X, RANKS, beta=beta, **FAST)
    got = fit_deep(X, RANKS, beta=beta, device="cuda", **FAST)
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
    ref = fit_deep(X, RANKS, **DASK_FAST)
    got = fit_deep(lazy, RANKS, **DASK_FAST)
    _assert_same_fit(got, ref, rtol=1e-9)


def test_dask_rejects_gene_chunks(data):
    da = pytest.importorskip("dask.array")
    lazy = da.from_array(np.ascontiguousarray(data.T), chunks=(40, 20)).T
    with pytest.raises(ValueError, match="one chunk"):
        fit_deep(lazy, RANKS, n_init_iter=2, max_iter=1)


@pytest.mark.parametrize("beta,sparse,kwargs", [CASES[0], CASES[3], CASES[5]])
def test_dask_cluster_matches_in_memory(client, data, beta, sparse, kwargs):
    from scnmf._core.deep.layers_dask import DaskLayer1

    X = sp.csr_matrix(data) if sparse else data
    lazy = _lazy(X)
    assert DaskLayer1(lazy, beta).blocks.client is client
    monitor = beta == 2  # the objective after every block, layer-1 blocks included
    ref = fit_deep(X, RANKS, beta=beta, monitor_blocks=monitor, **DASK_FAST, **kwargs)
    got = fit_deep(lazy, RANKS, beta=beta, monitor_blocks=monitor, **DASK_FAST, **kwargs)
    _assert_same_fit(got, ref, rtol=1e-9)
    if monitor:
        np.testing.assert_allclose(got.block_loss, ref.block_loss, rtol=1e-9)
