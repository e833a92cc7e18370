"""pl.activities (programs on an embedding) and pl.programs_by_group (matrixplot)."""

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from matplotlib.colors import to_rgba

import scnmf as snmf


def _grouped(n_per=40, k=3, seed=0):
    """k groups of cells, each expressing its own block of genes (NMF finds one per group)."""
    rng = np.random.default_rng(seed)
    n_genes = 12 * k
    rates = np.full((n_per * k, n_genes), 0.3)
    for g in range(k):
        rates[g * n_per : (g + 1) * n_per, g * 12 : (g + 1) * 12] = 6.0
    X = rng.poisson(rates).astype(np.float32)
    obs = pd.DataFrame(
        {"type": pd.Categorical(np.repeat([f"t{g}" for g in range(k)], n_per))},
        index=[f"c{i}" for i in range(n_per * k)],
    )
    adata = ad.AnnData(sp.csr_matrix(X), obs=obs)
    adata.var_names = [f"g{j}" for j in range(n_genes)]
    # a 2-d "embedding": each group at its own corner, jittered
    centers = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [5.0, 5.0]])[np.arange(k) % 4]
    adata.obsm["X_umap"] = centers[np.repeat(np.arange(k), n_per)] + rng.normal(
        0, 0.5, (n_per * k, 2)
    )
    snmf.tl.nmf(adata, k, beta_loss="kullback-leibler", max_iter=200, random_state=0)
    return adata


@pytest.fixture(scope="module")
def fitted():
    return _grouped()


def _snapshot(adata):
    return (set(adata.uns), set(adata.obs.columns), set(adata.obsm), adata.obs.copy())


def _unchanged(adata, before):
    uns, obs, obsm, frame = before
    assert set(adata.uns) == uns and set(adata.obs.columns) == obs and set(adata.obsm) == obsm
    pd.testing.assert_frame_equal(adata.obs, frame)


