"""scikit-learn 1.9.x ``decomposition/tests/test_nmf.py``, ported onto scnmf as a checklist.

Each property of scikit-learn's NMF tests is restated here for scnmf's solvers (written anew,
not copied). scikit-learn's ``cd`` solver corresponds to scnmf's ``hals`` (both are
coordinate descent on the Frobenius loss), ``mu`` to ``mu``. Orientation is the same:
``X`` (n × m) ≈ ``W`` (n × k) ``H`` (k × m).

Checklist (scikit-learn test → here):

========================================  =====================================================
test_initialize_nn_output                  test_init_nonnegative_with_shapes
test_initialize_close                      test_nndsvd_start_closer_than_the_mean
test_initialize_variants                   test_nndsvd_variants_differ_only_at_zeros
test_parameter_checking                    test_negative_data_rejected, test_hals_needs_frobenius,
                                           test_init_rank_above_min_shape_rejected,
                                           test_n_components_above_n_features_rejected
test_nmf_fit_nn_output                     test_fit_nonnegative (with alpha_W/alpha_H)
test_nmf_fit_close                         test_fit_close
test_nmf_true_reconstruction               test_exact_reconstruction_kl
test_nmf_transform / _sparse_transform     test_transform_with_fixed_H
test_nmf_transform_custom_init             test_custom_init_is_used
test_nmf_inverse_transform                 test_full_rank_reconstruction
test_n_components_greater_n_features       test_n_components_above_n_features_rejected (difference)
test_nmf_sparse_input                      test_dense_and_sparse_fits_equal (with alpha),
                                           test_sparse_containers_accepted_by_tl
test_non_negative_factorization_consist.   test_core_and_tl_agree (with alpha)
test_non_negative_factorization_checking   test_custom_factor_checks,
                                           test_custom_factor_all_zero_rejected
test_beta_divergence                       test_beta_divergence_equals_definition
test_special_sparse_dot                    test_special_sparse_dot_not_applicable (internal: skip)
test_nmf_multiplicative_update_sparse      test_mu_dense_sparse_and_continuity_in_beta (alpha)
test_nmf_negative_beta_loss                test_itakura_saito_on_zeros_rejected,
                                           test_mu_no_nan_with_zeros
test_minibatch_* (5 tests)                 test_minibatch_not_applicable (skip)
test_nmf_regularization                    test_regularization_shrinks_factors
test_nmf_decreasing                        test_objective_decreases_step_by_step,
                                           test_penalised_objective_decreases_step_by_step
test_nmf_underflow                         test_kl_underflow
test_nmf_dtype_match                       test_dtype_kept (with alpha),
                                           test_integer_counts_become_float32
test_nmf_float32_float64_consistency       test_float32_float64_agree
test_nmf_custom_init_dtype_error           test_custom_init_cast_to_data_dtype (difference)
test_feature_names_out                     test_feature_names_not_applicable (skip)
test_nmf_n_components_auto (3 tests)       test_n_components_auto_rejected (difference)
test_nmf_w_h_not_used_warning              test_init_factors_ignored_are_reported
test_nmf_custom_init_shape_error           test_custom_factor_checks
test_nmf_smoke                             test_smoke_tall_and_wide
test_convergence_warning                   test_max_iter_reached_is_recorded (difference)
(brief) loss non-increasing                test_loss_history_non_increasing
(brief) update_H=False decreases           test_fixed_H_objective_decreases
(brief) zero rows / columns                test_zero_rows_and_columns
(brief) small values stay finite           test_mu_small_values_stay_finite,
                                           test_tl_scale_equivariance
(brief) random_state determinism           test_random_state_determinism,
                                           test_random_state_objects_accepted
(brief) non-canonical CSR                  test_noncanonical_csr_fits_like_dense
(brief) float32 HALS near-exact fit        test_float32_hals_does_not_stop_on_rounding
========================================  =====================================================

Deliberate differences (documented at each test): β < 0 is not supported (scnmf accepts
β ≥ 0); there is no ``n_components='auto'``; a rank above min(n, m) is refused rather than
fitted with a random start; custom factors are cast to X's dtype rather than refused;
integer counts become float32 (scanpy's convention) rather than float64; reaching
``max_iter`` is recorded in ``uns[key]['converged']`` rather than warned about; there is no
mini-batch solver. Regularisation (``alpha_W``, ``alpha_H``, ``l1_ratio``) has scikit-learn's
semantics; its MU equals scikit-learn's from the same start (tests/core/nmf/test_penalty.py).
"""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

import scnmf as snmf
from scnmf._core.nmf import fit_nmf, hals, mu, run_solver
from scnmf._core.nmf.beta import beta_divergence
from scnmf._core.nmf.init import initialize

