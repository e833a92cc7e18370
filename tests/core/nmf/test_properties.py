"""Property-based tests (hypothesis) for β-divergences and the solvers."""

import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from scnmf._core.nmf import hals, mu
from scnmf._core.nmf.beta import beta_divergence

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
betas = st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.0])
positive = st.floats(0.05, 20.0, allow_nan=False, allow_infinity=False)


@st.composite
def factors(draw, n_max=8, m_max=7, k_max=3):
    n = draw(st.integers(2, n_max))
    m = draw(st.integers(2, m_max))
    k = draw(st.integers(1, k_max))
    W = draw(arrays(np.float64, (n, k), elements=positive))
    H = draw(arrays(np.float64, (k, m), elements=positive))
    X = draw(arrays(np.float64, (n, m), elements=positive))
    return X, W, H


@SETTINGS
@given(factors(), betas)
def test_divergence_nonnegative_and_zero_iff_equal(data, beta):
    X, W, H = data
    d = beta_divergence(X, W, H, beta)
    assert d >= -1e-9 * max(1.0, np.abs(X).sum())
    assert abs(beta_divergence(W @ H, W, H, beta)) <= 1e-8 * max(1.0, (W @ H).sum())
    if not np.allclose(X, W @ H, rtol=1e-3):
        assert d > 0


@SETTINGS
@given(factors(), betas, st.floats(0.1, 10.0))
def test_divergence_scaling_identity(data, beta, scale):
    # D_β(sX | sY) = s^β D_β(X | Y)
    X, W, H = data
    lhs = beta_divergence(scale * X, scale * W, H, beta)
    rhs = scale**beta * beta_divergence(X, W, H, beta)
    assert np.isclose(lhs, rhs, rtol=1e-7, atol=1e-9)


@SETTINGS
@given(factors(), st.sampled_from([0.5, 1.0, 1.5, 2.0]))
def test_sparse_divergence_equals_dense(data, beta):
    X, W, H = data
    X = X * (X > 5)
    if not X.any():
        X[0, 0] = 1.0
    assert np.isclose(
        beta_divergence(sp.csr_matrix(X), W, H, beta), beta_divergence(X, W, H, beta), rtol=1e-9
    )


@SETTINGS
@given(factors(n_max=10, m_max=9), st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0]))
def test_mu_loss_never_increases(data, beta):
    X, W, H = data
    result = mu(X, W, H, beta=beta, max_iter=15, tol=0)
    assert np.all(np.diff(result.loss) <= 1e-9 * result.loss[0] + 1e-12)


@SETTINGS
@given(factors(n_max=10, m_max=9))
def test_hals_loss_never_increases(data):
    X, W, H = data
    result = hals(X, W, H, max_iter=15, tol=0)
    assert np.all(np.diff(result.loss) <= 1e-9 * result.loss[0] + 1e-12)


@SETTINGS
@given(factors(n_max=10, m_max=9), st.sampled_from([1.0, 2.0]), st.randoms())
def test_permuting_cells_permutes_the_embedding(data, beta, rnd):
    X, W, H = data
    order = np.arange(X.shape[0])
    rnd.shuffle(order)
    a = mu(X, W, H, beta=beta, max_iter=10, tol=0)
    b = mu(X[order], W[order], H, beta=beta, max_iter=10, tol=0)
    np.testing.assert_allclose(b.W, a.W[order], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(b.H, a.H, rtol=1e-8, atol=1e-12)


@SETTINGS
@given(factors(n_max=10, m_max=9), st.floats(0.1, 10.0), st.sampled_from([1.0, 2.0]))
def test_scaling_x_scales_the_factors(data, scale, beta):
    # From scaled starting points (sW, H), MU on sX gives exactly (sW_t, H_t).
    X, W, H = data
    a = mu(X, W, H, beta=beta, max_iter=10, tol=0)
    b = mu(scale * X, scale * W, H, beta=beta, max_iter=10, tol=0)
    np.testing.assert_allclose(b.W, scale * a.W, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(b.H, a.H, rtol=1e-7, atol=1e-12)
