import numpy as np
import pytest
import scipy.sparse as sp

from scnmf._core.nmf.init import initialize


@pytest.mark.parametrize("init", ["nndsvd", "nndsvda", "nndsvdar", "random"])
def test_init_shapes_nonnegative_deterministic(counts_csr, init):
    W, H = initialize(counts_csr, 5, init, random_state=3)
    assert W.shape == (counts_csr.shape[0], 5) and H.shape == (5, counts_csr.shape[1])
    assert W.min() >= 0 and H.min() >= 0
    W2, H2 = initialize(counts_csr, 5, init, random_state=3)
    np.testing.assert_array_equal(W, W2)
    np.testing.assert_array_equal(H, H2)


def test_nndsvda_has_no_zeros_and_nndsvd_approximates(counts):
    W, H = initialize(counts, 5, "nndsvda", random_state=0)
    assert (W > 0).all() and (H > 0).all()
    W, H = initialize(counts, 5, "nndsvd", random_state=0)
    rel = np.linalg.norm(counts - W @ H) / np.linalg.norm(counts)
    assert rel < 0.9


def test_sparse_init_matches_dense(counts):
    Wd, Hd = initialize(counts, 4, "nndsvd", random_state=0)
    Ws, Hs = initialize(sp.csr_matrix(counts), 4, "nndsvd", random_state=0)
    np.testing.assert_allclose(Wd @ Hd, Ws @ Hs, rtol=1e-6, atol=1e-8)


def test_custom_init_validated(counts):
    n, m = counts.shape
    W, H = initialize(counts, 2, "custom", W=np.ones((n, 2)), H=np.ones((2, m)))
    assert W.dtype == counts.dtype
    with pytest.raises(ValueError, match="shapes"):
        initialize(counts, 2, "custom", W=np.ones((n, 3)), H=np.ones((2, m)))
    with pytest.raises(ValueError, match="nonnegative"):
        initialize(counts, 2, "custom", W=-np.ones((n, 2)), H=np.ones((2, m)))
    with pytest.raises(ValueError, match="needs both"):
        initialize(counts, 2, "custom")
