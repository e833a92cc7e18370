"""Planted real programs with correlated activities."""

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

from scnmf.datasets import correlated_programs
from scnmf.datasets._correlated import MAX_CORRELATION, reference_programs


def test_shapes_truth_and_noiseless_product():
    adata = correlated_programs(300, 120, 4, correlation=0.8, noise=0.0, random_state=0)
    assert adata.shape == (300, 120)
    assert sp.issparse(adata.X) and adata.X.format == "csr" and adata.X.dtype == np.float32
    H = adata.varm["true_programs"]
    W = adata.obsm["true_weights"]
    assert H.shape == (120, 4) and W.shape == (300, 4)
    np.testing.assert_allclose(H.sum(axis=0), 1.0)
    assert H.min() >= 0 and W.min() >= 0
    np.testing.assert_allclose(adata.X.toarray(), W @ H.T, rtol=1e-5, atol=1e-4)
    assert (W > 0).any(axis=1).all()  # every cell expresses at least one program
    assert list(adata.obs["dominant_program"].cat.categories) == ["P0", "P1", "P2", "P3"]
    assert adata.uns["correlated_programs"]["correlation"] == 0.8


def test_programs_come_from_real_genes():
    programs, names = reference_programs(4)
    adata = correlated_programs(50, 100, 4, random_state=0)
    assert set(adata.var_names) <= set(names)
    big = correlated_programs(20, 900, 4, random_state=0)
    assert big.n_vars == 900 and big.var_names.is_unique
    assert big.var_names[-1].split("-sim")[0] in names
    assert programs.shape == (4, len(names))


def test_correlation_is_tunable_and_deterministic():
    corr = [
        correlated_programs(2000, 60, 5, correlation=c, random_state=1).uns["correlated_programs"][
            "weight_correlation"
        ]
        for c in (0.0, 0.5, 0.9)
    ]
    assert corr[0] < corr[1] < corr[2]
    assert abs(corr[0]) < 0.1
    a = correlated_programs(100, 50, 3, correlation=0.5, noise=0.1, random_state=7)
    b = correlated_programs(100, 50, 3, correlation=0.5, noise=0.1, random_state=7)
    assert (a.X != b.X).nnz == 0
    np.testing.assert_array_equal(a.obsm["true_weights"], b.obsm["true_weights"])


def test_noise_and_density():
    clean = correlated_programs(400, 80, 4, noise=0.0, random_state=0)
    noisy = correlated_programs(400, 80, 4, noise=0.3, random_state=0)
    truth = clean.X.toarray()
    rel = np.linalg.norm(noisy.X.toarray() - truth) / np.linalg.norm(truth)
    assert 0.1 < rel < 0.5 and noisy.X.min() >= 0
    sparse_w = correlated_programs(2000, 50, 6, own_density=0.1, random_state=0)
    dense_w = correlated_programs(2000, 50, 6, own_density=0.6, random_state=0)
    assert (sparse_w.obsm["true_weights"] > 0).mean() < (dense_w.obsm["true_weights"] > 0).mean()


def test_h5ad_round_trip(tmp_path):
    adata = correlated_programs(60, 40, 3, random_state=0)
    adata.write_h5ad(tmp_path / "c.h5ad")
    back = ad.read_h5ad(tmp_path / "c.h5ad")
    np.testing.assert_array_equal(back.varm["true_programs"], adata.varm["true_programs"])
    assert back.uns["correlated_programs"]["depth"] == 1000.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"correlation": MAX_CORRELATION + 0.001},
        {"correlation": -0.1},
        {"noise": -1.0},
        {"own_density": 0.0},
        {"n_programs": 0},
    ],
)
def test_validation(kwargs):
    with pytest.raises(ValueError):
        correlated_programs(10, 10, **{"n_programs": 3, **kwargs})
