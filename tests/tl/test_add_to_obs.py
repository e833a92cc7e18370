"""add_to_obs=True: program activities as obs columns that scanpy's plots colour by."""

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp

import scnmf as snmf
from scnmf import _keys as C


def _adata(seed: int = 0, n_obs: int = 50, n_vars: int = 24) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    rates = rng.gamma(1.0, 1.0, (n_obs, 1)) * rng.gamma(1.0, 1.0, (1, n_vars))
    X = rng.poisson(3.0 * rates).astype(np.float32)
    X[:, 0] += 1
    adata = ad.AnnData(
        sp.csr_matrix(X),
        obs=pd.DataFrame(index=[f"c{i}" for i in range(n_obs)]),
        var=pd.DataFrame(index=[f"g{j}" for j in range(n_vars)]),
    )
    adata.obsm["X_umap"] = rng.normal(size=(n_obs, 2))
    return adata


FITS = {
    "nmf": (lambda a, **kw: snmf.tl.nmf(a, 3, max_iter=20, **kw), "X_nmf"),
    "gnmf": (lambda a, **kw: snmf.tl.gnmf(a, 3, max_iter=20, **kw), "X_gnmf"),
    "pnmf": (
        lambda a, **kw: snmf.tl.pnmf(a, 3, n_sweeps=1, max_inner_iter=10, **kw),
        "X_pnmf",
    ),
    "cnmf": (
        lambda a, **kw: snmf.tl.consensus_nmf(a, [2, 3], n_replicates=3, max_iter=30, **kw),
        "X_cnmf",
    ),
}


@pytest.mark.parametrize("key", list(FITS))
def test_columns_hold_the_activities(key):
    adata = _adata()
    fit, obsm = FITS[key]
    fit(adata, add_to_obs=True)
    k = adata.obsm[obsm].shape[1]
    columns = [f"{key}_{j}" for j in range(k)]
    assert list(adata.uns[key]["obs_columns"]) == columns
    for j, column in enumerate(columns):
        assert adata.obs[column].dtype.kind == "f"
        np.testing.assert_array_equal(adata.obs[column].to_numpy(), adata.obsm[obsm][:, j])
    # the same table get.activities gives
    np.testing.assert_array_equal(
        adata.obs[columns].to_numpy(dtype=np.float64), snmf.get.activities(adata, key).to_numpy()
    )


def test_off_by_default():
    adata = _adata()
    snmf.tl.nmf(adata, 3, max_iter=5)
    assert list(adata.obs.columns) == [] and "obs_columns" not in adata.uns["nmf"]


def test_deep_nmf_writes_every_layer_and_keeps_its_dominant_program():
    adata = _adata()
    snmf.tl.deep_nmf(adata, (4, 2), n_init_iter=10, max_iter=5, add_to_obs=True)
    keys = C.deep_keys("deep_nmf")
    for ell, r in ((1, 4), (2, 2)):
        assert isinstance(adata.obs[keys.obs(ell)].dtype, pd.CategoricalDtype)
        for j in range(r):
            column = f"deep_nmf_l{ell}_{j}"
            np.testing.assert_array_equal(adata.obs[column], adata.obsm[keys.obsm(ell)][:, j])


def test_scanpy_colours_an_embedding_by_a_column(tmp_path):
    adata = _adata()
    snmf.tl.nmf(adata, 3, max_iter=20, add_to_obs=True)
    fig = sc.pl.umap(adata, color=["nmf_0", "nmf_2"], show=False, return_fig=True)
    path = tmp_path / "umap_nmf.png"
    fig.savefig(path, dpi=60)
    plt.close("all")
    assert path.stat().st_size > 0
    # the colours are the activities: the scatter's array is the column
    fig = sc.pl.umap(adata, color="nmf_1", show=False, return_fig=True)
    values = fig.axes[0].collections[0].get_array()
    np.testing.assert_allclose(np.sort(np.asarray(values)), np.sort(adata.obs["nmf_1"]))
    plt.close("all")


def test_columns_survive_h5ad(tmp_path):
    adata = _adata()
    snmf.tl.nmf(adata, 3, max_iter=10, add_to_obs=True)
    snmf.tl.deep_nmf(adata, (4, 2), n_init_iter=10, max_iter=5, add_to_obs=True)
    path = tmp_path / "obs.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    pd.testing.assert_frame_equal(back.obs, adata.obs)
    assert list(back.uns["nmf"]["obs_columns"]) == ["nmf_0", "nmf_1", "nmf_2"]