INITS = ("nndsvd", "nndsvda", "nndsvdar", "random")
SOLVERS = ("mu", "hals")


def _abs_normal(shape, seed=42):
    return np.abs(np.random.default_rng(seed).standard_normal(shape))


def _clipped_normal(shape, seed=42):
    return np.clip(np.random.default_rng(seed).standard_normal(shape), 0, None)


def _direct_divergence(X, W, H, beta):
    """D_β(X | WH) entry by entry from the definition (β = 0: X > 0 required)."""
    X = np.asarray(X, dtype=np.float64)
    Y = W.astype(np.float64) @ H.astype(np.float64)
    total = 0.0
    for x, y in zip(X.ravel(), Y.ravel(), strict=True):
        if beta == 2:
            total += 0.5 * (x - y) ** 2
        elif beta == 1:
            total += (x * np.log(x / y) if x > 0 else 0.0) - x + y
        elif beta == 0:
            total += x / y - np.log(x / y) - 1
        else:
            total += (x**beta + (beta - 1) * y**beta - beta * x * y ** (beta - 1)) / (
                beta * (beta - 1)
            )
    return total


def _adata(X):
    return ad.AnnData(X)


# --- initialisation --------------------------------------------------------------------------


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("init", INITS)
def test_init_nonnegative_with_shapes(init, sparse):
    A = _abs_normal((10, 12))
    X = sp.csr_matrix(A) if sparse else A
    for k in (1, 4, 10):
        W, H = initialize(X, k, init, random_state=0)
        assert W.shape == (10, k) and H.shape == (k, 12)
        assert np.isfinite(W).all() and np.isfinite(H).all()
        assert W.min() >= 0 and H.min() >= 0


def test_nndsvd_start_closer_than_the_mean():
    A = _abs_normal((10, 10))
    W, H = initialize(A, 10, "nndsvd", random_state=0)
    assert np.linalg.norm(W @ H - A) <= np.linalg.norm(A - A.mean())


def test_nndsvd_variants_differ_only_at_zeros():
    A = _abs_normal((10, 10))
    W0, H0 = initialize(A, 10, "nndsvd", random_state=0)
    for init in ("nndsvda", "nndsvdar"):
        W, H = initialize(A, 10, init, random_state=0)
        np.testing.assert_allclose(W[W0 != 0], W0[W0 != 0])
        np.testing.assert_allclose(H[H0 != 0], H0[H0 != 0])


@pytest.mark.parametrize("init", ("nndsvd", "nndsvda", "nndsvdar"))
def test_init_rank_above_min_shape_rejected(init):
    with pytest.raises(ValueError, match="n_components"):
        initialize(np.ones((2, 2)), 3, init)


# --- parameter checks through the public API ---------------------------------------------


def test_negative_data_rejected():
    adata = _adata(-np.ones((4, 3)))
    with pytest.raises(ValueError, match="negative values.*nonnegative"):
        snmf.tl.nmf(adata, 2)
    assert "X_nmf" not in adata.obsm


def test_hals_needs_frobenius():
    with pytest.raises(ValueError, match="solver='mu'"):
        snmf.tl.nmf(_adata(np.ones((4, 3))), 2, solver="hals", beta_loss="kullback-leibler")


@pytest.mark.parametrize("init", INITS)
def test_n_components_above_n_features_rejected(init):
    """Deliberate difference: scikit-learn fits k > n_features (random start); scnmf refuses.

    A rank above min(n_cells, n_genes) cannot be reached by NNDSVD and gives programs that
    are linear combinations of the others; ``tl.nmf`` says so before any work.
    """
    adata = _adata(_abs_normal((30, 10)))
    with pytest.raises(ValueError, match=r"n_components.*1 … 10"):
        snmf.tl.nmf(adata, 15, init=init)
    assert "X_nmf" not in adata.obsm


def test_n_components_auto_rejected():
    """Deliberate difference: no ``n_components='auto'`` (a rank is always given)."""
    with pytest.raises(ValueError, match="n_components"):
        snmf.tl.nmf(_adata(np.ones((6, 5))), "auto")


# --- fits ------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha_H", [0.0, 1.0, "same"])
@pytest.mark.parametrize("alpha_W", [0.0, 1.0])
@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_fit_nonnegative(solver, init, alpha_W, alpha_H):
    A = np.c_[5.0 - np.arange(1, 6), 5.0 + np.arange(1, 6)]
    res = fit_nmf(
        A, 2, solver=solver, init=init, random_state=0, alpha_W=alpha_W, alpha_H=alpha_H
    ).result
    assert res.W.min() >= 0 and res.H.min() >= 0
    assert np.isfinite(res.W).all() and np.isfinite(res.H).all()


