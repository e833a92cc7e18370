"""Every pl function follows scanpy's conventions (issue 17).

``save`` as ``savefig_or_show`` (``True`` → ``figdir/<function><plot_suffix>.<format>``, a
str is a suffix whose extension sets the format, the figure is closed once saved), ``ax``,
``show``/``return_fig``, category colours from ``uns['<key>_colors']`` or ``palette=``,
``color=`` taking genes; titles and axis labels present and free of TeX remnants; a legend
wherever colour encodes a category.
"""

from __future__ import annotations

import anndata as ad
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import scanpy as sc  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

import scnmf as snmf  # noqa: E402
from scnmf.pl._legible import visible_texts  # noqa: E402

MARKUP = set("{}$\\")
RING_COLORS = ["#ff0000", "#00aa00", "#0000ff", "#aa00aa"]


@pytest.fixture(scope="module")
def fits() -> dict[str, ad.AnnData]:
    nmf = snmf.datasets.synthetic_counts(n_cells=120, n_genes=40, n_programs=3, n_types=3)
    snmf.tl.nmf(nmf, 3, solver="mu", max_iter=20)
    circles = snmf.datasets.concentric_circles(random_state=0)
    snmf.tl.persistence(circles, use_rep="X", n_scales=5)
    snmf.tl.pnmf(circles, 2, n_sweeps=1, max_inner_iter=20)
    circles.obs["label"] = circles.obs["label"].astype("category")
    circles.uns["label_colors"] = np.array(RING_COLORS, dtype=object)  # as scanpy stores them
    circles.layers["double"] = circles.X * 2
    deep = snmf.datasets.two_level_hierarchy(n_cells=150, n_genes=100, random_state=1)
    snmf.tl.deep_nmf(deep, (4, 2), n_init_iter=20, max_iter=10)
    deep.obs["fine"] = deep.obs["fine"].astype("category")
    from tests.pl.test_consensus_plots import consensus_adata

    return {"nmf": nmf, "pnmf": circles, "deep": deep, "cnmf": consensus_adata()}


#: (function, fit, kwargs): every pl function, drawn on a small fit.
PLOTS = [
    ("loadings", "nmf", {}),
    ("loss", "nmf", {}),
    ("persistence", "pnmf", {}),
    ("persistence_diagram", "pnmf", {}),
    ("barcode", "pnmf", {}),
    ("scale_path", "pnmf", {"color": "label"}),
    ("deep_hierarchy", "deep", {"labels": "fine"}),
    ("layer_errors", "deep", {}),
    ("k_selection", "cnmf", {}),
    ("consensus_clustergram", "cnmf", {}),
]
IDS = [p[0] for p in PLOTS]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture
def figdir(tmp_path):
    """scanpy's figure settings pointed at a fresh folder (restored after: they are class
    properties, which monkeypatch cannot undo)."""
    saved = (sc.settings.figdir, sc.settings.file_format_figs, sc.settings.plot_suffix)
    sc.settings.figdir = tmp_path / "figures"
    yield sc.settings.figdir
    sc.settings.figdir, sc.settings.file_format_figs, sc.settings.plot_suffix = saved


def _draw(fits, name, fit, kwargs, **more):
    return getattr(snmf.pl, name)(fits[fit], show=False, **kwargs, **more)


