"""Hostile numerics: extreme magnitudes, huge penalty weights, denormals, float32 HALS.

Every ``tl`` factorisation rescales data of extreme magnitude the same way (``tl/_scale``),
maps the results back (the factor carrying the scale by s, objectives homogeneous of degree
d by s^d, through logarithms), refuses before any work an objective float64 cannot hold,
and never stores a non-finite value. Each case asserts the exact outcome: a finite result
equal to the scaled result of the same fit at ordinary magnitude, or the error type with the
problem and the fix and the AnnData unchanged.
"""

from __future__ import annotations

import re

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

import scnmf as snmf
from scnmf._core._backends import _sparse
from scnmf._core.nmf import fit_nmf
from scnmf._core.nmf.beta import beta_divergence, elementwise_beta
from scnmf.tl._scale import unscale, unscale_factor

from ._support import assert_unchanged as _assert_unchanged
from ._support import counts as _counts
from ._support import snapshot as _snapshot

N_OBS, N_VARS = 40, 20


def _adata(X, rep: np.ndarray | None = None) -> ad.AnnData:
    a = ad.AnnData(X)
    a.obs_names = [f"c{i}" for i in range(a.n_obs)]
    a.var_names = [f"g{j}" for j in range(a.n_vars)]
    # A fixed representation, so graph-based fits see the same cell graph at every magnitude.
    a.obsm["X_pca"] = rep if rep is not None else _counts()[:, :5].copy()
    return a


def _refused(call, adata, error, *patterns):
    before = _snapshot(adata)
    with pytest.raises(error) as info:
        call(adata)
    for pattern in patterns:
        assert re.search(pattern, str(info.value)), (pattern, str(info.value))
    _assert_unchanged(adata, before)


