"""``tl.nmf`` gives the same result on every backend for the same seed, at default settings."""

import numpy as np
import pytest

import scnmf as snmf
from scnmf import _keys as K
from scnmf._core._backends.select import Backend

da = pytest.importorskip("dask.array")


def _relative(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _lazy(adata, rows=40):
    lazy = adata.copy()
    lazy.X = da.from_array(adata.X, chunks=(rows, adata.n_vars), asarray=False)
    return lazy


@pytest.mark.parametrize("beta_loss", ["frobenius", "kullback-leibler"])
def test_default_nmf_on_dask_equals_in_memory(adata, beta_loss):
    keys = K.factor_keys(K.NMF_KEY)
    ref = snmf.tl.nmf(adata, 4, beta_loss=beta_loss, copy=True)
    got = snmf.tl.nmf(_lazy(adata), 4, beta_loss=beta_loss, copy=True)
    assert got.uns[keys.uns]["params"]["device"] == "dask"
    assert got.uns[keys.uns]["n_iter"] == ref.uns[keys.uns]["n_iter"]
    assert _relative(got.obsm[keys.obsm], ref.obsm[keys.obsm]) < 1e-5
    assert _relative(got.varm[keys.varm], ref.varm[keys.varm]) < 1e-5


@pytest.mark.parametrize("beta_loss", ["frobenius", "kullback-leibler"])
def test_default_nmf_on_torch_cpu_equals_numba(adata, beta_loss, monkeypatch):
    """The tl → torch wiring, with torch's CPU build standing in for a GPU."""
    pytest.importorskip("torch")
    from scnmf._core.nmf import fit

    keys = K.factor_keys(K.NMF_KEY)
    ref = snmf.tl.nmf(adata, 4, beta_loss=beta_loss, copy=True)
    monkeypatch.setattr(fit, "choose_backend", lambda X, device: Backend("torch", "cpu"))
    got = snmf.tl.nmf(adata, 4, beta_loss=beta_loss, copy=True)
    assert got.uns[keys.uns]["n_iter"] == ref.uns[keys.uns]["n_iter"]
    assert _relative(got.obsm[keys.obsm], ref.obsm[keys.obsm]) < 1e-5
    assert _relative(got.varm[keys.varm], ref.varm[keys.varm]) < 1e-5
