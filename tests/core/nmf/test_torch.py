import numpy as np
import pytest
import scipy.sparse as sp

from scnmf._core._backends.select import Backend
from scnmf._core.nmf import hals, mu, run_solver
from scnmf._core.nmf.init import initialize

torch = pytest.importorskip("torch")

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def torch_mu(X, W, H, *, device, **kwargs):
    return run_solver(X, W, H, solver="mu", device=Backend("torch", device), **kwargs)


def torch_hals(X, W, H, *, device, **kwargs):
    return run_solver(X, W, H, solver="hals", device=Backend("torch", device), **kwargs)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("beta", [2.0, 1.0, 1.5, 0.5])
def test_torch_mu_matches_cpu_engine(counts, device, sparse, beta):
    X = sp.csr_matrix(counts) if sparse else counts
    W0, H0 = initialize(X, 4, "nndsvda", random_state=0)
    ref = mu(X, W0, H0, beta=beta, max_iter=30, tol=0)
    got = torch_mu(X, W0, H0, beta=beta, max_iter=30, tol=0, device=device)
    assert isinstance(got.W, np.ndarray) and got.W.dtype == X.dtype
    np.testing.assert_allclose(got.W, ref.W, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(got.H, ref.H, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(got.loss, ref.loss, rtol=1e-8)


@pytest.mark.parametrize("device", DEVICES)
def test_torch_hals_matches_cpu_engine(counts_csr, device):
    W0, H0 = initialize(counts_csr, 4, "nndsvda", random_state=0)
    ref = hals(counts_csr, W0, H0, max_iter=20, tol=0, max_inner=3)
    got = torch_hals(counts_csr, W0, H0, max_iter=20, tol=0, max_inner=3, device=device)
    np.testing.assert_allclose(got.W, ref.W, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(got.loss, ref.loss, rtol=1e-8)


def test_float32_on_device(counts_csr):
    X = counts_csr.astype(np.float32)
    W0, H0 = initialize(X, 3, "nndsvda", random_state=0)
    got = torch_mu(X, W0, H0, beta=1.0, max_iter=20, tol=0, device="cpu")
    ref = mu(X, W0, H0, beta=1.0, max_iter=20, tol=0)
    assert got.W.dtype == np.float32
    np.testing.assert_allclose(got.loss[-1], ref.loss[-1], rtol=1e-4)


def test_device_resolution():
    from scnmf._core._backends.torch import resolve_device

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            resolve_device("cuda")


def test_tl_nmf_device_cpu_and_auto(adata):
    import scnmf as snmf

    snmf.tl.nmf(adata, 3, max_iter=10, device="cpu", key_added="cpu")
    assert adata.uns["cpu"]["params"]["device"] == "cpu"
    with pytest.raises(ValueError, match="device"):
        snmf.tl.nmf(adata, 3, device="tpu")
    if torch.cuda.is_available():
        snmf.tl.nmf(
            adata,
            3,
            beta_loss="kullback-leibler",
            max_iter=10,
            device="cuda",
            key_added="gpu",
            init="random",
        )
        snmf.tl.nmf(
            adata,
            3,
            beta_loss="kullback-leibler",
            max_iter=10,
            device="cpu",
            key_added="cpu",
            init="random",
        )
        np.testing.assert_allclose(adata.obsm["X_gpu"], adata.obsm["X_cpu"], rtol=1e-3, atol=1e-5)
        assert adata.obsm["X_gpu"].dtype == np.float32
