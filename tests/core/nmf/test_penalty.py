"""L1/L2 regularisation in the engine (alpha_W, alpha_H, l1_ratio) against scikit-learn.

Orientation as in scikit-learn: ``X`` (n × m) ≈ ``W`` (n × k) ``H`` (k × m).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from scnmf._core._backends.select import Backend
from scnmf._core.nmf import fit_nmf, run_solver
from scnmf._core.nmf.beta import beta_divergence
from scnmf._core.nmf.init import initialize
from scnmf._core.nmf.penalty import Penalty

sklearn_nmf = pytest.importorskip("sklearn.decomposition")

ALPHA_W, ALPHA_H = 0.05, 0.1


def _data(shape=(30, 20), seed=0):
    X = np.abs(np.random.default_rng(seed).standard_normal(shape))
    X[X < 0.4] = 0  # about a third zeros: the sparse paths see real structure
    X[:, 0] += 0.1
    return X


def _rel(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _objective(X, W, H, beta, penalty: Penalty) -> float:
    """scikit-learn's objective with its ½ on the L2 terms, from the definition."""
    W64, H64 = W.astype(np.float64), H.astype(np.float64)
    return (
        beta_divergence(X, W64, H64, beta)
        + penalty.W.l1 * W64.sum()
        + 0.5 * penalty.W.l2 * (W64**2).sum()
        + penalty.H.l1 * H64.sum()
        + 0.5 * penalty.H.l2 * (H64**2).sum()
    )


