import numpy as np
import pytest
import scipy.sparse as sp

from scnmf._core.nmf import hals, mu, run_solver
from scnmf._core.nmf.init import initialize, randomized_svd

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")


def _dask(X, rows=37):
    return da.from_array(X, chunks=(rows, X.shape[1]), asarray=False)


def dask_mu(X, W, H, **kwargs):
    return run_solver(X, W, H, solver="mu", **kwargs)


def dask_hals(X, W, H, **kwargs):
    return run_solver(X, W, H, solver="hals", **kwargs)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("beta", [2.0, 1.0, 1.5])
def test_dask_mu_equals_in_memory(counts, sparse, beta):
    X = sp.csr_matrix(counts) if sparse else counts
    W0, H0 = initialize(X, 4, "nndsvda", random_state=0)
    ref = mu(X, W0, H0, beta=beta, max_iter=25, tol=0)
    got = dask_mu(_dask(X), W0, H0, beta=beta, max_iter=25, tol=0)
    np.testing.assert_allclose(got.W, ref.W, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.H, ref.H, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.loss, ref.loss, rtol=1e-10)
    assert got.n_iter == ref.n_iter == 25


def test_dask_hals_equals_in_memory(counts_csr):
    W0, H0 = initialize(counts_csr, 4, "nndsvda", random_state=0)
    ref = hals(counts_csr, W0, H0, max_iter=20, tol=0, max_inner=3)
    got = dask_hals(_dask(counts_csr), W0, H0, max_iter=20, tol=0, max_inner=3)
    np.testing.assert_allclose(got.W, ref.W, rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(got.loss, ref.loss, rtol=1e-10)


def test_dask_tolerance_stop_matches(counts):
    W0, H0 = initialize(counts, 3, "nndsvda", random_state=0)
    ref = mu(counts, W0, H0, beta=1.0, max_iter=300, tol=1e-3)
    got = dask_mu(_dask(counts), W0, H0, beta=1.0, max_iter=300, tol=1e-3)
    assert ref.converged and got.converged and got.n_iter == ref.n_iter
    np.testing.assert_allclose(got.W, ref.W, rtol=1e-9)


def test_dask_rejects_gene_chunks(counts):
    X = da.from_array(counts, chunks=(40, 20))
    W0, H0 = initialize(counts, 3, "random", random_state=0)
    with pytest.raises(ValueError, match="one chunk"):
        dask_mu(X, W0, H0, max_iter=2)


def test_randomized_svd_on_dask_matches_exact(counts_csr):
    _, S, _ = randomized_svd(_dask(counts_csr), 3)
    exact = np.linalg.svd(counts_csr.toarray(), compute_uv=False)[:3]
    np.testing.assert_allclose(S, exact, rtol=1e-3)


def test_tl_nmf_on_local_cluster_equals_in_memory(adata, client):
    import scnmf as snmf

    lazy = adata.copy()
    lazy.X = _dask(adata.X.astype(np.float32), rows=40)
    for solver, beta in (("mu", "kullback-leibler"), ("mu", "frobenius")):
        ref = snmf.tl.nmf(
            adata, 3, solver=solver, beta_loss=beta, init="random", max_iter=15, tol=0, copy=True
        )
        got = snmf.tl.nmf(
            lazy, 3, solver=solver, beta_loss=beta, init="random", max_iter=15, tol=0, copy=True
        )
        np.testing.assert_allclose(got.obsm["X_nmf"], ref.obsm["X_nmf"], rtol=2e-4, atol=1e-6)
        np.testing.assert_allclose(got.uns["nmf"]["loss"], ref.uns["nmf"]["loss"], rtol=1e-5)
    got = snmf.tl.nmf(lazy, 3, max_iter=10, copy=True)  # HALS, nndsvda via dask SVD
    assert got.obsm["X_nmf"].shape == (adata.n_obs, 3)
    assert np.all(np.diff(got.uns["nmf"]["loss"]) <= 1e-6 * got.uns["nmf"]["loss"][0])


def test_tl_nmf_dask_bad_values_rejected(adata):
    import scnmf as snmf

    lazy = adata.copy()
    dense = adata.X.toarray()
    dense[0, 0] = -1
    lazy.X = da.from_array(dense, chunks=(40, dense.shape[1]))
    with pytest.raises(ValueError, match="negative"):
        snmf.tl.nmf(lazy, 2)
    assert "X_nmf" not in lazy.obsm


def test_tl_nmf_agd_on_dask_refused_before_any_fit(adata, monkeypatch):
    import scnmf as snmf
    from scnmf._core.nmf import ops_dask as dist

    lazy = adata.copy()
    lazy.X = _dask(adata.X.astype(np.float32), rows=40)

    def fail(*args, **kwargs):
        raise AssertionError("the warm start ran before the refusal")

    monkeypatch.setattr(dist, "DaskEngine", fail)
    with pytest.raises(ValueError, match="compute the dask array first"):
        snmf.tl.nmf(lazy, 2, solver="agd")
    assert "X_nmf" not in lazy.obsm


@pytest.mark.parametrize("solver", ["hals", "mu"])
def test_fixed_programs_and_constant_start_on_a_cluster(counts_csr, client, solver):
    """H fixed (update_H=False) and W constant: every pass scatters equal arrays.

    Scattered by content hash, the unchanged H reused the key of the last pass's copy while
    it was being released, and equal W blocks shared one key: tasks lost their inputs.
    """
    H = np.random.default_rng(0).random((3, counts_csr.shape[1]))
    W0 = np.ones((counts_csr.shape[0], 3))
    kwargs = dict(solver=solver, beta=2.0, max_iter=15, tol=0, update_H=False)
    ref = run_solver(counts_csr, W0, H, **kwargs)
    got = run_solver(_dask(counts_csr), W0, H, **kwargs)
    np.testing.assert_allclose(got.W, ref.W, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(got.H, H)