def test_activities_one_panel_per_program_titled_and_ordered(fitted):
    before = _snapshot(fitted)
    table = snmf.get.activities(fitted, "nmf")
    axes = snmf.pl.activities(fitted, "nmf", show=False)
    visible = [ax for ax in axes.flat if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == list(table.columns)
    for j, ax in enumerate(visible):
        dots = ax.collections[0]
        assert dots.get_rasterized()
        values = np.asarray(dots.get_array())
        # drawn in order of activity: the most active cells last (on top)
        assert np.all(np.diff(values) >= 0)
        np.testing.assert_allclose(np.sort(values), np.sort(table.iloc[:, j].to_numpy()))
        # the coordinates travel with their cells
        top = np.argmax(table.iloc[:, j].to_numpy())
        np.testing.assert_allclose(dots.get_offsets()[-1], fitted.obsm["X_umap"][top])
        low, high = dots.get_clim()
        assert low == 0 and high == pytest.approx(values.max())
    _unchanged(fitted, before)
    plt.close("all")


def test_activities_programs_by_name_and_index_and_renamed(fitted):
    adata = fitted.copy()
    snmf.tl.rename_programs(adata, "nmf", ["alpha", "beta", "gamma"])
    axes = snmf.pl.activities(adata, "nmf", programs=["gamma", 0], ncols=1, show=False)
    assert axes.shape == (2, 1)
    assert [ax.get_title() for ax in axes.flat] == ["gamma", "alpha"]
    with pytest.raises(KeyError, match="not a program"):
        snmf.pl.activities(adata, "nmf", programs=["delta"], show=False)
    with pytest.raises(ValueError, match="out of range"):
        snmf.pl.activities(adata, "nmf", programs=[5], show=False)
    plt.close("all")


def test_activities_shared_scale_and_percentile(fitted):
    table = snmf.get.activities(fitted, "nmf")
    fig = snmf.pl.activities(fitted, "nmf", vmax="shared", show=False, return_fig=True)
    panels = [ax for ax in fig.axes if ax.get_title()]
    limits = {ax.collections[0].get_clim() for ax in panels}
    assert len(limits) == 1 and max(limits)[1] == pytest.approx(table.to_numpy().max())
    assert len(fig.axes) == len(panels) + 1  # one colorbar for the figure
    axes = snmf.pl.activities(fitted, "nmf", vmax="p50", show=False)
    _, high = axes.flat[0].collections[0].get_clim()
    assert high == pytest.approx(np.percentile(table.iloc[:, 0], 50))
    axes = snmf.pl.activities(fitted, "nmf", vmax=0.5, show=False)
    assert all(ax.collections[0].get_clim()[1] == 0.5 for ax in axes.flat if ax.get_visible())
    plt.close("all")


def test_activities_marker_size_scales_with_cells(fitted):
    small = snmf.pl.activities(fitted, "nmf", programs=0, show=False)
    rows = np.repeat(np.arange(fitted.n_obs), 50)
    big = ad.AnnData(
        sp.csr_matrix((rows.size, fitted.n_vars), dtype=np.float32),
        var=fitted.var,
        obsm={key: fitted.obsm[key][rows] for key in ("X_nmf", "X_umap")},
        varm=dict(fitted.varm),
        uns={"nmf": fitted.uns["nmf"]},
    )
    large = snmf.pl.activities(big, "nmf", programs=0, show=False)
    s_small = small.flat[0].collections[0].get_sizes()[0]
    s_large = large.flat[0].collections[0].get_sizes()[0]
    assert s_large < s_small / 10 and s_large > 0
    plt.close("all")


def test_activities_other_basis_and_errors(fitted):
    adata = fitted.copy()
    axes = snmf.pl.activities(adata, "nmf", basis="nmf", show=False)
    assert axes.flat[0].get_xlabel() == "NMF1"
    with pytest.raises(KeyError, match="sc.tl.umap"):
        snmf.pl.activities(adata, "nmf", basis="tsne", show=False)
    with pytest.raises(KeyError, match="tl.nmf"):
        snmf.pl.activities(adata, "nothing", show=False)
    adata.obsm["X_line"] = np.zeros((adata.n_obs, 1))
    with pytest.raises(ValueError, match="two columns"):
        snmf.pl.activities(adata, "nmf", basis="line", show=False)
    with pytest.raises(ValueError, match="percentile"):
        snmf.pl.activities(adata, "nmf", vmax="p0", show=False)
    with pytest.raises(TypeError, match="vmax"):
        snmf.pl.activities(adata, "nmf", vmax=[1], show=False)
    with pytest.raises(ValueError, match="colormap"):
        snmf.pl.activities(adata, "nmf", cmap="nope", show=False)
    with pytest.raises(ValueError, match="layer"):
        snmf.pl.activities(adata, "nmf", layer=2, show=False)
    plt.close("all")


def test_programs_by_group_means_and_scaling(fitted):
    before = _snapshot(fitted)
    table = snmf.get.activities(fitted, "nmf")
    means = table.groupby(fitted.obs["type"], observed=True).mean().to_numpy().T
    ax = snmf.pl.programs_by_group(fitted, "nmf", "type", standard_scale=None, show=False)
    np.testing.assert_allclose(ax.images[0].get_array(), means)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["t0", "t1", "t2"]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(table.columns)
    scaled = snmf.pl.programs_by_group(fitted, "nmf", "type", show=False).images[0].get_array()
    np.testing.assert_allclose(scaled.max(axis=1), 1.0)
    np.testing.assert_allclose(scaled.min(axis=1), 0.0)
    # each planted program lights up in exactly one group
    assert sorted(np.argmax(scaled, axis=1)) == [0, 1, 2]
    by_group = snmf.pl.programs_by_group(fitted, "nmf", "type", standard_scale="group", show=False)
    np.testing.assert_allclose(by_group.images[0].get_array().max(axis=0), 1.0)
    _unchanged(fitted, before)
    plt.close("all")


def test_programs_by_group_colours_axes_and_missing(fitted):
    adata = fitted.copy()
    adata.uns["type_colors"] = np.array(["#ff0000", "#00ff00", "#0000ff"], dtype=object)
    fig, (left, right) = plt.subplots(1, 2)
    ax = snmf.pl.programs_by_group(adata, "nmf", "type", ax=right, show=False)
    assert ax is right and len(left.images) == 0
    strip = [a for a in fig.axes if a not in (left, right) and a.images and a.get_title()][0]
    rgba = strip.images[0].to_rgba(strip.images[0].get_array())[0]
    np.testing.assert_allclose(rgba[:, :3], [to_rgba(c)[:3] for c in adata.uns["type_colors"]])
    # a group with no cells and cells without a group are left out
    adata.obs["type"] = adata.obs["type"].cat.add_categories(["empty"])
    adata.obs.loc[adata.obs_names[:40], "type"] = np.nan
    ax = snmf.pl.programs_by_group(adata, "nmf", "type", standard_scale=None, show=False)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["t1", "t2"]
    fig = snmf.pl.programs_by_group(adata, "nmf", "type", show=False, return_fig=True)
    assert isinstance(fig, plt.Figure)
    plt.close("all")


def test_programs_by_group_errors(fitted):
    adata = fitted.copy()
    adata.obs["depth"] = np.linspace(0, 1, adata.n_obs)
    with pytest.raises(KeyError, match="not a column"):
        snmf.pl.programs_by_group(adata, "nmf", "cell_type", show=False)
    with pytest.raises(ValueError, match="astype"):
        snmf.pl.programs_by_group(adata, "nmf", "depth", show=False)
    with pytest.raises(ValueError, match="standard_scale"):
        snmf.pl.programs_by_group(adata, "nmf", "type", standard_scale="obs", show=False)
    with pytest.raises(KeyError, match="tl.nmf"):
        snmf.pl.programs_by_group(adata, "nothing", "type", show=False)
    plt.close("all")


def test_plots_save_files(fitted, tmp_path):
    path = tmp_path / "activities.png"
    snmf.pl.activities(fitted, "nmf", save=str(path), show=False)
    assert path.stat().st_size > 0
    path = tmp_path / "groups.pdf"
    snmf.pl.programs_by_group(fitted, "nmf", "type", save=str(path), show=False)
    assert path.stat().st_size > 0
    plt.close("all")
