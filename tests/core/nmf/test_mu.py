import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition import non_negative_factorization

from scnmf._core.nmf import hals, mu
from scnmf._core.nmf.beta import beta_divergence
from scnmf._core.nmf.init import initialize
from tests.conftest import planted


def _rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("beta", [2.0, 1.0])
def test_mu_follows_sklearn(counts, sparse, beta):
    X = sp.csr_matrix(counts) if sparse else counts
    W0, H0 = initialize(X, 5, "nndsvda", random_state=0)
    ours = mu(X, W0, H0, beta=beta, max_iter=60, tol=0)
    W, H, n_iter = non_negative_factorization(
        X,
        W=W0.copy(),
        H=H0.copy(),
        n_components=5,
        init="custom",
        solver="mu",
        beta_loss=beta,
        max_iter=60,
        tol=0,
        alpha_W=0.0,
        alpha_H=0.0,
    )
    assert ours.n_iter == 60 == n_iter
    assert _rel(ours.W, W) < 1e-5
    assert _rel(ours.H, H) < 1e-5


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 1.5, 2.0, 3.0])
@pytest.mark.parametrize("sparse", [False, True])
def test_mu_loss_never_increases(counts, beta, sparse):
    X = counts + 0.5 if beta == 0 else counts  # Itakura–Saito needs positive data
    if sparse and beta == 0:
        pytest.skip("IS is undefined at zeros, so it has no sparse input")
    X = sp.csr_matrix(X) if sparse else X
    W0, H0 = initialize(X, 6, "random", random_state=1)
    result = mu(X, W0, H0, beta=beta, max_iter=80, tol=0)
    steps = np.diff(result.loss)
    assert np.all(steps <= 1e-9 * result.loss[0]), steps.max()
    assert result.loss[-1] < 0.9 * result.loss[0]
    assert result.loss[-1] == pytest.approx(beta_divergence(X, result.W, result.H, beta), rel=1e-9)


@pytest.mark.parametrize("sparse", [False, True])
def test_hals_loss_never_increases(counts, sparse):
    X = sp.csr_matrix(counts) if sparse else counts
    W0, H0 = initialize(X, 6, "random", random_state=2)
    result = hals(X, W0, H0, max_iter=60, tol=0)
    assert np.all(np.diff(result.loss) <= 1e-9 * result.loss[0])
    assert result.loss[-1] == pytest.approx(beta_divergence(X, result.W, result.H, 2.0), rel=1e-8)


@pytest.mark.parametrize("beta", [2.0, 1.0, 1.5])
def test_sparse_equals_dense(counts, beta):
    W0, H0 = initialize(counts, 4, "nndsvda", random_state=0)
    dense = mu(counts, W0, H0, beta=beta, max_iter=40, tol=0)
    sparse = mu(sp.csr_matrix(counts), W0, H0, beta=beta, max_iter=40, tol=0)
    np.testing.assert_allclose(sparse.W, dense.W, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(sparse.H, dense.H, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(sparse.loss, dense.loss, rtol=1e-9)


def test_hals_sparse_equals_dense(counts):
    W0, H0 = initialize(counts, 4, "nndsvda", random_state=0)
    dense = hals(counts, W0, H0, max_iter=30, tol=0)
    sparse = hals(sp.csr_matrix(counts), W0, H0, max_iter=30, tol=0)
    np.testing.assert_allclose(sparse.W, dense.W, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(sparse.H, dense.H, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("solver", ["mu", "hals"])
def test_planted_low_rank_recovered(solver):
    _, _, X = planted(seed=3)
    W0, H0 = initialize(X, 4, "nndsvda", random_state=0)
    fit = hals if solver == "hals" else (lambda *a, **kw: mu(*a, beta=2.0, **kw))
    result = fit(X, W0, H0, max_iter=1000, tol=0)
    rel_err = np.linalg.norm(X - result.W @ result.H) / np.linalg.norm(X)
    assert rel_err < 1e-2


def test_planted_low_rank_recovered_kl():
    _, _, X = planted(seed=4)
    W0, H0 = initialize(X, 4, "nndsvda", random_state=0)
    result = mu(sp.csr_matrix(X), W0, H0, beta=1.0, max_iter=1000, tol=0)
    assert np.linalg.norm(X - result.W @ result.H) / np.linalg.norm(X) < 2e-2


def test_tolerance_stops_early_and_zero_runs_all(counts):
    W0, H0 = initialize(counts, 3, "nndsvda", random_state=0)
    early = mu(counts, W0, H0, beta=1.0, max_iter=500, tol=1e-3)
    assert early.converged and early.n_iter < 500 and len(early.loss) == early.n_iter + 1
    full = mu(counts, W0, H0, beta=1.0, max_iter=37, tol=0)
    assert full.n_iter == 37 and not full.converged and len(full.loss) == 38


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_kept(counts_csr, dtype):
    X = counts_csr.astype(dtype)
    W0, H0 = initialize(X, 3, "nndsvda", random_state=0)
    assert W0.dtype == dtype and H0.dtype == dtype
    for beta in (1.0, 2.0):
        result = mu(X, W0, H0, beta=beta, max_iter=5, tol=0)
        assert result.W.dtype == dtype and result.H.dtype == dtype
    assert hals(X, W0, H0, max_iter=5, tol=0).W.dtype == dtype


def test_float32_agrees_with_float64(counts_csr):
    W0, H0 = initialize(counts_csr, 4, "nndsvda", random_state=0)
    r64 = mu(counts_csr, W0, H0, beta=1.0, max_iter=50, tol=0)
    X32 = counts_csr.astype(np.float32)
    r32 = mu(X32, W0.astype(np.float32), H0.astype(np.float32), beta=1.0, max_iter=50, tol=0)
    assert r32.loss[-1] == pytest.approx(r64.loss[-1], rel=1e-4)