@pytest.mark.parametrize("solver", SOLVERS)
def test_fit_close(solver):
    X = _abs_normal((6, 5))
    res = fit_nmf(X, 5, solver=solver, init="nndsvdar", random_state=0, max_iter=600).result
    assert np.linalg.norm(X - res.W @ res.H) < 0.1


def test_exact_reconstruction_kl():
    n, m, k = 15, 10, 5
    rng = np.random.default_rng(42)
    W_true = np.zeros((n, k))
    H_true = np.zeros((k, m))
    w, h = np.abs(rng.standard_normal(n)) + 0.1, np.abs(rng.standard_normal(k)) + 0.1
    for j in range(k):
        W_true[j, j] = w[j]
    for j in range(m):
        H_true[j % k, j] = h[j % k]
    X = W_true @ H_true
    res = fit_nmf(X, k, beta=1.0, solver="mu", max_iter=1000, random_state=0).result
    assert res.loss[-1] < 0.1
    np.testing.assert_allclose(res.W @ res.H, X, atol=1e-2)


@pytest.mark.parametrize("solver", SOLVERS)
def test_full_rank_reconstruction(solver):
    A = _abs_normal((6, 4), seed=0)
    res = fit_nmf(A, 4, solver=solver, init="random", random_state=0, max_iter=1000).result
    np.testing.assert_allclose(res.W @ res.H, A, atol=1e-2)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("solver", SOLVERS)
def test_transform_with_fixed_H(solver, sparse):
    """fit then 'transform' (W solved with H fixed) gives about the fitted W."""
    A = _abs_normal((6, 5))
    if sparse:
        A[1, 1] = 0
    X = sp.csr_matrix(A) if sparse else A
    fit = fit_nmf(X, 3, solver=solver, init="random", random_state=0, tol=1e-6, max_iter=2000)
    W_start, _ = initialize(A, 3, "random", random_state=1)
    again = run_solver(
        X, W_start, fit.result.H, solver=solver, update_H=False, tol=1e-8, max_iter=2000
    )
    np.testing.assert_array_equal(again.H, fit.result.H)
    np.testing.assert_allclose(again.W, fit.result.W, atol=1e-1)


@pytest.mark.parametrize("solver", SOLVERS)
def test_fixed_H_objective_decreases(solver):
    X = _abs_normal((20, 15))
    W0, H0 = initialize(X, 5, "random", random_state=3)
    res = run_solver(X, W0, H0, solver=solver, update_H=False, tol=0, max_iter=30)
    assert np.all(np.diff(res.loss) <= 1e-12 * res.loss[0])
    assert res.loss[-1] < res.loss[0]
    np.testing.assert_array_equal(res.H, H0)


@pytest.mark.parametrize("solver", SOLVERS)
def test_custom_init_is_used(solver):
    A = _abs_normal((6, 5), seed=0)
    rng = np.random.default_rng(0)
    avg = np.sqrt(A.mean() / 4)
    W0, H0 = np.abs(avg * rng.standard_normal((6, 4))), np.abs(avg * rng.standard_normal((4, 5)))
    res = fit_nmf(A, 4, solver=solver, init="custom", W=W0, H=H0, max_iter=1, tol=0).result
    expected = run_solver(A, W0, H0, solver=solver, max_iter=1, tol=0)
    np.testing.assert_array_equal(res.W, expected.W)
    assert res.loss[0] == pytest.approx(beta_divergence(A, W0, H0, 2.0), rel=1e-10)


def test_custom_factor_checks():
    X = np.ones((6, 5))
    ok_W, ok_H = np.ones((6, 2)), np.ones((2, 5))
    with pytest.raises(ValueError, match="nonnegative"):
        initialize(X, 2, "custom", W=-ok_W, H=ok_H)
    with pytest.raises(ValueError, match="nonnegative"):
        initialize(X, 2, "custom", W=ok_W, H=-ok_H)
    with pytest.raises(ValueError, match=r"expected \(6, 2\)"):
        initialize(X, 2, "custom", W=np.ones((5, 2)), H=ok_H)
    with pytest.raises(ValueError, match=r"expected \(6, 2\) and \(2, 5\)"):
        initialize(X, 2, "custom", W=ok_W, H=np.ones((3, 5)))
    with pytest.raises(ValueError, match="shape"):
        snmf.tl.nmf(_adata(X), 2, init="custom", init_W=np.ones((5, 2)), init_H=ok_H)


@pytest.mark.parametrize("which", ["W", "H"])
def test_custom_factor_all_zero_rejected(which):
    X = _abs_normal((6, 5))
    W, H = np.ones((6, 2)), np.ones((2, 5))
    factors = {"init_W": 0 * W if which == "W" else W, "init_H": 0 * H if which == "H" else H}
    adata = _adata(X)
    with pytest.raises(ValueError, match="zero"):
        snmf.tl.nmf(adata, 2, init="custom", **factors)
    assert "X_nmf" not in adata.obsm


