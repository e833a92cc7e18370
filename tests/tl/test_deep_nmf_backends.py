"""``tl.deep_nmf`` on a torch device and on dask-backed AnnData."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp

import scnmf as snmf
from scnmf import _keys as C

KEY = C.DEEP_NMF_KEY
RANKS = (4, 2)
# The baseline is opt-in; it is on here so its errors are compared across backends too.
FAST = {"n_init_iter": 5, "max_iter": 3, "tol": 0, "multilayer_baseline": True}

pytestmark = pytest.mark.filterwarnings("ignore:Sparse:UserWarning")  # torch's CSR is beta


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.fixture
def small():
    """80 cells × 50 genes of counts, CSR float32."""
    rng = np.random.default_rng(5)
    X = rng.poisson(rng.gamma(0.4, 2.0, (80, 1)) * rng.gamma(0.6, 1.0, (1, 50))).astype(np.float32)
    X[:, 0] += 1
    X[0, :] += 1
    obs = pd.DataFrame(index=[f"c{i}" for i in range(80)])
    var = pd.DataFrame(index=[f"g{j}" for j in range(50)])
    return ad.AnnData(sp.csr_matrix(X), obs=obs, var=var)


def _snapshot(adata):
    return (
        sorted(adata.obsm.keys()),
        sorted(adata.varm.keys()),
        sorted(adata.uns.keys()),
        list(adata.obs.columns),
    )


def _assert_same_outputs(got, ref, rtol, atol):
    for ell in range(1, len(RANKS) + 1):
        for store, key in (
            ("obsm", C.layer_obsm_key(KEY, ell)),
            ("varm", C.layer_key(KEY, ell)),
        ):
            a, b = getattr(got, store)[key], getattr(ref, store)[key]
            assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
        agree = np.mean(got.obs[C.layer_key(KEY, ell)] == ref.obs[C.layer_key(KEY, ell)])
        assert agree >= 0.95
    u, v = got.uns[KEY], ref.uns[KEY]
    np.testing.assert_allclose(u["errors"]["deep"], v["errors"]["deep"], rtol=rtol)
    np.testing.assert_allclose(u["errors"]["multilayer"], v["errors"]["multilayer"], rtol=rtol)
    np.testing.assert_allclose(u["loss"], v["loss"], rtol=rtol)
    np.testing.assert_allclose(u["H"]["2"], v["H"]["2"], rtol=rtol, atol=atol)
    assert u["n_iter"] == v["n_iter"]


# --------------------------------------------------------------------------------------
# device=
# --------------------------------------------------------------------------------------
def test_device_recorded_and_bad_device_leaves_adata_unchanged(small):
    snmf.tl.deep_nmf(small, RANKS, device="cpu", **FAST)
    assert small.uns[KEY]["params"]["device"] == "cpu"
    before = _snapshot(small)
    with pytest.raises(ValueError, match="device"):
        snmf.tl.deep_nmf(small, RANKS, device="tpu", key_added="other", **FAST)
    assert _snapshot(small) == before


@pytest.mark.skipif(_cuda_available(), reason="checks the error without a GPU")
def test_cuda_without_gpu_raises_and_leaves_adata_unchanged(small):
    before = _snapshot(small)
    with pytest.raises(ValueError, match="CUDA"):
        snmf.tl.deep_nmf(small, RANKS, device="cuda", **FAST)
    assert _snapshot(small) == before


@pytest.mark.skipif(not _cuda_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("beta_loss", ["kullback-leibler", "frobenius"])
def test_cuda_matches_cpu(small, beta_loss):
    ref = snmf.tl.deep_nmf(small, RANKS, beta_loss=beta_loss, device="cpu", copy=True, **FAST)
    got = snmf.tl.deep_nmf(small, RANKS, beta_loss=beta_loss, device="cuda", copy=True, **FAST)
    assert got.uns[KEY]["params"]["device"] == "cuda"
    _assert_same_outputs(got, ref, rtol=2e-3, atol=1e-6)


# --------------------------------------------------------------------------------------
# dask
# --------------------------------------------------------------------------------------


def _lazy(adata, dense=False, rows=30):
    da = pytest.importorskip("dask.array")
    lazy = adata.copy()
    X = adata.X.toarray() if dense else adata.X
    lazy.X = da.from_array(X, chunks=(rows, adata.n_vars), asarray=False)
    return lazy


@pytest.mark.parametrize("dense", [False, True], ids=["csr-chunks", "dense-chunks"])
def test_dask_equals_in_memory_and_round_trips(client, small, dense, tmp_path):
    lazy = _lazy(small, dense=dense)
    mask = np.arange(small.n_vars) < 40
    kwargs = {"mask_var": mask, "copy": True, **FAST}
    ref = snmf.tl.deep_nmf(small, RANKS, device="cpu", **kwargs)
    got = snmf.tl.deep_nmf(lazy, RANKS, device="cpu", **kwargs)
    assert got.uns[KEY]["params"]["device"] == "dask"
    assert np.all(got.varm[C.layer_key(KEY, 1)][~mask] == 0)
    _assert_same_outputs(got, ref, rtol=1e-4, atol=1e-7)

    path = tmp_path / "deep_dask.h5ad"
    got.write_h5ad(path)
    back = sc.read_h5ad(path)
    for ell in (1, 2):
        key = C.layer_obsm_key(KEY, ell)
        np.testing.assert_array_equal(back.obsm[key], got.obsm[key])
        assert back.obs[C.layer_key(KEY, ell)].equals(got.obs[C.layer_key(KEY, ell)])
    np.testing.assert_array_equal(back.uns[KEY]["H"]["2"], got.uns[KEY]["H"]["2"])
    assert back.uns[KEY]["params"]["device"] == "dask"


def test_dask_bad_input_leaves_adata_unchanged(client, small):
    da = pytest.importorskip("dask.array")
    lazy = _lazy(small)
    before = _snapshot(lazy)
    with pytest.raises(ValueError, match="impossible"):
        snmf.tl.deep_nmf(lazy, (500, 2), **FAST)
    dense = small.X.toarray()
    dense[3, 3] = -1.0
    lazy.X = da.from_array(dense, chunks=(30, small.n_vars))
    with pytest.raises(ValueError, match="negative"):
        snmf.tl.deep_nmf(lazy, RANKS, **FAST)
    assert _snapshot(lazy) == before
