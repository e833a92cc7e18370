import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from scnmf import datasets
from scnmf.datasets import _files


@pytest.fixture(scope="module")
def pbmc():
    return datasets.pbmc68k_counts()


def test_pbmc68k_counts_shape_and_dtype(pbmc):
    assert pbmc.shape == (700, 765)
    assert sp.issparse(pbmc.X) and pbmc.X.format == "csr"
    assert pbmc.X.dtype == np.float32
    data = pbmc.X.data
    assert data.min() >= 1
    np.testing.assert_array_equal(data, np.round(data))
    assert isinstance(pbmc.obs["label"].dtype, pd.CategoricalDtype)
    assert pbmc.obs["label"].nunique() == 10
    for key in ("bulk_labels", "n_counts", "louvain", "phase"):
        assert key in pbmc.obs
    np.testing.assert_array_equal(
        pbmc.obs["label"].astype(str), pbmc.obs["bulk_labels"].astype(str)
    )
    assert "pbmc68k_reduced" in pbmc.uns["source"]


def test_pbmc68k_counts_match_scanpy(pbmc):
    sc = pytest.importorskip("scanpy")
    reduced = sc.datasets.pbmc68k_reduced()
    assert list(pbmc.var_names) == list(reduced.raw.var_names)
    assert list(pbmc.obs_names) == list(reduced.obs_names)
    logx = reduced.raw.X.toarray().astype(np.float64)
    size = reduced.obs["n_counts"].to_numpy(dtype=np.float64)[:, None]
    expected = np.round(np.expm1(logx) * size / 1e4)
    np.testing.assert_allclose(pbmc.X.toarray(), expected, rtol=0, atol=1e-6)


def test_bundled_path_missing_file():
    with pytest.raises(FileNotFoundError, match="not_a_file.h5ad"):
        _files.bundled_path("not_a_file.h5ad")


def test_labelled_requires_data_dir(monkeypatch):
    monkeypatch.delenv("SCNMF_DATA_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="SCNMF_DATA_DIR"):
        _files.labelled("pbmc_facs400")


def test_labelled_reads_from_env(monkeypatch, tmp_path):
    small = ad.AnnData(sp.csr_matrix(np.eye(3, dtype=np.float32)))
    small.obs["label"] = pd.Categorical(["a", "b", "a"])
    small.write_h5ad(tmp_path / "tiny.h5ad")
    monkeypatch.setenv("SCNMF_DATA_DIR", str(tmp_path))
    back = _files.labelled("tiny")
    assert back.shape == (3, 3)
    assert list(back.obs["label"]) == ["a", "b", "a"]
    assert _files.labelled("tiny.h5ad", data_dir=tmp_path).shape == (3, 3)
    with pytest.raises(FileNotFoundError, match="tiny"):
        _files.labelled("missing")


def test_synthetic_shape_and_contents():
    adata = datasets.synthetic_counts(n_cells=600, n_genes=300, n_programs=6, n_types=4)
    assert adata.shape == (600, 300)
    X = adata.X
    assert sp.issparse(X) and X.format == "csr" and X.dtype == np.float32
    np.testing.assert_array_equal(X.data, np.round(X.data))
    assert X.data.min() >= 1
    assert adata.varm["true_programs"].shape == (300, 6)
    assert adata.obsm["true_weights"].shape == (600, 6)
    assert (adata.varm["true_programs"] >= 0).all()
    assert (adata.obsm["true_weights"] >= 0).all()
    assert isinstance(adata.obs["label"].dtype, pd.CategoricalDtype)
    assert 2 <= adata.obs["label"].nunique() <= 4
    assert adata.uns["synthetic"]["n_programs"] == 6


@pytest.mark.parametrize("density", [0.05, 0.12, 0.3])
def test_synthetic_density(density):
    adata = datasets.synthetic_counts(n_cells=1500, n_genes=400, density=density)
    observed = adata.X.nnz / np.prod(adata.shape)
    assert abs(observed / density - 1) < 0.3
    assert adata.uns["synthetic"]["observed_density"] == pytest.approx(observed)


def test_synthetic_mean_matches_planted_factors():
    adata = datasets.synthetic_counts(n_cells=3000, n_genes=200, density=0.3)
    mean = adata.obsm["true_weights"] @ adata.varm["true_programs"].T
    observed_total = np.asarray(adata.X.sum(axis=0)).ravel()
    np.testing.assert_allclose(observed_total.sum(), mean.sum(), rtol=0.02)


def test_synthetic_determinism():
    kwargs = dict(n_cells=400, n_genes=200, density=0.1)
    a = datasets.synthetic_counts(random_state=3, **kwargs)
    b = datasets.synthetic_counts(random_state=3, chunk_size=37, **kwargs)
    c = datasets.synthetic_counts(random_state=4, **kwargs)
    assert (a.X != b.X).nnz == 0
    np.testing.assert_array_equal(a.obs["label"], b.obs["label"])
    np.testing.assert_array_equal(a.obsm["true_weights"], b.obsm["true_weights"])
    assert (a.X != c.X).nnz > 0


def test_synthetic_h5ad_round_trip(tmp_path):
    adata = datasets.synthetic_counts(n_cells=200, n_genes=100)
    path = tmp_path / "synthetic.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    assert (back.X != adata.X).nnz == 0
    np.testing.assert_array_equal(back.varm["true_programs"], adata.varm["true_programs"])
    np.testing.assert_array_equal(back.obs["label"], adata.obs["label"])
    assert back.uns["synthetic"]["density"] == adata.uns["synthetic"]["density"]


@pytest.mark.parametrize(
    "kwargs", [dict(density=0.0), dict(density=1.0), dict(n_cells=0), dict(n_genes=3)]
)
def test_synthetic_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        datasets.synthetic_counts(**kwargs)
