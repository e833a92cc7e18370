"""Batched independent fits (consensus replicates) equal the same fits run one by one."""

import numpy as np
import pytest
import scipy.sparse as sp

from scnmf._core._backends.select import Backend
from scnmf._core.nmf.fit import run_solver
from scnmf._core.nmf.init import initialize

SOLVERS = [("hals", 2.0), ("mu", 2.0), ("mu", 1.0), ("mu", 1.5)]
SEEDS = (1, 2, 3)
K = 4


def _starts(X):
    starts = [initialize(X, K, "random", seed) for seed in SEEDS]
    W = np.concatenate([W0 for W0, _ in starts], axis=1)
    H = np.concatenate([H0 for _, H0 in starts], axis=0)
    return starts, W, H


def _assert_batch_equals_singles(X, solver, beta, device, rtol, **kwargs):
    starts, W, H = _starts(X)
    got = run_solver(X, W, H, solver=solver, beta=beta, groups=len(SEEDS), device=device, **kwargs)
    assert got.loss.shape == (got.n_iter + 1, len(SEEDS))
    for g, (W0, H0) in enumerate(starts):
        ref = run_solver(X, W0, H0, solver=solver, beta=beta, device=device, **kwargs)
        part = slice(g * K, (g + 1) * K)
        np.testing.assert_allclose(got.W[:, part], ref.W, rtol=rtol, atol=rtol * ref.W.max())
        np.testing.assert_allclose(got.H[part], ref.H, rtol=rtol, atol=rtol * ref.H.max())
        if got.n_iter == ref.n_iter:
            np.testing.assert_allclose(got.loss[:, g], ref.loss, rtol=rtol)
    return got


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("solver,beta", SOLVERS)
def test_batch_equals_one_by_one_on_numba(counts, sparse, solver, beta):
    X = sp.csr_matrix(counts) if sparse else counts
    _assert_batch_equals_singles(X, solver, beta, "cpu", 1e-10, max_iter=30, tol=0)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("solver,beta", SOLVERS)
def test_batch_equals_one_by_one_on_torch_cpu(counts, sparse, solver, beta):
    pytest.importorskip("torch")
    X = sp.csr_matrix(counts) if sparse else counts
    _assert_batch_equals_singles(
        X, solver, beta, Backend("torch", "cpu"), 1e-10, max_iter=30, tol=0
    )


def test_batch_runs_until_every_fit_has_converged(counts):
    """The stop waits for the slowest fit: each fit's own last decrease is below tol."""
    X = sp.csr_matrix(counts)
    _, W, H = _starts(X)
    got = run_solver(X, W, H, solver="mu", beta=1.0, groups=len(SEEDS), max_iter=2000, tol=1e-5)
    assert got.converged and got.n_iter < 2000
    previous, last = got.loss[-2], got.loss[-1]
    assert np.all(previous - last <= 1e-5 * previous)
    before = got.loss[-3]
    assert np.any(before - previous > 1e-5 * before)  # one more iteration was needed by some fit


def test_batch_does_not_mix_fits(counts):
    """Changing one fit's start changes no other fit of the batch."""
    X = sp.csr_matrix(counts)
    _, W, H = _starts(X)
    base = run_solver(X, W, H, solver="hals", groups=3, max_iter=20, tol=0)
    H2 = H.copy()
    H2[:K] = np.random.default_rng(9).random((K, H.shape[1]))
    moved = run_solver(X, W, H2, solver="hals", groups=3, max_iter=20, tol=0)
    assert not np.allclose(moved.H[:K], base.H[:K])
    np.testing.assert_array_equal(moved.H[K:], base.H[K:])
    np.testing.assert_array_equal(moved.W[:, K:], base.W[:, K:])
