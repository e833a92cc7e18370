"""``tl.persistence`` without ``obsm['X_pca']``: a PCA as ``sc.pp.neighbors`` computes it."""

import io

import numpy as np
import pytest
import scanpy as sc

import scnmf as snmf


@pytest.fixture
def logged(adata):
    """The AnnData of ``conftest`` (120 cells × 80 genes, > N_PCS), log-normalised."""
    sc.pp.log1p(adata)
    return adata


@pytest.fixture
def scanpy_log():
    """scanpy's log lines (info level) while the test runs."""
    old_file, old_level = sc.settings.logfile, sc.settings.verbosity
    buffer = io.StringIO()
    sc.settings.logfile = buffer
    sc.settings.verbosity = 3
    yield buffer
    sc.settings.logfile, sc.settings.verbosity = old_file, old_level


def test_fallback_computes_pca_and_logs_it(logged, scanpy_log):
    snmf.tl.persistence(logged, n_scales=4)
    rec = logged.uns["persistence"]
    assert rec["params"]["use_rep"] == "X_pca"
    # scanpy's default n_comps: min(50, min(n_obs, n_genes) − 1), written as sc.pp.pca does
    assert logged.obsm["X_pca"].shape == (120, 50)
    assert logged.varm["PCs"].shape == (80, 50) and "pca" in logged.uns
    lines = scanpy_log.getvalue().splitlines()
    assert any("no adata.obsm['X_pca']: computing a PCA" in line for line in lines)
    # the line that closes it carries the time, as scanpy's "finished" lines do
    assert any("PCA done: 50 components" in line and "(0:" in line for line in lines)


def test_fallback_equals_pca_first(logged):
    first = logged.copy()
    sc.pp.pca(first)
    snmf.tl.persistence(first, n_scales=4)
    snmf.tl.persistence(logged, n_scales=4)
    np.testing.assert_array_equal(logged.obsm["X_pca"], first.obsm["X_pca"])
    np.testing.assert_array_equal(logged.varm["PCs"], first.varm["PCs"])
    a, b = logged.uns["persistence"], first.uns["persistence"]
    for key in ("diagram", "scales", "n_components", "canonical_scales"):
        np.testing.assert_array_equal(a[key], b[key])
    assert a["params"]["fingerprint"] == b["params"]["fingerprint"]


def test_fallback_uses_the_hvg_mask_as_scanpy(logged):
    logged.var["highly_variable"] = np.arange(80) < 30
    first = logged.copy()
    sc.pp.pca(first)  # 30 genes: 29 components, on the masked genes
    snmf.tl.persistence(logged, n_scales=3)
    assert logged.obsm["X_pca"].shape == (120, 29)
    assert logged.uns["pca"]["params"]["mask_var"] == "highly_variable"
    # Near full rank sc.pp.pca itself moves by ~3e-5 between identical calls (float32).
    np.testing.assert_allclose(logged.obsm["X_pca"], first.obsm["X_pca"], atol=2e-4)


def test_explicit_x_still_uses_x(logged):
    snmf.tl.persistence(logged, use_rep="X", n_scales=4)
    assert logged.uns["persistence"]["params"]["use_rep"] == "X"
    assert "X_pca" not in logged.obsm and "pca" not in logged.uns


def test_few_genes_use_x_as_scanpy(logged):
    small = logged[:, :40].copy()  # ≤ sc.settings.N_PCS genes: scanpy uses X directly
    snmf.tl.persistence(small, n_scales=3)
    assert small.uns["persistence"]["params"]["use_rep"] == "X" and "X_pca" not in small.obsm


def test_copy_and_error_leave_caller_unchanged(logged):
    out = snmf.tl.persistence(logged, n_scales=3, copy=True)
    assert "X_pca" in out.obsm and "X_pca" not in logged.obsm and "pca" not in logged.uns
    with pytest.raises(ValueError, match="n_scales"):
        snmf.tl.persistence(logged, n_scales=0)
    assert "X_pca" not in logged.obsm


def test_pnmf_computing_persistence_stores_its_pca(logged):
    snmf.tl.pnmf(logged, 3, n_sweeps=1, max_inner_iter=10)
    assert logged.uns["persistence"]["params"]["use_rep"] == "X_pca"
    assert logged.obsm["X_pca"].shape == (120, 50)
    # the stored record is valid for the AnnData it was stored in: a second call reuses it
    snmf.tl.pnmf(logged, 3, n_sweeps=1, max_inner_iter=10, key_added="again")
    np.testing.assert_array_equal(logged.obsm["X_again"], logged.obsm["X_pnmf"])
