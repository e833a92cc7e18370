"""``fit_activities``: the W step alone, with the programs fixed, on every backend."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from scnmf._core._backends.select import Backend
from scnmf._core.nmf import fixed
from scnmf._core.nmf.fixed import fit_activities, fixed_solver, start_activities


def _planted(n=90, m=40, k=3, seed=5):
    rng = np.random.default_rng(seed)
    H = rng.gamma(1.0, 1.0, (k, m)) * (rng.random((k, m)) < 0.6)
    H[np.arange(k), np.arange(k)] += 1.0  # no zero program, full row rank
    W = rng.gamma(1.0, 3.0, (n, k))
    return W, H, W @ H


def _as(kind, X, rows=25):
    if kind == "dense":
        return X
    if kind == "csr":
        return sp.csr_matrix(X)
    da = pytest.importorskip("dask.array")
    block = sp.csr_matrix(X) if kind == "dask_csr" else X
    return da.from_array(block, chunks=(rows, X.shape[1]), asarray=False)


def _relative(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("kind", ["dense", "csr", "dask", "dask_csr"])
@pytest.mark.parametrize("beta", [2.0, 1.0])
def test_recovers_planted_activities(kind, beta):
    W, H, X = _planted()
    fit = fit_activities(_as(kind, X), H, beta=beta, max_iter=2000, tol=1e-8, device="cpu")
    assert fit.W.dtype == np.float64 and fit.W.shape == W.shape and (fit.W >= 0).all()
    assert _relative(fit.W, W) < 1e-2
    assert fit.backend == ("dask" if kind.startswith("dask") else "cpu")
    assert fit.loss.shape == (fit.n_iter + 1,) and fit.converged
    assert np.all(np.diff(fit.loss) <= 1e-9 * fit.loss[0])  # the W step never raises the loss


@pytest.mark.parametrize("beta", [2.0, 1.0])
def test_dask_and_torch_equal_in_memory(beta):
    """Same start, same steps: every backend gives the same activities and iterations."""
    W, H, X = _planted(seed=2)
    # noisy counts: an exact fit drives the loss to round-off, where the stop is a coin toss
    X = np.random.default_rng(2).poisson(X).astype(np.float32)
    Xs = sp.csr_matrix(X)
    ref = fit_activities(Xs, H, beta=beta, max_iter=300, tol=1e-6, device="cpu")
    got = fit_activities(_as("dask_csr", Xs.toarray()), H, beta=beta, max_iter=300, tol=1e-6)
    assert got.n_iter == ref.n_iter and _relative(got.W, ref.W) < 1e-5
    pytest.importorskip("torch")
    got = fit_activities(Xs, H, beta=beta, max_iter=300, tol=1e-6, device=Backend("torch", "cpu"))
    assert got.backend == "cpu" and _relative(got.W, ref.W) < 1e-4


def test_programs_stay_fixed_and_inputs_untouched():
    W, H, X = _planted()
    H_before, X_before = H.copy(), X.copy()
    fit_activities(X, H, beta=1.0, max_iter=20, tol=0, device="cpu")
    np.testing.assert_array_equal(H, H_before)
    np.testing.assert_array_equal(X, X_before)


def test_tol_zero_runs_exactly_max_iter():
    _, H, X = _planted()
    fit = fit_activities(X, H, beta=1.0, max_iter=7, tol=0, device="cpu")
    assert fit.n_iter == 7 and not fit.converged and fit.loss.size == 8


def test_start_is_the_least_squares_constant():
    """c minimises ‖X − c·1·1ᵀS‖² over c: the data's scale whatever the programs' norm."""
    _, H, X = _planted()
    for S in (H, 1e-3 * H, H / H.sum(axis=1, keepdims=True)):
        start = start_activities(X, S)
        c = start[0, 0]
        assert start.shape == (X.shape[0], S.shape[0]) and np.all(start == c) and c > 0
        profile = np.ones((X.shape[0], S.shape[0])) @ S
        assert np.isclose(c, np.sum(X * profile) / np.sum(profile * profile))
    assert np.all(start_activities(np.zeros_like(X), H) == 1.0)  # no data: a positive start


@pytest.mark.parametrize(
    ("solver", "beta", "expected"),
    [("auto", 2.0, "hals"), ("auto", 1.0, "mu"), ("agd", 2.0, "hals"), ("mu", 2.0, "mu")],
)
def test_solver_choice_and_update_H_off(monkeypatch, solver, beta, expected):
    """What ``refit_usage`` (consensus) and ``tl.project`` run: one call, H never updated."""
    from scnmf._core.consensus.refit import refit_usage

    assert fixed_solver(solver, beta) == expected
    calls = []
    real = fixed.run_solver

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(fixed, "run_solver", spy)
    _, H, X = _planted()
    refit_usage(X, H, beta=beta, solver=solver, max_iter=5, tol=0, device="cpu")
    assert len(calls) == 1 and calls[0]["solver"] == expected and calls[0]["update_H"] is False


def test_penalty_shrinks_the_activities_and_is_in_the_loss():
    from scnmf._core.nmf.penalty import Penalty

    _, H, X = _planted()
    plain = fit_activities(X, H, beta=2.0, max_iter=500, tol=1e-9, device="cpu")
    lasso = Penalty.from_alpha(X.shape, alpha_W=0.5, alpha_H=0.0, l1_ratio=1.0)
    for solver in ("hals", "mu"):
        fit = fit_activities(
            X, H, beta=2.0, solver=solver, max_iter=3000, tol=1e-10, device="cpu", penalty=lasso
        )
        assert fit.W.sum() < 0.99 * plain.W.sum()
        assert np.count_nonzero(fit.W < 1e-8) > np.count_nonzero(plain.W < 1e-8)
        half_sq = 0.5 * np.sum((X - fit.W @ H) ** 2)
        np.testing.assert_allclose(fit.loss[-1], half_sq + lasso.W.l1 * fit.W.sum(), rtol=1e-6)


def test_callback_sees_every_loss():
    _, H, X = _planted()
    seen = []
    fit = fit_activities(
        X, H, beta=2.0, max_iter=5, tol=0, device="cpu", callback=lambda i, loss: seen.append(i)
    )
    assert seen == list(range(fit.n_iter + 1))