def test_init_factors_ignored_are_reported():
    """scikit-learn warns when W/H are given without init='custom'; scnmf must not ignore them
    silently (a warning or an error naming init='custom' both satisfy this)."""
    adata = _adata(_abs_normal((6, 5)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            snmf.tl.nmf(adata, 2, init="nndsvda", init_W=np.ones((6, 2)), init_H=np.ones((2, 5)))
        except ValueError as err:
            assert "custom" in str(err)
            return
    assert any("custom" in str(w.message) for w in caught)


def test_custom_init_cast_to_data_dtype():
    """Deliberate difference: scikit-learn raises TypeError when custom W/H have another
    dtype than X; scnmf casts them to X's dtype (the factors are copied anyway)."""
    X = np.random.default_rng(0).random((20, 15))
    W, H = np.random.default_rng(1).random((20, 4)), np.random.default_rng(2).random((4, 15))
    res = fit_nmf(X, 4, init="custom", W=W.astype(np.float32), H=H, max_iter=5).result
    assert res.W.dtype == np.float64 and res.H.dtype == np.float64


@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("shape", [(30, 10), (10, 30)], ids=["tall", "wide"])
@pytest.mark.parametrize("solver", SOLVERS)
def test_smoke_tall_and_wide(solver, shape, init):
    X = np.random.default_rng(0).random(shape)
    res = fit_nmf(X, 5, solver=solver, init=init, random_state=0, max_iter=50).result
    assert res.W.shape == (shape[0], 5) and res.H.shape == (5, shape[1])


# --- dense vs sparse, dtypes -----------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 0.5])
@pytest.mark.parametrize(("solver", "beta"), [("mu", 2.0), ("mu", 1.0), ("mu", 0.5), ("hals", 2.0)])
def test_dense_and_sparse_fits_equal(solver, beta, alpha):
    A = _abs_normal((10, 10))
    A[:, 2 * np.arange(5)] = 0
    W0, H0 = initialize(A, 5, "random", random_state=0)
    kwargs = {"solver": solver, "beta": beta, "tol": 0, "max_iter": 100, "device": "cpu"}
    kwargs.update(alpha_W=alpha, l1_ratio=0.5)
    dense = run_solver(A, W0, H0, **kwargs)
    sparse = run_solver(sp.csr_matrix(A), W0, H0, **kwargs)
    np.testing.assert_allclose(sparse.W, dense.W, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(sparse.H, dense.H, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(sparse.loss, dense.loss, rtol=1e-9)


@pytest.mark.parametrize(
    "container",
    [sp.csr_matrix, sp.csc_matrix, sp.csr_array, sp.csc_array],
    ids=lambda c: c.__name__,
)
@pytest.mark.parametrize("solver", SOLVERS)
def test_sparse_containers_accepted_by_tl(solver, container):
    """The core takes CSR; ``tl`` accepts CSR/CSC matrices and arrays and fits them like dense."""
    A = _abs_normal((10, 10))
    A[:, 2 * np.arange(5)] = 0
    dense, sparse = _adata(A.copy()), _adata(container(A))
    kwargs = {"solver": solver, "init": "random", "tol": 0, "max_iter": 100}
    snmf.tl.nmf(dense, 5, **kwargs)
    snmf.tl.nmf(sparse, 5, **kwargs)
    np.testing.assert_allclose(sparse.obsm["X_nmf"], dense.obsm["X_nmf"], rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(
        sparse.varm["nmf_loadings"], dense.varm["nmf_loadings"], rtol=1e-7, atol=1e-10
    )


@pytest.mark.parametrize(
    "penalty", [{}, {"alpha_W": 0.5, "alpha_H": "same"}, {"alpha_W": 0.0, "alpha_H": 0.5}]
)
def test_core_and_tl_agree(penalty):
    """The function (core) and the public API give the same factors."""
    A = _abs_normal((10, 10))
    A[:, 2 * np.arange(5)] = 0
    for solver in SOLVERS:
        for init in ("random", "nndsvd"):
            adata = _adata(A.copy())
            kwargs = {"solver": solver, "init": init, "random_state": 1, "tol": 1e-2, **penalty}
            snmf.tl.nmf(adata, 3, **kwargs)
            core = fit_nmf(A, 3, **kwargs).result
            np.testing.assert_allclose(adata.obsm["X_nmf"], core.W, rtol=1e-12)
            np.testing.assert_allclose(adata.varm["nmf_loadings"], core.H.T, rtol=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", SOLVERS)
def test_dtype_kept(solver, dtype, alpha):
    X = _abs_normal((20, 15), seed=0).astype(dtype)
    res = fit_nmf(X, 4, solver=solver, tol=1e-2, alpha_W=alpha).result
    assert res.W.dtype == dtype and res.H.dtype == dtype
    adata = _adata(X)
    snmf.tl.nmf(adata, 4, solver=solver, tol=1e-2, alpha_W=alpha)
    assert adata.obsm["X_nmf"].dtype == dtype
    assert adata.varm["nmf_loadings"].dtype == dtype


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_counts_become_float32(dtype):
    """Deliberate difference: scikit-learn fits integers in float64; scnmf (like scanpy's
    count matrices) fits them in float32, half the memory."""
    adata = _adata((_abs_normal((20, 15), seed=0) * 3).astype(dtype))
    snmf.tl.nmf(adata, 3, tol=1e-2)
    assert adata.obsm["X_nmf"].dtype == np.float32
    assert adata.X.dtype == dtype


@pytest.mark.parametrize("solver", SOLVERS)
def test_float32_float64_agree(solver):
    X = _abs_normal((50, 7), seed=0)
    W32 = fit_nmf(X.astype(np.float32), 5, solver=solver, tol=1e-3).result.W
    W64 = fit_nmf(X, 5, solver=solver, tol=1e-3).result.W
    np.testing.assert_allclose(W32, W64, atol=1e-5)


def test_float32_hals_does_not_stop_on_rounding():
    rng = np.random.default_rng(0)
    W = rng.gamma(1.0, 1.0, (300, 4))
    H = rng.gamma(1.0, 1.0, (4, 60)) * (rng.random((4, 60)) < 0.6)
    X = W @ H + 1e-3 * rng.random((300, 60))
    r32 = fit_nmf(X.astype(np.float32), 4, solver="hals", tol=1e-4, max_iter=500).result
    r64 = fit_nmf(X, 4, solver="hals", tol=1e-4, max_iter=500).result
    true32 = beta_divergence(X, r32.W.astype(np.float64), r32.H.astype(np.float64), 2.0)
    assert true32 <= 10 * r64.loss[-1]


# --- β-divergence ----------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 1.5, 2.0, 3.0])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_beta_divergence_equals_definition(beta, sparse):
    """Deliberate difference at β = 0: Itakura–Saito is undefined where X = 0 (scikit-learn
    drops those entries); it is compared on strictly positive data here, and ``tl`` refuses
    zeros for β = 0 (test_itakura_saito_on_zeros_rejected)."""
    A = _clipped_normal((20, 10))
    if beta == 0:
        A = A + 0.1
    W, H = initialize(A, 5, "random", random_state=42)
    X = sp.csr_matrix(A) if sparse else A
    assert beta_divergence(X, W, H, beta) == pytest.approx(
        _direct_divergence(A, W, H, beta), rel=1e-10
    )


def _noncanonical(A: np.ndarray, kind: str) -> sp.csr_matrix:
    """A CSR of A storing every zero explicitly, or with every entry split into two."""
    n, m = A.shape
    if kind == "explicit_zeros":
        indices, indptr = np.tile(np.arange(m), n), np.arange(0, n * m + 1, m)
        return sp.csr_matrix((A.ravel().copy(), indices, indptr), shape=A.shape)
    coo = sp.csr_matrix(A).tocoo()
    order = np.argsort(np.r_[coo.row, coo.row], kind="stable")
    rows = np.r_[coo.row, coo.row][order]
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=n))]
    data, cols = np.r_[coo.data, coo.data][order] / 2, np.r_[coo.col, coo.col][order]
    return sp.csr_matrix((data, cols, indptr), shape=A.shape)


@pytest.mark.parametrize("beta", [1.0, 1.5, 2.0])
@pytest.mark.parametrize("kind", ["explicit_zeros", "duplicates"])
def test_noncanonical_csr_fits_like_dense(kind, beta):
    """A CSR with stored zeros or duplicate entries is the matrix it represents: ``tl.nmf``
    fits it exactly like the dense matrix (and leaves the caller's arrays alone). The core
    takes canonical CSR; ``tl`` canonicalises a copy."""
    A = _clipped_normal((20, 10)) * 3
    A[:, 0] += 1
    X = _noncanonical(A, kind)
    np.testing.assert_array_equal(X.toarray(), A)
    assert (X.data == 0).any() if kind == "explicit_zeros" else not X.has_canonical_format
    arrays = (X.data.copy(), X.indices.copy(), X.indptr.copy())
    dense, sparse = _adata(A.copy()), _adata(X)
    kwargs = {"beta_loss": beta, "solver": "mu", "init": "random", "max_iter": 20, "tol": 0}
    snmf.tl.nmf(dense, 3, **kwargs)
    snmf.tl.nmf(sparse, 3, **kwargs)
    np.testing.assert_allclose(sparse.uns["nmf"]["loss"], dense.uns["nmf"]["loss"], rtol=1e-9)
    np.testing.assert_allclose(sparse.obsm["X_nmf"], dense.obsm["X_nmf"], rtol=1e-7, atol=1e-12)
    for before, after in zip(arrays, (X.data, X.indices, X.indptr), strict=True):
        np.testing.assert_array_equal(after, before)


def test_special_sparse_dot_not_applicable():
    pytest.skip(
        "deliberate difference: scikit-learn's _special_sparse_dot is an internal helper; "
        "scnmf's sparse kernels are covered by test_dense_and_sparse_fits_equal and "
        "test_backend_consistency.py"
    )


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_kl_underflow(sparse):
    rng = np.random.default_rng(0)
    X = np.abs(rng.standard_normal((10, 2))) * 10
    W = np.abs(rng.standard_normal((10, 2))) * 10
    H = np.abs(rng.standard_normal((2, 2)))
    X[0, 0] = 0
    reference = beta_divergence(X, W, H, 1.0)
    X[0, 0] = 1e-323
    value = beta_divergence(sp.csr_matrix(X) if sparse else X, W, H, 1.0)
    assert np.isfinite(value) and value >= 0
    assert value == pytest.approx(reference, rel=1e-10)


# --- MU with special β and data ----------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 0.1])
@pytest.mark.parametrize("beta", [0.0, 0.2, 1.0, 2.0, 2.5])
def test_mu_dense_sparse_and_continuity_in_beta(beta, alpha):
    """Deliberate difference: scikit-learn also runs β = −1.2; scnmf accepts β ≥ 0 only.
    (scikit-learn runs this with alpha_W=0.1, l1_ratio=0.5; both are checked here.)"""
    X = _abs_normal((20, 10), seed=1337)
    W0, H0 = initialize(X, 5, "random", random_state=42)
    reg = {"alpha_W": alpha, "l1_ratio": 0.5}
    dense = mu(X, W0, H0, beta=beta, max_iter=20, tol=0, **reg)
    sparse = mu(sp.csr_matrix(X), W0, H0, beta=beta, max_iter=20, tol=0, **reg)
    np.testing.assert_allclose(sparse.W, dense.W, atol=1e-7)
    np.testing.assert_allclose(sparse.H, dense.H, atol=1e-7)
    nearby = mu(sp.csr_matrix(X), W0, H0, beta=beta - 1e-5, max_iter=20, tol=0, **reg)
    np.testing.assert_allclose(nearby.W, dense.W, atol=1e-4)
    np.testing.assert_allclose(nearby.H, dense.H, atol=1e-4)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_itakura_saito_on_zeros_rejected(sparse):
    A = _clipped_normal((6, 5))
    adata = _adata(sp.csr_matrix(A) if sparse else A)
    with pytest.raises(ValueError, match="zeros.*(β > 0|pseudo-count)"):
        snmf.tl.nmf(adata, 3, beta_loss="itakura-saito")
    assert "X_nmf" not in adata.obsm and "nmf" not in adata.uns
    positive = _adata(A + 1e-9)
    snmf.tl.nmf(positive, 3, beta_loss=0.0, init="random", max_iter=1000)
    assert np.isfinite(positive.obsm["X_nmf"]).all()
    assert np.isfinite(positive.varm["nmf_loadings"]).all()


@pytest.mark.parametrize("beta", [0.2, 1.0, 1.2, 2.0, 2.5])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_mu_no_nan_with_zeros(beta, sparse):
    A = _clipped_normal((6, 5))
    X = sp.csr_matrix(A) if sparse else A
    res = fit_nmf(X, 3, beta=beta, solver="mu", init="random", random_state=0, max_iter=1000)
    assert np.isfinite(res.result.W).all() and np.isfinite(res.result.H).all()
    assert np.isfinite(res.result.loss).all()


@pytest.mark.parametrize(
    ("solver", "beta"),
    [("mu", 0.0), ("mu", 0.2), ("mu", 1.0), ("mu", 2.0), ("mu", 2.5), ("hals", 2.0)],
)
def test_objective_decreases_step_by_step(solver, beta):
    """One iteration at a time from the previous factors, the true objective falls strictly."""
    X = _abs_normal((20, 15))
    W, H = initialize(X, 10, "random", random_state=42)
    previous = beta_divergence(X, W, H, beta)
    for _ in range(30):
        step = run_solver(X, W, H, solver=solver, beta=beta, max_iter=1, tol=0)
        W, H = step.W, step.H
        loss = beta_divergence(X, W, H, beta)
        assert loss < previous
        previous = loss


@pytest.mark.parametrize(
    ("solver", "beta"),
    [("mu", 0.0), ("mu", 0.2), ("mu", 1.0), ("mu", 2.0), ("mu", 2.5), ("hals", 2.0)],
)
def test_penalised_objective_decreases_step_by_step(solver, beta):
    """scikit-learn's test_nmf_decreasing (alpha_W = 0.1, l1_ratio = 0.5): one iteration at a
    time, the penalised objective falls strictly (with its ½ on the L2 terms, the objective
    both solvers minimise; scikit-learn's test drops the ½)."""
    X = _abs_normal((20, 15))
    n, m = X.shape
    alpha, l1_ratio = 0.1, 0.5

    def objective(W, H):
        return (
            beta_divergence(X, W, H, beta)
            + alpha * l1_ratio * (m * W.sum() + n * H.sum())
            + 0.5 * alpha * (1 - l1_ratio) * (m * (W**2).sum() + n * (H**2).sum())
        )

    W, H = initialize(X, 10, "random", random_state=42)
    previous = objective(W, H)
    for _ in range(30):
        step = run_solver(
            X, W, H, solver=solver, beta=beta, max_iter=1, tol=0, alpha_W=alpha, l1_ratio=l1_ratio
        )
        W, H = step.W, step.H
        loss = objective(W, H)
        assert loss < previous
        assert step.loss[-1] == pytest.approx(loss, rel=1e-9)
        previous = loss


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize(
    ("solver", "beta"),
    [("mu", 0.5), ("mu", 1.0), ("mu", 1.5), ("mu", 2.0), ("mu", 3.0), ("hals", 2.0)],
)
def test_loss_history_non_increasing(solver, beta, sparse):
    A = _clipped_normal((40, 25), seed=7) * 3
    A[:, 0] += 0.5
    X = sp.csr_matrix(A) if sparse else A
    W0, H0 = initialize(A, 4, "nndsvda", random_state=0)
    res = run_solver(X, W0, H0, solver=solver, beta=beta, max_iter=60, tol=0)
    assert np.isfinite(res.loss).all() and res.loss.size == 61
    assert np.all(np.diff(res.loss) <= 1e-10 * res.loss[0])
    # the history's last entry is the loss of the returned factors
    assert res.loss[-1] == pytest.approx(beta_divergence(A, res.W, res.H, beta), rel=1e-8)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize(("solver", "beta"), [("mu", 2.0), ("mu", 1.0), ("mu", 0.5), ("hals", 2.0)])
def test_zero_rows_and_columns(solver, beta, sparse):
    A = _abs_normal((12, 8), seed=0)
    A[3] = 0
    A[:, 5] = 0
    X = sp.csr_matrix(A) if sparse else A
    res = fit_nmf(X, 3, beta=beta, solver=solver, max_iter=100).result
    assert np.isfinite(res.loss).all() and np.isfinite(res.W).all() and np.isfinite(res.H).all()
    assert res.W.min() >= 0 and res.H.min() >= 0
    # an empty cell has no activity, an unexpressed gene no loading
    assert np.all(res.W[3] < 1e-6) and np.all(res.H[:, 5] < 1e-6)


@pytest.mark.parametrize("scale", [1e-20, 1e-30, 1e-300])
@pytest.mark.parametrize("beta", [0.5, 1.0, 1.5, 2.0])
def test_mu_small_values_stay_finite(beta, scale):
    X = _abs_normal((20, 15)) * scale
    W0, H0 = initialize(X, 3, "nndsvda", random_state=0)
    res = mu(X, W0, H0, beta=beta, max_iter=50)
    assert np.isfinite(res.W).all() and np.isfinite(res.H).all() and np.isfinite(res.loss).all()
    assert res.W.min() >= 0 and res.H.min() >= 0
    assert res.n_iter <= 50


@pytest.mark.parametrize("scale", [1e-30, 1e-12, 1e12])
@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_tl_scale_equivariance(beta, scale):
    """tl.nmf of s·X is s times tl.nmf of X for X of order one: tiny or huge data fit alike.

    (NNDSVDA's fill is the mean of X while its SVD factors scale like √s, so the *core* start
    is not scale-equivariant, as in scikit-learn; ``tl`` brings extreme data to order one.)
    """
    X = _abs_normal((20, 15))
    X /= X.max()
    ref, scaled = _adata(X.copy()), _adata(X * scale)
    kwargs = {"beta_loss": beta, "solver": "mu", "max_iter": 50, "tol": 0}
    snmf.tl.nmf(ref, 3, **kwargs)
    snmf.tl.nmf(scaled, 3, **kwargs)
    np.testing.assert_allclose(scaled.obsm["X_nmf"], scale * ref.obsm["X_nmf"], rtol=1e-6)
    np.testing.assert_allclose(scaled.varm["nmf_loadings"], ref.varm["nmf_loadings"], rtol=1e-6)
    np.testing.assert_allclose(
        scaled.uns["nmf"]["loss"], scale**beta * ref.uns["nmf"]["loss"], rtol=1e-6
    )


# --- determinism, iteration cap --------------------------------------------------------------


@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_random_state_determinism(solver, init):
    X = _abs_normal((20, 15))
    a = fit_nmf(X, 4, solver=solver, init=init, random_state=7, max_iter=30).result
    b = fit_nmf(X, 4, solver=solver, init=init, random_state=7, max_iter=30).result
    np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(a.H, b.H)
    if init in ("random", "nndsvdar"):
        c = fit_nmf(X, 4, solver=solver, init=init, random_state=8, max_iter=30).result
        assert not np.array_equal(a.W, c.W)


@pytest.mark.parametrize(
    "seed", [np.random.RandomState(0), np.random.default_rng(0)], ids=["RandomState", "Generator"]
)
def test_random_state_objects_accepted(seed):
    """scikit-learn (and scanpy) accept RandomState objects as random_state."""
    adata = _adata(_abs_normal((20, 15)))
    snmf.tl.nmf(adata, 3, init="random", random_state=seed, max_iter=20)
    assert np.isfinite(adata.obsm["X_nmf"]).all()


@pytest.mark.parametrize("solver", SOLVERS)
def test_max_iter_reached_is_recorded(solver):
    """Deliberate difference: scikit-learn warns (ConvergenceWarning) when max_iter is reached;
    scnmf records it: ``uns[key]['converged']`` is False and ``n_iter == max_iter``."""
    adata = _adata(_abs_normal((20, 15)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        snmf.tl.nmf(adata, 3, solver=solver, init="random", max_iter=1, tol=1e-12)
    record = adata.uns["nmf"]
    assert record["n_iter"] == 1 and record["converged"] is False
    assert len(record["loss"]) == 2
    done = _adata(_abs_normal((20, 15)))
    snmf.tl.nmf(done, 3, solver=solver, max_iter=500, tol=1e-2)
    assert done.uns["nmf"]["converged"] is True and done.uns["nmf"]["n_iter"] <= 500
    assert len(done.uns["nmf"]["loss"]) == done.uns["nmf"]["n_iter"] + 1


# --- not applicable ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "sklearn_test",
    [
        "test_minibatch_nmf_transform",
        "test_mbnmf_inverse_transform",
        "test_minibatch_nmf_negative_beta_loss",
        "test_nmf_minibatchnmf_equivalence",
        "test_minibatch_nmf_partial_fit",
        "test_minibatch_nmf_verbose",
    ],
)
def test_minibatch_not_applicable(sklearn_test):
    pytest.skip(
        f"deliberate difference ({sklearn_test}): scnmf has no MiniBatchNMF; large data run "
        "as map/reduce over dask row blocks with the full-batch solvers instead"
    )


@pytest.mark.parametrize("solver", SOLVERS)
def test_regularization_shrinks_factors(solver):
    """L1 (l1_ratio=1) gives more zeros in W and H; L2 (l1_ratio=0) smaller ‖W‖² + ‖H‖²."""
    X = _abs_normal((6, 5), seed=42)
    eps = np.finfo(np.float64).eps

    def fit(alpha_W, l1_ratio):
        kwargs = {"solver": solver, "random_state": 42, "alpha_W": alpha_W, "l1_ratio": l1_ratio}
        return fit_nmf(X, 3, **kwargs).result

    lasso, plain = fit(0.5, 1.0), fit(0.0, 1.0)
    assert (lasso.W <= eps).sum() > (plain.W <= eps).sum()
    assert (lasso.H <= eps).sum() > (plain.H <= eps).sum()
    ridge, plain = fit(0.5, 0.0), fit(0.0, 0.0)
    assert np.linalg.norm(ridge.W) ** 2 + np.linalg.norm(ridge.H) ** 2 < (
        np.linalg.norm(plain.W) ** 2 + np.linalg.norm(plain.H) ** 2
    )


def test_feature_names_not_applicable():
    pytest.skip(
        "deliberate difference (test_feature_names_out): results live in AnnData under "
        "obsm['X_<key>'] / varm['<key>_loadings'], indexed by obs_names / var_names"
    )


def test_hals_and_mu_helpers_match_run_solver():
    """``mu``/``hals`` are ``run_solver`` on the numba engine (used throughout this file)."""
    X = _abs_normal((10, 8))
    W0, H0 = initialize(X, 3, "nndsvda", random_state=0)
    for helper, solver in ((mu, "mu"), (hals, "hals")):
        a = helper(X, W0, H0, max_iter=5, tol=0)
        b = run_solver(X, W0, H0, solver=solver, max_iter=5, tol=0, device="cpu")
        np.testing.assert_array_equal(a.W, b.W)