def test_a_refit_replaces_its_own_columns():
    adata = _adata()
    snmf.tl.nmf(adata, 3, max_iter=10, add_to_obs=True)
    snmf.tl.nmf(adata, 2, max_iter=10, add_to_obs=True)  # own columns: no collision
    assert list(adata.obs.columns) == ["nmf_0", "nmf_1"]  # nmf_2 was of the old fit
    np.testing.assert_array_equal(adata.obs["nmf_1"], adata.obsm["X_nmf"][:, 1])
    snmf.tl.nmf(adata, 2, max_iter=10)  # without add_to_obs the old columns would be stale
    assert list(adata.obs.columns) == []


def test_copy_writes_only_the_copy():
    adata = _adata()
    out = snmf.tl.nmf(adata, 2, max_iter=5, add_to_obs=True, copy=True)
    assert list(out.obs.columns) == ["nmf_0", "nmf_1"] and list(adata.obs.columns) == []


def test_a_column_of_someone_else_is_refused_before_the_fit(monkeypatch):
    adata = _adata()
    adata.obs["nmf_1"] = 1.0
    import scnmf.tl._nmf as module

    def no_fit(*args, **kwargs):
        raise AssertionError("the fit ran")

    monkeypatch.setattr(module, "fit_nmf", no_fit)
    with pytest.raises(ValueError, match=r"overwrite adata.obs columns \['nmf_1'\]"):
        snmf.tl.nmf(adata, 3, max_iter=5, add_to_obs=True)
    assert list(adata.obs.columns) == ["nmf_1"] and "nmf" not in adata.uns
    monkeypatch.undo()
    snmf.tl.nmf(adata, 3, max_iter=5, add_to_obs=True, key_added="other")  # another key is fine
    assert "other_1" in adata.obs


def test_rename_programs_renames_the_columns():
    adata = _adata()
    snmf.tl.nmf(adata, 3, max_iter=10, add_to_obs=True)
    before = adata.obs["nmf_1"].copy()
    snmf.tl.rename_programs(adata, "nmf", ["B", "T", "nmf_mono"])
    assert list(adata.obs.columns) == ["nmf_B", "nmf_T", "nmf_mono"]
    np.testing.assert_array_equal(adata.obs["nmf_T"], before)
    assert list(adata.uns["nmf"]["obs_columns"]) == ["nmf_B", "nmf_T", "nmf_mono"]
    snmf.tl.rename_programs(adata, "nmf", ["T", "B", "mono"])  # a swap
    np.testing.assert_array_equal(adata.obs["nmf_B"], before.to_numpy())  # column follows
    snmf.tl.nmf(adata, 3, max_iter=10, add_to_obs=True)  # a refit drops the renamed ones
    assert list(adata.obs.columns) == ["nmf_0", "nmf_1", "nmf_2"]


def test_rename_refuses_a_column_taken_by_another_result():
    adata = _adata()
    snmf.tl.nmf(adata, 2, max_iter=10, add_to_obs=True)
    adata.obs["nmf_T"] = "label"
    with pytest.raises(ValueError, match=r"overwrite adata.obs columns \['nmf_T'\]"):
        snmf.tl.rename_programs(adata, "nmf", ["B", "T"])
    assert snmf.get.program_names(adata, "nmf") == ["nmf_0", "nmf_1"]
    assert list(adata.obs.columns) == ["nmf_0", "nmf_1", "nmf_T"]


def test_project_writes_the_projected_activities_to_obs():
    """tl.project(add_to_obs=True): obs['<key>_projected_<j>'] equal the stored activities."""
    reference, query = _adata(0), _adata(1)
    snmf.tl.nmf(reference, 3, max_iter=20)
    snmf.tl.project(query, reference, add_to_obs=True)
    keys = C.projected_keys("nmf_projected")
    columns = [f"nmf_projected_{j}" for j in range(3)]
    assert list(query.uns[keys.uns][C.ProgramUns.OBS_COLUMNS]) == columns
    np.testing.assert_array_equal(
        query.obs[columns].to_numpy(), query.obsm[keys.obsm].astype(np.float64)
    )
    snmf.tl.project(query, reference)  # a refit without add_to_obs drops its columns
    assert not set(columns) & set(query.obs.columns)
    query.obs["nmf_projected_0"] = 1.0  # a column it did not write is refused, before the fit
    with pytest.raises(ValueError, match="add_to_obs=True would overwrite"):
        snmf.tl.project(query, reference, add_to_obs=True)
