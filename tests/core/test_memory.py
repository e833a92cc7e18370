import numpy as np
import pytest

import scnmf as snmf
from scnmf._core.memory import (
    InsufficientMemoryError,
    available_memory,
    estimate_nmf_bytes,
    parse_bytes,
)


def test_parse_bytes():
    assert parse_bytes("512M") == 512 * 2**20
    assert parse_bytes("8G") == 8 * 2**30
    assert parse_bytes("1.5GiB") == int(1.5 * 2**30)
    assert parse_bytes("1000") == 1000
    with pytest.raises(ValueError, match="memory size"):
        parse_bytes("lots")


def test_estimate_scales_with_nnz_not_cells_times_genes():
    small = estimate_nmf_bytes(10**6, 20_000, 20, nnz=10**8, itemsize=4, sparse=True)
    dense = estimate_nmf_bytes(10**6, 20_000, 20, nnz=10**8, itemsize=4, sparse=False)
    assert small < 4 * 2**30 < 50 * 2**30 < dense


def test_available_memory_env_override(monkeypatch):
    monkeypatch.setenv("SCNMF_MAX_MEMORY", "3G")
    assert available_memory() == 3 * 2**30
    monkeypatch.delenv("SCNMF_MAX_MEMORY")
    assert available_memory() > 2**20


def test_fit_refused_before_work_when_memory_short(adata, monkeypatch):
    monkeypatch.setenv("SCNMF_MAX_MEMORY", "10K")
    with pytest.raises(InsufficientMemoryError, match="fewer components"):
        snmf.tl.nmf(adata, 3)
    assert "X_nmf" not in adata.obsm


def test_shape_beyond_this_machine_is_refused():
    da = pytest.importorskip("dask.array")
    import anndata as ad

    # 5 million cells, lazily: a rank-1000 cell factor alone is 20 GB on the driver
    huge = ad.AnnData(da.zeros((5 * 10**6, 2000), chunks=(10**6, 2000), dtype=np.float32))
    with pytest.raises(InsufficientMemoryError, match="GiB"):
        snmf.tl.nmf(huge, 1000)
    assert len(huge.obsm) == 0


@pytest.mark.parametrize(
    "fit",
    [
        lambda a: snmf.tl.gnmf(a, 3),
        lambda a: snmf.tl.pnmf(a, 3),
        lambda a: snmf.tl.deep_nmf(a, (3, 2)),
    ],
    ids=["gnmf", "pnmf", "deep_nmf"],
)
def test_every_fit_is_guarded(adata, monkeypatch, fit):
    monkeypatch.setenv("SCNMF_MAX_MEMORY", "10K")
    with pytest.raises(InsufficientMemoryError, match="GiB"):
        fit(adata)
    assert not adata.obsm and not adata.uns
