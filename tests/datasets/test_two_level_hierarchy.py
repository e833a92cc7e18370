import numpy as np
import pytest
import scipy.sparse as sp

import scnmf as snmf


def test_two_level_hierarchy_structure():
    adata = snmf.datasets.two_level_hierarchy(n_cells=200, n_genes=150, n_coarse=3)
    assert adata.shape == (200, 150) and sp.isspmatrix_csr(adata.X)
    assert adata.X.dtype == np.float32 and adata.X.min() >= 0
    np.testing.assert_array_equal(adata.X.data, np.round(adata.X.data))  # integer counts
    fine, coarse = adata.obs["fine"].astype(str), adata.obs["coarse"].astype(str)
    assert fine.nunique() == 6 and coarse.nunique() == 3
    # fine types nest in coarse types, and are named after their parent
    assert all(f.startswith(c) for f, c in zip(fine, coarse, strict=True))
    info = adata.uns["two_level_hierarchy"]
    np.testing.assert_allclose(info["mixing"].sum(axis=1), 1.0)
    np.testing.assert_array_equal(np.argmax(info["mixing"], axis=1), info["parent"])
    np.testing.assert_allclose(adata.varm["fine_programs"].sum(axis=0), 1.0, rtol=1e-5)
    np.testing.assert_allclose(adata.varm["coarse_programs"].sum(axis=0), 1.0, rtol=1e-5)


def test_two_level_hierarchy_fine_programs_closer_to_siblings():
    adata = snmf.datasets.two_level_hierarchy(n_cells=10, n_genes=200)
    F = adata.varm["fine_programs"].astype(float)
    parent = adata.uns["two_level_hierarchy"]["parent"]
    corr = np.corrcoef(F.T)
    for f in range(F.shape[1]):
        siblings = [g for g in range(F.shape[1]) if g != f and parent[g] == parent[f]]
        others = [g for g in range(F.shape[1]) if parent[g] != parent[f]]
        assert corr[f, siblings].min() > corr[f, others].max()


def test_two_level_hierarchy_seeded_and_validated():
    a = snmf.datasets.two_level_hierarchy(n_cells=50, n_genes=100, random_state=4)
    b = snmf.datasets.two_level_hierarchy(n_cells=50, n_genes=100, random_state=4)
    assert (a.X != b.X).nnz == 0 and a.obs.equals(b.obs)
    with pytest.raises(ValueError, match="n_coarse"):
        snmf.datasets.two_level_hierarchy(n_coarse=1)
    with pytest.raises(ValueError, match="specificity"):
        snmf.datasets.two_level_hierarchy(specificity=1.5)
    with pytest.raises(ValueError, match="too small"):
        snmf.datasets.two_level_hierarchy(n_genes=8)
