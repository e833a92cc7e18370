import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

import scnmf as snmf


def _adata(X):
    return ad.AnnData(X)


@pytest.mark.parametrize("beta", ["kullback-leibler", "frobenius", 0.5, 1.5])
def test_zero_cells_and_genes_give_finite_results(counts, beta):
    X = counts.astype(np.float32)
    X[5] = 0
    X[:, 7] = 0
    adata = _adata(sp.csr_matrix(X))
    snmf.tl.nmf(adata, 3, beta_loss=beta, max_iter=50)
    W, loadings = adata.obsm["X_nmf"], adata.varm["nmf_loadings"]
    assert np.isfinite(W).all() and np.isfinite(loadings).all()
    assert np.isfinite(adata.uns["nmf"]["loss"]).all()
    assert W[5].sum() < 1e-3 * W.sum(axis=1).mean()


def test_itakura_saito_on_positive_data_and_zero_rows_rejected(counts):
    X = counts.astype(np.float32) + 0.5
    adata = _adata(X)
    snmf.tl.nmf(adata, 3, beta_loss="itakura-saito", max_iter=30)
    assert np.isfinite(adata.obsm["X_nmf"]).all()
    X[3] = 0
    with pytest.raises(ValueError, match="zeros"):
        snmf.tl.nmf(_adata(X), 3, beta_loss="itakura-saito")


@pytest.mark.parametrize("scale", [1e6, 1e-20])
@pytest.mark.parametrize("beta", ["kullback-leibler", "frobenius"])
def test_extreme_scales_float32(counts, scale, beta):
    adata = _adata(sp.csr_matrix((counts * scale).astype(np.float32)))
    snmf.tl.nmf(adata, 3, beta_loss=beta, max_iter=40)
    W, H = adata.obsm["X_nmf"], adata.varm["nmf_loadings"]
    assert np.isfinite(W).all() and np.isfinite(H).all()
    loss = adata.uns["nmf"]["loss"]
    assert np.isfinite(loss).all() and loss[-1] <= loss[0]


def test_non_finite_results_are_never_stored(adata, monkeypatch):
    from scnmf.tl import _nmf

    real = _nmf.fit_nmf

    def broken(*args, **kwargs):
        fit = real(*args, **kwargs)
        fit.result.W[0, 0] = np.nan
        return fit

    monkeypatch.setattr(_nmf, "fit_nmf", broken)
    with pytest.raises(FloatingPointError, match="nothing was stored"):
        snmf.tl.nmf(adata, 3, beta_loss="kullback-leibler", max_iter=5)
    assert "X_nmf" not in adata.obsm and "nmf" not in adata.uns


def test_interrupt_leaves_adata_unchanged(adata):
    from scnmf.tl import _nmf

    calls = {"n": 0}
    original = _nmf.progress_bar

    class Interrupting:
        def __init__(self, *a, **k):
            self.bar = original(*a, **k)

        def __enter__(self):
            self.bar.__enter__()
            return self

        def __exit__(self, *exc):
            return self.bar.__exit__(*exc)

        def update(self, n):
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt

        def set_postfix(self, *a, **k):
            pass

    snmf.tl.nmf(adata, 2, max_iter=5, key_added="before")
    before = {k: v.copy() for k, v in adata.obsm.items()}
    _nmf.progress_bar = Interrupting
    try:
        with pytest.raises(KeyboardInterrupt):
            snmf.tl.nmf(adata, 2, max_iter=50, key_added="before")
    finally:
        _nmf.progress_bar = original
    assert set(adata.obsm) == set(before)
    np.testing.assert_array_equal(adata.obsm["X_before"], before["X_before"])
