"""Replicate fits: batching, seeds, and the dask task path give the same programs."""

import numpy as np
import pytest
import scipy.sparse as sp

from scnmf._core._backends.select import Backend
from scnmf._core.consensus import fit_consensus, replicates, select_k
from scnmf._core.consensus.replicates import fit_replicates, replicate_seeds

OPTIONS = dict(beta=2.0, solver="auto", init="random", max_iter=200, tol=1e-4)


def _planted(n=240, m=50, k=4, seed=0):
    rng = np.random.default_rng(seed)
    S = rng.gamma(0.3, 1.0, (k, m)) * (rng.random((k, m)) < 0.5) + 0.01
    U = rng.dirichlet(np.full(k, 0.2), n) * rng.gamma(5.0, 10.0, (n, 1))
    return sp.csr_matrix(rng.poisson(U @ S).astype(np.float64)), S


def test_seeds_are_reproducible_and_distinct():
    a, b = replicate_seeds(0, 20), replicate_seeds(0, 20)
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) == 20
    assert not np.array_equal(a, replicate_seeds(1, 20))


@pytest.mark.parametrize("beta", [2.0, 1.0])
def test_replicates_do_not_depend_on_the_batch_size(monkeypatch, beta):
    X, _ = _planted()
    seeds = replicate_seeds(0, 5)
    options = dict(OPTIONS, beta=beta)
    whole = fit_replicates(X, 4, seeds, backend=Backend("numba"), **options)
    monkeypatch.setattr(replicates, "BATCH_BYTES", 1)  # one replicate per batch
    seen = []
    single = fit_replicates(X, 4, seeds, backend=Backend("numba"), callback=seen.append, **options)
    assert seen == [1] * 5
    assert whole.spectra.shape == (20, X.shape[1])
    np.testing.assert_allclose(whole.spectra, single.spectra, rtol=1e-6, atol=1e-9)
    assert np.all(single.converged)


def test_batch_size_bounds_memory():
    assert replicates.batch_size(10**6, 20, 100, 4) < 100
    assert replicates.batch_size(100, 5, 100, 4) == 100
    assert replicates.batch_size(10**9, 50, 100, 8) == 1


def test_select_k_prefers_the_smaller_k_among_near_ties():
    ks = np.array([3, 4, 5, 6])
    assert select_k(ks, np.array([0.5, 0.9, 0.9005, 0.2])) == 4
    assert select_k(ks, np.array([0.5, 0.9, 0.95, 0.2])) == 5


def _dask(X, rows=60):
    da = pytest.importorskip("dask.array")
    return da.from_array(X, chunks=(rows, X.shape[1]), asarray=False)


def _same_consensus(got, ref):
    assert got.k == ref.k
    np.testing.assert_allclose(got.stability, ref.stability, rtol=1e-6)
    np.testing.assert_allclose(got.error, ref.error, rtol=1e-5)
    np.testing.assert_allclose(got.programs, ref.programs, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(got.usage, ref.usage, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got.gene_scores, ref.gene_scores, rtol=1e-4, atol=1e-6)


def test_dask_without_a_client_equals_in_memory():
    X, _ = _planted()
    ref = fit_consensus(X, [3, 4], n_replicates=4, max_iter=200)
    got = fit_consensus(_dask(X), [3, 4], n_replicates=4, max_iter=200)
    assert got.backend == "dask"
    _same_consensus(got, ref)


def test_dask_cluster_runs_replicate_batches_as_tasks(client):
    X, _ = _planted()
    ref = fit_consensus(X, [3, 4], n_replicates=4, max_iter=200)
    done = []
    got = fit_consensus(_dask(X), [3, 4], n_replicates=4, max_iter=200, callback=done.append)
    assert sum(done) == 8 and len(done) == 4  # two workers: two batches of two per k
    _same_consensus(got, ref)


def test_torch_cpu_equals_numba():
    pytest.importorskip("torch")
    X, _ = _planted()
    ref = fit_consensus(X, [3, 4], n_replicates=4, max_iter=200)
    got = fit_consensus(X, [3, 4], n_replicates=4, max_iter=200, device=Backend("torch", "cpu"))
    _same_consensus(got, ref)