def _sklearn(X, W0, H0, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at a fixed iteration count
        W, H, n_iter = sklearn_nmf.non_negative_factorization(
            X, W0.copy(), H0.copy(), n_components=W0.shape[1], init="custom", **kwargs
        )
    return W, H, n_iter


# --- the weights -------------------------------------------------------------------------


@pytest.mark.parametrize("alpha_H", ["same", 0.3])
@pytest.mark.parametrize("l1_ratio", [0.0, 0.25, 1.0])
def test_weights_equal_sklearn(alpha_H, l1_ratio):
    X = _data((30, 20))
    model = sklearn_nmf.NMF(3, alpha_W=0.2, alpha_H=alpha_H, l1_ratio=l1_ratio)
    l1_W, l1_H, l2_W, l2_H = model._compute_regularization(X)
    p = Penalty.from_alpha(X.shape, 0.2, alpha_H, l1_ratio)
    np.testing.assert_allclose([p.W.l1, p.W.l2, p.H.l1, p.H.l2], [l1_W, l2_W, l1_H, l2_H])
    assert p.W.l1 + p.W.l2 == pytest.approx(20 * 0.2)  # W scales with n_features
    assert p.H.l1 + p.H.l2 == pytest.approx(30 * (0.2 if alpha_H == "same" else 0.3))


def test_no_alpha_is_no_penalty():
    X = _data()
    W0, H0 = initialize(X, 3, "random", random_state=0)
    assert not Penalty.from_alpha(X.shape, 0.0, 0.0, 0.5)
    plain = run_solver(X, W0, H0, solver="mu", beta=1.0, max_iter=20, tol=0)
    zero = run_solver(X, W0, H0, solver="mu", beta=1.0, max_iter=20, tol=0, alpha_W=0.0)
    np.testing.assert_array_equal(zero.W, plain.W)
    np.testing.assert_array_equal(zero.loss, plain.loss)


# --- MU equals scikit-learn's MU from the same start ---------------------------------------


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("l1_ratio", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("beta", [2.0, 1.0, 0.5])
def test_mu_equals_sklearn(beta, l1_ratio, sparse):
    A = _data()
    X = sp.csr_matrix(A) if sparse else A
    W0, H0 = initialize(A, 4, "random", random_state=0)
    kwargs = {"alpha_W": ALPHA_W, "alpha_H": ALPHA_H, "l1_ratio": l1_ratio}
    W_sk, H_sk, n_iter = _sklearn(
        X, W0, H0, solver="mu", beta_loss=beta, max_iter=100, tol=0, **kwargs
    )
    assert n_iter == 100
    ours = run_solver(X, W0, H0, solver="mu", beta=beta, max_iter=100, tol=0, **kwargs)
    assert _rel(ours.W, W_sk) < 1e-4 and _rel(ours.H, H_sk) < 1e-4
    # the comparison means something: the penalty moved the solution
    plain = run_solver(X, W0, H0, solver="mu", beta=beta, max_iter=100, tol=0)
    assert _rel(plain.H, H_sk) > 1e-2
    # the loss is the penalised objective of the returned factors
    p = Penalty.from_alpha(A.shape, ALPHA_W, ALPHA_H, l1_ratio)
    assert ours.loss[-1] == pytest.approx(_objective(A, ours.W, ours.H, beta, p), rel=1e-9)


@pytest.mark.parametrize("beta", [2.0, 1.0, 0.5])
def test_mu_penalised_objective_non_increasing(beta):
    X = _data((40, 25), seed=3)
    W0, H0 = initialize(X, 5, "nndsvda", random_state=0)
    res = run_solver(
        X, W0, H0, solver="mu", beta=beta, max_iter=80, tol=0, alpha_W=0.05, l1_ratio=0.5
    )
    assert np.all(np.diff(res.loss) <= 1e-10 * res.loss[0])


# --- HALS: coordinate descent on the penalised objective -------------------------------------


def _easy_problem():
    rng = np.random.default_rng(0)
    W = rng.gamma(1.0, 1.0, (60, 3))
    H = rng.gamma(1.0, 1.0, (3, 25)) * (rng.random((3, 25)) < 0.6)
    return W @ H + 0.05 * rng.random((60, 25))


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("l1_ratio", [0.0, 0.5, 1.0])
def test_hals_monotone_and_matches_sklearn_cd(l1_ratio, sparse):
    A = _easy_problem()
    X = sp.csr_matrix(A) if sparse else A
    W0, H0 = initialize(A, 3, "nndsvda", random_state=0)
    kwargs = {"alpha_W": 0.01, "alpha_H": 0.02, "l1_ratio": l1_ratio}
    res = run_solver(X, W0, H0, solver="hals", max_iter=1500, tol=0, **kwargs)
    assert np.all(np.diff(res.loss) <= 1e-10 * res.loss[0])
    p = Penalty.from_alpha(A.shape, 0.01, 0.02, l1_ratio)
    ours = _objective(A, res.W, res.H, 2.0, p)
    assert res.loss[-1] == pytest.approx(ours, rel=1e-9)
    W_sk, H_sk, _ = _sklearn(X, W0, H0, solver="cd", max_iter=5000, tol=1e-12, **kwargs)
    theirs = _objective(A, W_sk, H_sk, 2.0, p)
    assert abs(ours - theirs) <= 1e-4 * theirs
    unpenalised = beta_divergence(A, res.W, res.H, 2.0)
    assert ours - unpenalised > 1e-2 * ours  # the penalty is a real part of the objective


def test_hals_l1_and_l2_shrink_where_expected():
    X = _easy_problem()
    W0, H0 = initialize(X, 3, "nndsvda", random_state=0)
    plain = run_solver(X, W0, H0, solver="hals", max_iter=300, tol=0)
    lasso = run_solver(X, W0, H0, solver="hals", max_iter=300, tol=0, alpha_H=0.2, l1_ratio=1)
    ridge = run_solver(X, W0, H0, solver="hals", max_iter=300, tol=0, alpha_W=0.05)
    assert (lasso.H == 0).sum() > (plain.H == 0).sum()
    assert np.linalg.norm(ridge.W) ** 2 + np.linalg.norm(ridge.H) ** 2 < (
        np.linalg.norm(plain.W) ** 2 + np.linalg.norm(plain.H) ** 2
    )


# --- every backend, every path -------------------------------------------------------------

CASES = [("mu", 2.0), ("mu", 1.0), ("mu", 1.5), ("hals", 2.0)]
PENALTY = {"alpha_W": 0.02, "alpha_H": 0.05, "l1_ratio": 0.5}


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize(("solver", "beta"), CASES)
def test_torch_cpu_equals_numba(counts, sparse, solver, beta):
    pytest.importorskip("torch")
    X = sp.csr_matrix(counts) if sparse else counts
    W0, H0 = initialize(X, 4, "nndsvda", random_state=0)
    kwargs = {"solver": solver, "beta": beta, "max_iter": 30, "tol": 0, **PENALTY}
    ref = run_solver(X, W0, H0, device="cpu", **kwargs)
    got = run_solver(X, W0, H0, device=Backend("torch", "cpu"), **kwargs)
    assert _rel(got.W, ref.W) < 1e-5 and _rel(got.H, ref.H) < 1e-5
    np.testing.assert_allclose(got.loss, ref.loss, rtol=1e-5)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize(("solver", "beta"), CASES)
def test_dask_equals_in_memory(counts, sparse, solver, beta):
    """Many row blocks: the H weights must scale with all cells, the W penalty per block."""
    da = pytest.importorskip("dask.array")
    X = sp.csr_matrix(counts) if sparse else counts
    W0, H0 = initialize(X, 4, "nndsvda", random_state=0)
    kwargs = {"solver": solver, "beta": beta, "max_iter": 25, "tol": 0, **PENALTY}
    ref = run_solver(X, W0, H0, device="cpu", **kwargs)
    got = run_solver(da.from_array(X, chunks=(37, X.shape[1]), asarray=False), W0, H0, **kwargs)
    assert _rel(got.W, ref.W) < 1e-6 and _rel(got.H, ref.H) < 1e-6
    np.testing.assert_allclose(got.loss, ref.loss, rtol=1e-6)


@pytest.mark.parametrize(
    ("device", "tol", "max_iter"), [("cpu", 0.0, 60), ("cpu", 1e-4, 300), ("torch-cpu", 0.0, 20)]
)
@pytest.mark.parametrize(("solver", "beta"), CASES)
def test_batched_equals_one_by_one(counts, solver, beta, device, tol, max_iter):
    """Each fit of a batch is the fit run alone; with tol > 0 each stops at its own n_iter."""
    if device == "torch-cpu":
        pytest.importorskip("torch")
    backend = Backend("torch", "cpu") if device == "torch-cpu" else "cpu"
    X = sp.csr_matrix(counts)
    starts = [initialize(X, 4, "random", seed) for seed in (1, 2, 3)]
    W = np.concatenate([W0 for W0, _ in starts], axis=1)
    H = np.concatenate([H0 for _, H0 in starts], axis=0)
    kwargs = {"solver": solver, "beta": beta, "max_iter": max_iter, "tol": tol, "device": backend}
    got = run_solver(X, W, H, groups=3, **kwargs, **PENALTY)
    for g, (W0, H0) in enumerate(starts):
        ref = run_solver(X, W0, H0, **kwargs, **PENALTY)
        part = slice(4 * g, 4 * g + 4)
        assert _rel(got.W[:, part], ref.W) < 1e-9 and _rel(got.H[part], ref.H) < 1e-9
        assert got.extra["n_iter"][g] == ref.n_iter
        np.testing.assert_allclose(got.loss[ref.n_iter, g], ref.loss[-1], rtol=1e-9)
    if tol:  # the fits stopped apart: the per-fit stop (on the penalised loss) was exercised
        assert len(set(got.extra["n_iter"].tolist())) > 1 and got.n_iter < max_iter


# --- units, fixed factors, AGD --------------------------------------------------------------


@pytest.mark.parametrize("beta", [2.0, 1.5, 1.0])
def test_rescaled_penalty_is_the_same_problem(beta):
    """Fitting X / s with the rescaled weights gives the fit of X, W and loss scaled back.

    (β < 1 is left out: its absolute floor on tiny factor entries is not scale-invariant,
    with or without a penalty.)
    """
    X = _data()
    W0, H0 = initialize(X, 3, "random", random_state=0)
    p = Penalty.from_alpha(X.shape, 0.05, 0.1, 0.5)
    s = 1e3
    ref = run_solver(X, W0, H0, solver="mu", beta=beta, max_iter=50, tol=0, penalty=p)
    got = run_solver(
        X / s, W0 / s, H0, solver="mu", beta=beta, max_iter=50, tol=0, penalty=p.rescaled(s, beta)
    )
    np.testing.assert_allclose(got.W * s, ref.W, rtol=1e-9, atol=1e-12 * ref.W.max())
    np.testing.assert_allclose(got.H, ref.H, rtol=1e-9, atol=1e-12 * ref.H.max())
    np.testing.assert_allclose(got.loss * s**beta, ref.loss, rtol=1e-9)


@pytest.mark.parametrize("solver", ["mu", "hals"])
def test_fixed_H_leaves_its_constant_penalty_out(solver):
    X = _data()
    W0, H0 = initialize(X, 3, "random", random_state=0)
    res = run_solver(X, W0, H0, solver=solver, update_H=False, max_iter=30, tol=0, **PENALTY)
    np.testing.assert_array_equal(res.H, H0)
    W_only = Penalty.from_alpha(X.shape, **PENALTY).only_W()
    expected = beta_divergence(X, res.W, res.H, 2.0) + W_only.W.value(res.W)
    assert res.loss[-1] == pytest.approx(expected, rel=1e-9)
    assert np.all(np.diff(res.loss) <= 1e-12 * res.loss[0])


def test_agd_refuses_a_penalty():
    with pytest.raises(ValueError, match="solver='agd'"):
        fit_nmf(_data(), 3, solver="agd", alpha_W=0.1, max_iter=2)


def test_penalty_and_alpha_together_refused():
    X = _data()
    W0, H0 = initialize(X, 3, "random", random_state=0)
    with pytest.raises(ValueError, match="not both"):
        run_solver(X, W0, H0, penalty=Penalty.from_alpha(X.shape, 0.1), alpha_W=0.1)
