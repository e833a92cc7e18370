"""tl.pnmf and tl.gnmf on a torch device and on dask-backed AnnData."""

import numpy as np
import pytest
import scipy.sparse as sp

import scnmf as snmf

KW = dict(n_sweeps=1, max_inner_iter=20)

try:
    import torch

    HAS_CUDA = torch.cuda.is_available()
except ImportError:
    HAS_CUDA = False


@pytest.fixture
def small():
    """60 cells × 40 genes (log1p counts, CSR float32) with a PCA and 3 persistence scales."""
    import anndata as ad

    rng = np.random.default_rng(0)
    rates = rng.gamma(0.3, 2.0, (60, 1)) * rng.gamma(0.5, 1.0, (1, 40))
    X = np.log1p(rng.poisson(rates)).astype(np.float32)
    X[:, 0] += 1
    adata = ad.AnnData(sp.csr_matrix(X))
    adata.obsm["X_pca"] = np.linalg.svd(X - X.mean(0), full_matrices=False)[0][:, :5]
    snmf.tl.persistence(adata, n_scales=3)
    return adata


def _dask_copy(adata, rows=25):
    da = pytest.importorskip("dask.array")
    lazy = adata.copy()
    lazy.X = da.from_array(adata.X, chunks=(rows, adata.n_vars), asarray=False)
    return lazy


def _assert_same_results(got, ref, key, rtol, atol):
    for where, name in (("obsm", f"X_{key}"), ("varm", f"{key}_loadings")):
        a, b = getattr(got, where)[name], getattr(ref, where)[name]
        assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    np.testing.assert_allclose(got.uns[key]["loss"], ref.uns[key]["loss"], rtol=1e-4)


def _round_trip(adata, tmp_path):
    import anndata as ad

    path = tmp_path / "backend.h5ad"
    adata.write_h5ad(path)
    return ad.read_h5ad(path)


def test_torch_path_stores_exactly_as_cpu(small, monkeypatch, tmp_path):
    """The tl → torch wiring, with torch's CPU build standing in for a GPU."""
    torch = pytest.importorskip("torch")
    import scnmf._core.pnmf as core
    from scnmf._core._backends.select import Backend
    from scnmf._core.pnmf import ops_torch

    ref = snmf.tl.pnmf(small, 3, device="cpu", copy=True, **KW)
    snmf.tl.gnmf(ref, 3, max_iter=30, device="cpu")
    # The core picks the torch backend for "cuda"; its ops are built on the CPU.
    torch_ops = ops_torch.TorchGraphOps
    monkeypatch.setattr(core, "choose_backend", lambda X, device: Backend("torch", "cuda"))
    monkeypatch.setattr(ops_torch, "TorchGraphOps", lambda X, device: torch_ops(X, "cpu"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: OpenMP threads would only spin
    try:
        got = snmf.tl.pnmf(small, 3, device="cuda", copy=True, **KW)
        snmf.tl.gnmf(got, 3, max_iter=30, device="cuda")
    finally:
        torch.set_num_threads(threads)
    _assert_same_results(got, ref, "pnmf", rtol=1e-3, atol=1e-5)
    _assert_same_results(got, ref, "gnmf", rtol=1e-3, atol=1e-5)
    assert got.obsm["X_pnmf_scales"].shape == ref.obsm["X_pnmf_scales"].shape == (60, 3, 3)
    np.testing.assert_array_equal(got.uns["pnmf"]["n_inner_iter"], ref.uns["pnmf"]["n_inner_iter"])
    assert got.uns["pnmf"]["params"]["device"] == got.uns["gnmf"]["params"]["device"] == "cuda"
    assert ref.uns["pnmf"]["params"]["device"] == "cpu"
    back = _round_trip(got, tmp_path)
    np.testing.assert_array_equal(back.obsm["X_pnmf_scales"], got.obsm["X_pnmf_scales"])
    assert back.uns["pnmf"]["params"]["device"] == "cuda"


def test_bad_device_leaves_adata_unchanged(small):
    keys = set(small.uns), set(small.obsm)
    for call in (snmf.tl.pnmf, snmf.tl.gnmf):
        with pytest.raises(ValueError, match="device"):
            call(small, 2, device="tpu")
    assert (set(small.uns), set(small.obsm)) == keys


def test_bad_normalize_rejected_at_the_boundary(small):
    # core trusts its inputs: tl is where an unknown normalize is refused
    keys = set(small.uns), set(small.obsm)
    with pytest.raises(ValueError, match="normalize"):
        snmf.tl.pnmf(small, 2, normalize="always")
    assert (set(small.uns), set(small.obsm)) == keys


@pytest.mark.skipif(not HAS_CUDA, reason="needs PyTorch with a CUDA GPU")
def test_cuda_matches_cpu(small):
    ref = snmf.tl.pnmf(small, 3, device="cpu", copy=True, **KW)
    got = snmf.tl.pnmf(small, 3, device="cuda", copy=True, **KW)
    _assert_same_results(got, ref, "pnmf", rtol=1e-3, atol=1e-5)
    snmf.tl.gnmf(ref, 3, max_iter=30, device="cpu")
    snmf.tl.gnmf(got, 3, max_iter=30, device="cuda")
    _assert_same_results(got, ref, "gnmf", rtol=1e-3, atol=1e-5)


def test_dask_without_client_equals_in_memory(small):
    lazy = _dask_copy(small)
    ref = snmf.tl.pnmf(small, 3, device="cpu", copy=True, **KW)
    got = snmf.tl.pnmf(lazy, 3, copy=True, **KW)
    _assert_same_results(got, ref, "pnmf", rtol=1e-5, atol=1e-7)
    assert got.uns["pnmf"]["params"]["device"] == "dask"


def test_dask_on_local_cluster_equals_in_memory(small, client, tmp_path):
    lazy = _dask_copy(small)
    ref = snmf.tl.pnmf(small, 3, device="cpu", copy=True, **KW)
    snmf.tl.gnmf(ref, 3, max_iter=30, device="cpu")
    snmf.tl.pnmf(lazy, 3, **KW)
    snmf.tl.gnmf(lazy, 3, max_iter=30)
    _assert_same_results(lazy, ref, "pnmf", rtol=1e-5, atol=1e-7)
    _assert_same_results(lazy, ref, "gnmf", rtol=1e-5, atol=1e-7)
    assert lazy.uns["pnmf"]["params"]["device"] == lazy.uns["gnmf"]["params"]["device"] == "dask"
    lazy.X = small.X  # h5ad stores in-memory matrices
    back = _round_trip(lazy, tmp_path)
    np.testing.assert_array_equal(back.varm["pnmf_loadings"], lazy.varm["pnmf_loadings"])
    assert back.uns["pnmf"]["params"]["device"] == "dask"

    # bad values are found before any result is written
    dense = small.X.toarray()
    dense[3, 4] = -1.0
    bad = _dask_copy(small)
    bad.X = pytest.importorskip("dask.array").from_array(dense, chunks=(25, 40))
    before = set(bad.obsm), set(bad.varm), set(bad.uns)
    for call in (snmf.tl.pnmf, snmf.tl.gnmf):
        with pytest.raises(ValueError, match="negative"):
            call(bad, 2)
    assert (set(bad.obsm), set(bad.varm), set(bad.uns)) == before
