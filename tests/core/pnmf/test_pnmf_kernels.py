import numpy as np
import pytest
import scipy.sparse as sp

from scnmf._core.pnmf._kernels import cell_step, cell_sums, empty_like_rows
from scnmf._core.pnmf.gnmf import SIGMA
from scnmf._core.pnmf.ops_numpy import lin_step


def _case(seed, dtype, with_graph, with_pull, n=700, k=6):
    rng = np.random.default_rng(seed)
    W = rng.random((n, k)).astype(dtype)
    W[rng.random((n, k)) < 0.2] = 0  # zeros exercise the σ floor
    XHt = rng.random((n, k)).astype(dtype)
    H = rng.random((k, 9)).astype(dtype)
    HHt = H @ H.T
    none = empty_like_rows(dtype)
    A = sp.random(n, n, density=0.01, random_state=seed, dtype=np.float64)
    A = (A + A.T).tocsr()
    deg = np.asarray(A.sum(axis=1)).ravel() if with_graph else np.zeros(0)
    AW = (A @ W).astype(dtype) if with_graph else none
    pull = (0.7 * rng.random((n, k))).astype(dtype) if with_pull else none
    return W, XHt, HHt, AW, deg, pull


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_graph", [False, True])
@pytest.mark.parametrize("with_pull", [False, True])
def test_cell_step_matches_numpy_lin_step(dtype, with_graph, with_pull):
    W, XHt, HHt, AW, deg, pull = _case(0, dtype, with_graph, with_pull)
    lam1, shrink = 0.8, 1.3
    grad = W @ HHt - XHt + shrink * W
    diag = None
    if with_graph:
        grad += lam1 * (deg[:, None] * W - AW)
        diag = lam1 * deg[:, None]
    if with_pull:
        grad -= pull
    expected = lin_step(W, grad, HHt, left=False, shrink=shrink, diag=diag)
    out = np.empty_like(W)
    cell_step(W, XHt, HHt, AW, deg, pull, lam1, shrink, SIGMA, out)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol * np.abs(expected).max())
    assert (out >= 0).all()


@pytest.mark.parametrize("with_graph", [False, True])
@pytest.mark.parametrize("with_pull", [False, True])
def test_cell_sums_match_numpy(with_graph, with_pull):
    W, XHt, _, AW, deg, _ = _case(1, np.float64, with_graph, with_pull)
    none = empty_like_rows(np.float64)
    prev = W * 1.1 if with_pull else none
    nxt = W + 0.5 if with_pull else none
    got = cell_sums(W, XHt, AW, deg, prev, nxt)
    sq_rows = (W**2).sum(axis=1)
    expected = [
        (W * XHt).sum(),
        sq_rows.sum(),
        float(deg @ sq_rows) if with_graph else 0.0,
        (W * AW).sum() if with_graph else 0.0,
        ((W - prev) ** 2).sum() if with_pull else 0.0,
        ((W - nxt) ** 2).sum() if with_pull else 0.0,
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