def _stored_arrays(adata: ad.AnnData):
    """Every floating array a fit stored (obsm, varm and inside uns, persistence excepted)."""
    for slot in ("obsm", "varm"):
        for key, value in getattr(adata, slot).items():
            if key != "X_pca":
                yield f"{slot}[{key}]", np.asarray(value)

    def walk(prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                yield from walk(f"{prefix}.{k}", v)
        elif isinstance(value, np.ndarray | float) and np.asarray(value).dtype.kind == "f":
            yield prefix, np.asarray(value)

    for key, value in adata.uns.items():
        if key != "persistence":  # its diagram holds the essential class's infinite death
            yield from walk(f"uns[{key}]", value)


def _assert_all_finite(adata: ad.AnnData) -> None:
    for name, value in _stored_arrays(adata):
        assert np.isfinite(value).all(), name


# --- the tl factorisations, small and fast --------------------------------------------------

FITS = {
    "nmf_frobenius": (
        lambda a: snmf.tl.nmf(a, 3, max_iter=30, tol=0),
        2.0,
        ("X_nmf", "nmf_loadings", "nmf"),
    ),
    "nmf_kl": (
        lambda a: snmf.tl.nmf(a, 3, beta_loss="kullback-leibler", max_iter=30, tol=0),
        1.0,
        ("X_nmf", "nmf_loadings", "nmf"),
    ),
    "gnmf": (
        lambda a: snmf.tl.gnmf(a, 3, max_iter=30, tol=0, use_rep="X_pca"),
        2.0,
        ("X_gnmf", "gnmf_loadings", "gnmf"),
    ),
    "pnmf": (
        lambda a: snmf.tl.pnmf(a, 3, n_sweeps=1, max_inner_iter=15, inner_tol=0),
        2.0,
        ("X_pnmf", "pnmf_loadings", "pnmf"),
    ),
    "deep_kl": (
        lambda a: snmf.tl.deep_nmf(
            a, (3, 2), n_init_iter=20, max_iter=5, tol=0, multilayer_baseline=True
        ),
        1.0,
        None,
    ),
    "deep_minvol": (
        lambda a: snmf.tl.deep_nmf(
            a, (3, 2), min_volume=True, n_init_iter=20, max_iter=5, tol=0,
            multilayer_baseline=False,
        ),
        1.0,
        None,
    ),
}  # fmt: skip


def _fit(name: str, X) -> ad.AnnData:
    a = _adata(X)
    if name == "pnmf":
        snmf.tl.persistence(a, use_rep="X_pca", n_scales=3)
    FITS[name][0](a)
    return a


def _at_magnitude(dtype, s: float) -> sp.csr_matrix:
    C = _counts()
    return sp.csr_matrix((C / C.max() * s).astype(dtype))


def _reference(name: str, X: sp.csr_matrix, s: float) -> ad.AnnData:
    """The same fit on the same values brought to order one (denormal inputs keep few digits)."""
    return _fit(name, sp.csr_matrix((X.astype(np.float64) / s).astype(X.dtype)))


MAGNITUDES = {
    "float32x1e12": (np.float32, 1e12),
    "float32x1e-40": (np.float32, 1e-40),  # denormal float32 values
    "float64x1e100": (np.float64, 1e100),
    "float64x1e-100": (np.float64, 1e-100),
}


@pytest.mark.parametrize("magnitude", list(MAGNITUDES))
@pytest.mark.parametrize("name", list(FITS))
def test_extreme_magnitude_is_the_scaled_ordinary_fit(name, magnitude):
    """X·s (s far outside float32's comfort) gives s × the fit of X: finite, same programs."""
    dtype, s = MAGNITUDES[magnitude]
    X = _at_magnitude(dtype, s)
    a = _fit(name, X)
    _assert_all_finite(a)
    ref = _reference(name, X, s)
    _, degree, keys = FITS[name]
    # What carries the scale is stored at magnitude s: denormal there, it keeps few digits.
    atol_s = max(1e-6, 8 * float(np.finfo(dtype).smallest_subnormal) / s)
    if keys is not None:
        obsm, varm, uns = keys
        # W carries the scale, the loadings do not; the objective scales as s^degree.
        np.testing.assert_allclose(a.obsm[obsm] / s, ref.obsm[obsm], rtol=2e-3, atol=atol_s)
        np.testing.assert_allclose(a.varm[varm], ref.varm[varm], rtol=2e-3, atol=1e-6)
        loss, ref_loss = a.uns[uns]["loss"], ref.uns[uns]["loss"]
        np.testing.assert_allclose(loss / s**degree, ref_loss, rtol=2e-3)
    else:
        u, ref_u = a.uns["deep_nmf"], ref.uns["deep_nmf"]
        min_volume = name == "deep_minvol"
        for ell in (1, 2):  # Algorithm 1: programs carry s; Algorithm 2: the activities do
            act, prog = a.obsm[f"X_deep_nmf_l{ell}"], a.varm[f"deep_nmf_l{ell}"]
            ref_act, ref_prog = ref.obsm[f"X_deep_nmf_l{ell}"], ref.varm[f"deep_nmf_l{ell}"]
            act, prog = (act / s, prog) if min_volume else (act, prog / s)
            np.testing.assert_allclose(act, ref_act, rtol=5e-3, atol=atol_s)
            np.testing.assert_allclose(prog, ref_prog, rtol=5e-3, atol=atol_s)
        np.testing.assert_allclose(u["loss"], ref_u["loss"], rtol=5e-3)  # weighted: scale-free
        np.testing.assert_allclose(u["errors"]["deep"] / s, ref_u["errors"]["deep"], rtol=5e-3)
        np.testing.assert_allclose(u["lambdas"] * s, ref_u["lambdas"], rtol=5e-3)


def _single_nonzero(dtype=np.float32, dense=False):
    X = np.zeros((N_OBS, N_VARS), dtype=dtype)
    X[3, 4] = 5.0
    return X if dense else sp.csr_matrix(X)


@pytest.mark.parametrize("dense", [False, True], ids=["csr", "dense"])
@pytest.mark.parametrize("name", list(FITS))
def test_single_nonzero_gives_a_finite_result(name, dense):
    a = _fit(name, _single_nonzero(dense=dense))
    _assert_all_finite(a)
    if name.startswith("nmf"):  # rank ≥ 1 reproduces the single entry
        WH = a.obsm["X_nmf"] @ a.varm["nmf_loadings"].T
        assert WH[3, 4] == pytest.approx(5.0, rel=1e-3)
        assert np.abs(np.delete(WH.ravel(), 3 * N_VARS + 4)).max() < 1e-3


TOO_BIG = {
    "nmf": lambda a: snmf.tl.nmf(a, 3, max_iter=5),
    "gnmf": lambda a: snmf.tl.gnmf(a, 3, max_iter=5, use_rep="X_pca"),
    "pnmf": lambda a: snmf.tl.pnmf(a, 3, n_sweeps=1, max_inner_iter=5),
    "deep_frobenius": lambda a: snmf.tl.deep_nmf(
        a, (3, 2), beta_loss="frobenius", n_init_iter=5, max_iter=2
    ),
}


@pytest.mark.parametrize("name", list(TOO_BIG))
def test_loss_beyond_float64_is_refused_before_the_fit(name):
    """‖X‖² of data near 1e160 is 1e320: not representable, refused with the fix."""
    a = _adata(sp.csr_matrix(_counts() * 1e160))
    _refused(
        TOO_BIG[name], a, ValueError,
        r"about 1e\+32\d", r"outside the float64 range", r"Divide the data by a constant",
        r"layer='scaled'",
    )  # fmt: skip


def test_loss_below_float64_is_refused_before_the_fit():
    a = _adata(sp.csr_matrix(_counts() * 1e-200))
    _refused(
        TOO_BIG["nmf"], a, ValueError,
        r"about 1e-39\d", r"outside the float64 range", r"Multiply the data by a constant",
    )  # fmt: skip


@pytest.mark.parametrize(
    "call",
    [
        lambda a: snmf.tl.nmf(a, 3, beta_loss="kullback-leibler", max_iter=30, tol=0),
        lambda a: snmf.tl.deep_nmf(a, (3, 2), n_init_iter=20, max_iter=5, tol=0),
    ],
    ids=["nmf_kl", "deep_kl"],
)
def test_kl_near_1e160_is_representable_and_fitted(call):
    """KL is homogeneous of degree 1: its loss at 1e160 (≈1e162) fits float64 and is kept."""
    a = _adata(sp.csr_matrix(_counts() * 1e160))
    call(a)
    _assert_all_finite(a)
    loss = a.uns["nmf" if "nmf" in a.uns else "deep_nmf"]
    values = loss["loss"] if "nmf" in a.uns else loss["errors"]["deep"]
    assert np.all((values > 1e159) & (values < 1e165))


def test_itakura_saito_near_1e160_is_scale_free():
    C = _counts() + 1.0
    C /= C.max()  # the order-one data the rescaled fit sees (NNDSVDA's fill is not scale-free)
    a, ref = _adata(C * 1e160), _adata(C)
    for x in (a, ref):
        snmf.tl.nmf(x, 3, beta_loss="itakura-saito", max_iter=20, tol=0)
    _assert_all_finite(a)
    np.testing.assert_allclose(a.uns["nmf"]["loss"], ref.uns["nmf"]["loss"], rtol=1e-3)
    np.testing.assert_allclose(a.obsm["X_nmf"] / 1e160, ref.obsm["X_nmf"], rtol=1e-3, atol=1e-6)


WEIGHTS = {
    "gnmf-lambda_graph": (
        lambda a, v: snmf.tl.gnmf(a, 3, max_iter=5, use_rep="X_pca", lambda_graph=v),
        "lambda_graph",
    ),
    "pnmf-lambda_graph": (
        lambda a, v: snmf.tl.pnmf(a, 3, n_sweeps=1, max_inner_iter=5, lambda_graph=v),
        "lambda_graph",
    ),
    "pnmf-lambda_scale": (
        lambda a, v: snmf.tl.pnmf(a, 3, n_sweeps=1, max_inner_iter=5, lambda_scale=v),
        "lambda_scale",
    ),
    "pnmf-lambda_anchor": (
        lambda a, v: snmf.tl.pnmf(a, 3, n_sweeps=1, max_inner_iter=5, lambda_anchor=v),
        "lambda_anchor",
    ),
}


@pytest.mark.parametrize("case", list(WEIGHTS))
def test_penalty_weight_that_overflows_is_refused(case):
    call, name = WEIGHTS[case]
    a = _adata(sp.csr_matrix(_counts().astype(np.float32)))
    _refused(
        lambda x: call(x, 1e300), a, ValueError,
        rf"{name}=1e\+300 is too large for this data", r"overflow", rf"Use {name} ≤ \d",
    )  # fmt: skip


@pytest.mark.parametrize("case", ["gnmf-lambda_graph", "pnmf-lambda_graph"])
def test_large_but_representable_penalty_weight_is_fitted(case):
    call, _ = WEIGHTS[case]
    a = _adata(sp.csr_matrix(_counts().astype(np.float32)))
    call(a, 1e12)
    _assert_all_finite(a)


# --- the un-rescaling helpers ----------------------------------------------------------------


def test_unscale_goes_through_logs_where_the_factor_overflows():
    """s^β = (1e160)² overflows, the true value 1e-100 · 1e320 = 1e220 does not."""
    out = unscale(np.array([1e-100, 0.0, 3e-100]), 1e160, 2.0, "loss")
    np.testing.assert_allclose(out, [1e220, 0.0, 3e220], rtol=1e-12)


def test_unscale_refuses_a_loss_float64_cannot_hold():
    with pytest.raises(FloatingPointError, match=r"exceeds the float64 range.*divide the data"):
        unscale(np.array([1.0]), 1e160, 2.0, "loss")


def test_unscale_factor_refuses_float32_overflow():
    with pytest.raises(FloatingPointError, match=r"exceed the range of float32.*float64"):
        unscale_factor(np.array([[10.0]], dtype=np.float32), 1e38, "cell activities")


# --- KL with denormals (scikit-learn's test_nmf_underflow) -----------------------------------


def _underflow_case():
    rng = np.random.RandomState(0)
    X = np.abs(rng.randn(10, 2)) * 10
    W = np.abs(rng.randn(10, 2)) * 10
    H = np.abs(rng.randn(2, 2))
    return X, W, H


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_kl_loss_with_a_denormal_entry_is_finite(sparse):
    X, W, H = _underflow_case()
    X[0, 0] = 0
    ref = beta_divergence(sp.csr_matrix(X) if sparse else X, W, H, 1.0)
    X[0, 0] = 1e-323
    res = beta_divergence(sp.csr_matrix(X) if sparse else X, W, H, 1.0)
    assert np.isfinite(res)
    assert res == pytest.approx(ref, abs=1e-7)


def test_fused_kl_kernel_with_float32_denormals_is_finite():
    """The per-iteration fused pass (numerator + loss) in float32 with x = 1e-45."""
    X, W, H = _underflow_case()
    X[0, 0] = 0
    ref = beta_divergence(X, W, H, 1.0)
    X[0, 0] = 1e-45  # float32's smallest denormal
    X32 = sp.csr_matrix(X.astype(np.float32))
    assert X32.data.min() > 0
    _, nonzero = _sparse.kl_numerator(X32, W, np.ascontiguousarray(H.T), 1.2e-7)
    total = nonzero + float(W.sum(axis=0) @ H.sum(axis=1))
    assert np.isfinite(total)
    assert total == pytest.approx(ref, rel=1e-5)


def test_kl_kernels_ignore_stored_zeros():
    """A stored zero contributes 0 log 0 = 0, not NaN, in both kernels."""
    X, W, H = _underflow_case()
    X[0, 0] = 0
    canonical = sp.csr_matrix(X)
    stored = sp.csr_matrix((X.ravel(), np.tile([0, 1], 10), np.arange(0, 21, 2)), shape=X.shape)
    assert (stored.data == 0).any()
    Ht = np.ascontiguousarray(H.T)
    ref = _sparse.kl_nonzero_loss(canonical, W, Ht, 1.2e-7)
    assert _sparse.kl_nonzero_loss(stored, W, Ht, 1.2e-7) == pytest.approx(ref, rel=1e-12)
    assert _sparse.kl_numerator(stored, W, Ht, 1.2e-7)[1] == pytest.approx(ref, rel=1e-12)


def test_itakura_saito_with_a_denormal_entry_is_finite():
    X, W, H = _underflow_case()
    X[0, 0] = 1e-320
    value = elementwise_beta(X, W @ H, 0.0)
    assert np.isfinite(value) and value > 700  # x/y − log(x/y) − 1 ≈ 740 for that entry


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_tl_kl_fit_with_a_denormal_entry_stores_finite_losses_and_converges(sparse):
    C = _counts()
    C[5, 7] = 1e-320
    a = _adata(sp.csr_matrix(C) if sparse else C)
    snmf.tl.nmf(a, 3, beta_loss="kullback-leibler", max_iter=500, tol=1e-4)
    loss = a.uns["nmf"]["loss"]
    assert np.isfinite(loss).all() and (loss > 0).all()
    assert a.uns["nmf"]["converged"] and a.uns["nmf"]["n_iter"] < 500


# --- float32 HALS near an exact fit ----------------------------------------------------------


def _near_exact(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    W = rng.gamma(1.0, 1.0, (400, 5))
    H = rng.gamma(1.0, 1.0, (5, 80)) * (rng.random((5, 80)) < 0.7)
    return (W @ H) * (1 + 1e-3 * rng.standard_normal((400, 80))).clip(0)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_float32_hals_near_exact_fit_does_not_stop_on_rounding(sparse):
    """Loss ≈ 1e-6·½‖X‖²: float32 X Hᵀ rounding (~1e-8·‖X‖²) would exceed the 1e-4 stop margin."""
    X = _near_exact()
    prep = sp.csr_matrix if sparse else np.asarray
    r64 = fit_nmf(prep(X), 5, solver="hals", tol=1e-4, max_iter=400).result
    r32 = fit_nmf(prep(X.astype(np.float32)), 5, solver="hals", tol=1e-4, max_iter=400).result
    assert r64.loss[-1] < 1e-5 * 0.5 * np.sum(X**2)  # the regime in question
    assert abs(r32.n_iter - r64.n_iter) <= max(3, 0.05 * r64.n_iter)
    true32 = beta_divergence(X, r32.W.astype(np.float64), r32.H.astype(np.float64), 2.0)
    assert true32 == pytest.approx(r64.loss[-1], rel=1e-3)
    assert r32.loss[-1] == pytest.approx(true32, rel=1e-4)  # the stored loss is the true one


@pytest.mark.parametrize("s", [1e160, 1e-160], ids=["1e160", "1e-160"])
def test_representation_whose_squared_distances_leave_float64_is_refused(s):
    """gudhi used to crash the process (or the scales came back NaN) on such distances."""
    a = _adata(_counts(), rep=_counts()[:, :5] * s)
    _refused(
        lambda x: snmf.tl.persistence(x, use_rep="X_pca", n_scales=3), a, ValueError,
        r"Representation 'X_pca' has values up to 2.8e[+-]1(61|59)", r"over- or underflow float64",
        r"divided by 3e[+-]1(61|59)",
    )  # fmt: skip


def test_custom_init_at_extreme_magnitude_is_the_scaled_ordinary_fit():
    """init_W is in the data's units: it is rescaled with the data (in float64)."""
    C = _counts()
    C /= C.max()
    rng = np.random.default_rng(1)
    W0, H0 = rng.random((N_OBS, 3)) + 0.1, rng.random((3, N_VARS)) + 0.1
    s = 1e-100
    a, ref = _adata(C * s), _adata(C)
    snmf.tl.nmf(a, 3, init="custom", init_W=W0 * s, init_H=H0, max_iter=20, tol=0)
    snmf.tl.nmf(ref, 3, init="custom", init_W=W0, init_H=H0, max_iter=20, tol=0)
    _assert_all_finite(a)
    np.testing.assert_allclose(a.obsm["X_nmf"] / s, ref.obsm["X_nmf"], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(a.uns["nmf"]["loss"] / s**2, ref.uns["nmf"]["loss"], rtol=1e-6)


def test_agd_at_extreme_magnitude_scales_its_thresholds_back():
    """alpha0 and the stored thresholds are in the units of W; the warm start's loss in s²."""
    C = _counts()
    C /= C.max()
    s = 1e12
    a, ref = _adata(C * s), _adata(C)
    options = {"n_stages": 3, "n_inner": 5}
    snmf.tl.nmf(a, 3, solver="agd", max_iter=10, agd_options={**options, "alpha0": 0.05 * s})
    snmf.tl.nmf(ref, 3, solver="agd", max_iter=10, agd_options={**options, "alpha0": 0.05})
    _assert_all_finite(a)
    got, want = a.uns["nmf"], ref.uns["nmf"]
    assert got["params"]["agd_options"]["alpha0"] == 0.05 * s  # the caller's value is stored
    np.testing.assert_allclose(got["alphas"] / s, want["alphas"], rtol=1e-6)
    np.testing.assert_allclose(got["alpha0"] / s, want["alpha0"], rtol=1e-6)
    np.testing.assert_allclose(got["warm_start_loss"] / s**2, want["warm_start_loss"], rtol=1e-5)
    np.testing.assert_allclose(a.obsm["X_nmf"] / s, ref.obsm["X_nmf"], rtol=1e-4, atol=1e-8)
