import numpy as np
import pytest
import scipy.sparse as sp

from scnmf._core.nmf.beta import beta_divergence


def _naive(X, Y, beta):
    X = X.astype(float)
    if beta == 2:
        return 0.5 * np.sum((X - Y) ** 2)
    if beta == 1:
        pos = X > 0
        return np.sum(X[pos] * np.log(X[pos] / Y[pos])) - X.sum() + Y.sum()
    if beta == 0:
        return np.sum(X / Y - np.log(X / Y) - 1)
    return np.sum(X**beta + (beta - 1) * Y**beta - beta * X * Y ** (beta - 1)) / (beta * (beta - 1))


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 1.5, 2.0, 3.0])
def test_divergence_matches_definition(counts, beta):
    rng = np.random.default_rng(0)
    W = rng.random((counts.shape[0], 3)) + 0.1
    H = rng.random((3, counts.shape[1])) + 0.1
    X = counts + 0.3 if beta == 0 else counts
    expected = _naive(X, W @ H, beta)
    assert beta_divergence(X, W, H, beta) == pytest.approx(expected, rel=1e-10)
    if beta > 0:
        assert beta_divergence(sp.csr_matrix(X), W, H, beta) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_divergence_zero_at_exact_fit(beta):
    rng = np.random.default_rng(1)
    W, H = rng.random((20, 2)) + 0.1, rng.random((2, 10)) + 0.1
    assert beta_divergence(W @ H, W, H, beta) == pytest.approx(0.0, abs=1e-9)