@pytest.mark.parametrize(("name", "fit", "kwargs"), PLOTS, ids=IDS)
def test_save_true_and_suffixes_as_scanpy(fits, figdir, name, fit, kwargs):
    out = _draw(fits, name, fit, kwargs, save=True)
    assert (figdir / f"{name}.pdf").read_bytes()[:4] == b"%PDF"  # scanpy's default format
    fig = out.flat[0].figure if isinstance(out, np.ndarray) else out.figure
    assert not plt.fignum_exists(fig.number)  # as scanpy: closed once saved
    _draw(fits, name, fit, kwargs, save=".png")  # the extension is the format
    assert (figdir / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    sc.settings.file_format_figs, sc.settings.plot_suffix = "svg", "_v2"
    _draw(fits, name, fit, kwargs, save="_pbmc")  # no extension: the settings' format
    assert (figdir / f"{name}_pbmc_v2.svg").is_file()
    assert sorted(p.name for p in figdir.iterdir()) == sorted(
        [f"{name}.pdf", f"{name}.png", f"{name}_pbmc_v2.svg"]
    )


def test_a_path_with_a_folder_is_the_file(fits, tmp_path, figdir):
    target = tmp_path / "mine" / "fig.png"
    target.parent.mkdir()
    snmf.pl.loss(fits["nmf"], show=False, save=str(target))
    snmf.pl.barcode(fits["pnmf"], show=False, save=tmp_path / "bar.pdf")  # a Path
    assert target.read_bytes()[:4] == b"\x89PNG" and (tmp_path / "bar.pdf").is_file()
    assert not figdir.exists()
    with pytest.raises(TypeError, match="save=True"):
        snmf.pl.loss(fits["nmf"], show=False, save=3)


@pytest.mark.parametrize(("name", "fit", "kwargs"), PLOTS, ids=IDS)
def test_returns_axes_or_figure_and_clean_text(fits, name, fit, kwargs):
    out = _draw(fits, name, fit, kwargs)
    axes = list(out.flat) if isinstance(out, np.ndarray) else [out]
    fig = axes[0].figure
    assert isinstance(_draw(fits, name, fit, kwargs, return_fig=True), plt.Figure)
    fig.canvas.draw()
    for ax in axes:
        if name == "consensus_clustergram" and ax is axes[0]:
            continue  # its title and y label sit on the strips beside the heatmap
        assert ax.get_title(), (name, ax)
        x_siblings = ax.get_shared_x_axes().get_siblings(ax)
        assert ax.get_xlabel() or any(s.get_xlabel() for s in x_siblings), (name, ax)
        y_siblings = ax.get_shared_y_axes().get_siblings(ax)
        assert ax.get_ylabel() or any(s.get_ylabel() for s in y_siblings), (name, ax)
    texts = visible_texts(fig)
    assert any(t is a.title or t.get_text() == a.get_title() for a in fig.axes for t in texts)
    for ax in fig.axes:  # TeX remnants in titles, labels, legends and annotations
        words = [
            ax.get_title(),
            ax.get_xlabel(),
            ax.get_ylabel(),
            *(t.get_text() for t in ax.texts),
        ]
        if ax.get_legend() is not None:
            words += [t.get_text() for t in ax.get_legend().get_texts()]
        for word in words:
            assert not MARKUP & set(word), (name, word)


SINGLE = [p for p in PLOTS if p[0] not in ("consensus_clustergram", "scale_path", "persistence")]


@pytest.mark.parametrize(("name", "fit", "kwargs"), SINGLE, ids=[p[0] for p in SINGLE])
def test_single_panel_functions_draw_on_the_given_ax(fits, name, fit, kwargs):
    fig, (left, right) = plt.subplots(1, 2)
    extra = {"components": [0]} if name == "loadings" else {}
    out = _draw(fits, name, fit, {**kwargs, **extra}, ax=right)
    assert out is right
    assert not (left.lines or left.patches or left.collections or left.texts)
    assert right.lines or right.patches or right.collections


def test_multi_panel_functions_take_a_list_of_axes(fits):
    fig, grid = plt.subplots(1, 3)
    axes = snmf.pl.loadings(fits["nmf"], ax=list(grid), show=False)
    assert list(axes.flat) == list(grid) and all(a.get_title() for a in grid)
    fig, pair = plt.subplots(2, 1)
    assert list(snmf.pl.persistence(fits["pnmf"], ax=pair, show=False)) == list(pair)
    fig, grid = plt.subplots(1, 3)
    out = snmf.pl.scale_path(fits["pnmf"], scales=[0, 4], ax=list(grid), show=False)
    assert list(out) == list(grid)
    assert grid[0].get_xlim() == grid[1].get_xlim() and grid[0].get_ylim() == grid[1].get_ylim()
    with pytest.raises(ValueError, match="3 panels"):
        snmf.pl.scale_path(fits["pnmf"], scales=[0, 4], ax=list(grid[:2]), show=False)
    with pytest.raises(TypeError, match="list of them"):
        snmf.pl.loadings(fits["nmf"], ax="left", show=False)


def _scatter_colors(ax) -> set:
    return {tuple(np.round(c, 4)) for c in ax.collections[0].get_facecolors()}


def test_scale_path_shares_axes_and_uses_scanpys_colours(fits):
    adata = fits["pnmf"]
    axes = snmf.pl.scale_path(adata, color="label", show=False)
    panels, alluvial = axes[:-1], axes[-1]
    assert len({p.get_xlim() for p in panels}) == 1 and len({p.get_ylim() for p in panels}) == 1
    stored = {tuple(np.round(to_rgba(c), 4)) for c in RING_COLORS}
    assert _scatter_colors(panels[0]) == stored
    bands = {tuple(np.round(c[:3], 4)) for c in alluvial.collections[0].get_facecolors()}
    assert bands == {c[:3] for c in stored}  # bands in the cell types' colours
    legend = axes[0].figure.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == list(adata.obs["label"].cat.categories)
    assert legend.get_title().get_text() == "label"
    mapping = dict(zip(adata.obs["label"].cat.categories, ["k", "c", "m", "y"], strict=True))
    panels = snmf.pl.scale_path(adata, color="label", palette=mapping, show=False)
    assert _scatter_colors(panels[0]) == {tuple(np.round(to_rgba(c), 4)) for c in "kcmy"}
    assert list(adata.uns["label_colors"]) == RING_COLORS  # nothing written back


def test_scale_path_without_color_uses_reference_clusters(fits):
    adata = fits["pnmf"]
    first = snmf.pl.scale_path(adata, show=False)
    legend = first[0].figure.legends[0]
    assert "KMeans" in legend.get_title().get_text()
    assert len(_scatter_colors(first[0])) == adata.obsm["X_pnmf_scales"].shape[2]
    again = snmf.pl.scale_path(adata, show=False)  # deterministic
    np.testing.assert_array_equal(
        first[0].collections[0].get_facecolors(), again[0].collections[0].get_facecolors()
    )
    assert "KMeans" in first[-1].get_title()


def test_scale_path_colours_by_a_gene(fits):
    adata = fits["pnmf"]
    gene = adata.var_names[0]
    panels = snmf.pl.scale_path(adata, color=gene, alluvial=False, show=False)
    values = np.sort(np.asarray(panels[0].collections[0].get_array()))
    np.testing.assert_allclose(values, np.sort(adata.obs_vector(gene)))
    assert any(a.get_ylabel() == gene for a in panels[0].figure.axes)  # the colorbar
    assert not panels[0].figure.legends  # a number: no categories to name
    axes = snmf.pl.scale_path(adata, color=gene, show=False)  # the bands need categories
    assert "KMeans" in axes[0].figure.legends[0].get_title().get_text()
    panels = snmf.pl.scale_path(adata, color=gene, layer="double", alluvial=False, show=False)
    values = np.sort(np.asarray(panels[0].collections[0].get_array()))
    np.testing.assert_allclose(values, np.sort(adata.obs_vector(gene, layer="double")))
    with pytest.raises(KeyError, match="nor a gene"):
        snmf.pl.scale_path(adata, color="NOT_A_GENE", show=False)
    with pytest.raises(ValueError, match="use_raw"):
        snmf.pl.scale_path(adata, color=gene, use_raw=True, show=False)
    raw = adata.copy()
    raw.raw = raw.copy()
    raw.X = raw.X * 0
    panels = snmf.pl.scale_path(raw, color=gene, alluvial=False, show=False)  # raw by default
    values = np.sort(np.asarray(panels[0].collections[0].get_array()))
    np.testing.assert_allclose(values, np.sort(adata.obs_vector(gene)))


def test_deep_hierarchy_composition_uses_scanpys_colours(fits):
    adata = fits["deep"].copy()
    cats = list(adata.obs["fine"].cat.categories)
    colors = [plt.get_cmap("Set1")(i) for i in range(len(cats))]
    adata.uns["fine_colors"] = np.array([matplotlib.colors.to_hex(c) for c in colors])
    ax = snmf.pl.deep_hierarchy(adata, labels="fine", show=False)
    nodes = ax.collections[-1]  # the bars (the bands are drawn first, in grey)
    faces = {tuple(np.round(c, 3)) for c in nodes.get_facecolors()}
    allowed = {tuple(np.round(to_rgba(c), 3)) for c in adata.uns["fine_colors"]}
    allowed.add(tuple(np.round(to_rgba("0.85"), 3)))
    assert faces <= allowed and len(faces & allowed) >= 3
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == cats
    labels = [t.get_text() for t in ax.texts if t.get_visible()]
    assert all("%" in label for label in labels)  # composition, not a plurality label
    assert "fine composition" in ax.get_title()


def test_deep_hierarchy_genes_are_specific(fits):
    from scnmf.get._programs import gene_specificity

    adata = fits["deep"]
    ax = snmf.pl.deep_hierarchy(adata, n_genes=2, show=False)
    scores = gene_specificity(np.asarray(adata.varm["deep_nmf_l1"]))
    names = np.asarray(adata.var_names)
    for k in range(4):
        best = list(names[np.argsort(-scores[:, k], kind="stable")[:2]])
        assert any(t.get_text() == f"{k}: {', '.join(best)}" for t in ax.texts)


def test_layer_errors_without_the_baseline(fits):
    adata = fits["deep"]
    assert "multilayer" not in adata.uns["deep_nmf"]["errors"]  # tl's default now
    ax = snmf.pl.layer_errors(adata, show=False)
    assert len(ax.patches) == 2
    assert "not computed" in ax.get_title() and not MARKUP & set(ax.get_ylabel())
    assert "Kullback–Leibler" in ax.get_ylabel()


def test_loss_title_names_method_solver_and_divergence(fits):
    ax = snmf.pl.loss(fits["nmf"], show=False)
    assert ax.get_title() == "NMF (MU, Frobenius) loss"
    assert ax.get_ylabel() == "Frobenius loss" and ax.get_xlabel() == "iteration"
    adata = fits["nmf"].copy()
    adata.uns["other"] = {**adata.uns["nmf"], "params": {"solver": "hals", "beta_loss": 1.0}}
    assert snmf.pl.loss(adata, key="other", show=False).get_title() == (
        "NMF (HALS, Kullback–Leibler) loss, key 'other'"
    )


def test_loadings_have_an_x_label(fits):
    for ax in snmf.pl.loadings(fits["nmf"], show=False).flat:
        assert ax.get_xlabel() == "loading (gene weight)"


def test_barcode_labels_are_horizontal_and_readable(fits):
    ax = snmf.pl.barcode(fits["pnmf"], show=False)
    labels = [t for t in ax.texts if t.get_visible()]
    counts = fits["pnmf"].uns["persistence"]["n_components"]
    assert [t.get_text() for t in labels] and {t.get_text() for t in labels} <= {
        str(c) for c in counts
    }
    assert all(t.get_rotation() == 0 and t.get_fontsize() >= 8 for t in labels)


def test_persistence_marks_the_selected_scales_on_the_beta0_curve(fits):
    adata = fits["pnmf"]
    top, bottom = snmf.pl.persistence(adata, show=False)
    record = adata.uns["persistence"]
    marks = [line for line in top.lines if line.get_marker() == "o"][0]
    np.testing.assert_allclose(marks.get_xdata(), record["scales"])
    np.testing.assert_array_equal(marks.get_ydata(), record["n_components"])
    curve = [line for line in top.lines if line.get_marker() != "o"][0]
    x, y = curve.get_xdata(), curve.get_ydata()
    for eps, b in zip(record["scales"], record["n_components"], strict=True):  # on the curve
        assert y[np.searchsorted(x, eps)] == b
    deaths = record["diagram"][:, 1]
    assert sum(p.get_height() for p in bottom.patches) == np.isfinite(deaths).sum()
    assert top.get_xscale() == "log" and bottom.get_xlabel().startswith("ε")


def test_bad_colour_options_name_the_fix(fits):
    adata = fits["pnmf"]
    with pytest.raises(ValueError, match="legend location"):
        snmf.pl.scale_path(adata, color="label", legend_loc="somewhere", show=False)
    with pytest.raises(ValueError, match="colormap"):
        snmf.pl.scale_path(adata, color="label", cmap="no-such-map", show=False)
    with pytest.raises(ValueError, match="no colour for category"):
        snmf.pl.scale_path(adata, color="label", palette={"ring1": "red"}, show=False)
    numeric = fits["deep"].copy()
    numeric.obs["depth"] = np.linspace(0, 1, numeric.n_obs)
    with pytest.raises(ValueError, match="categorical"):
        snmf.pl.deep_hierarchy(numeric, labels="depth", show=False)


def test_plots_leave_the_anndata_unchanged(fits):
    adata = fits["pnmf"]
    before = (dict(adata.uns), adata.obs.copy())
    snmf.pl.scale_path(adata, show=False)
    snmf.pl.scale_path(adata, color="label", palette="tab10", show=False)
    assert set(adata.uns) == set(before[0])
    pd.testing.assert_frame_equal(adata.obs, before[1])
