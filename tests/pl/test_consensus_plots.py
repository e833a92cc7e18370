"""pl.k_selection and pl.consensus_clustergram, on hand-built results laid out as
tl.consensus_nmf stores them (docs/architecture.md, scnmf._keys.ConsensusUns), and on a
real small fit."""

import copy

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
from scnmf import _keys as C  # noqa: E402

U = C.ConsensusUns
MARKUP = set("{}$\\")


def consensus_adata(
    ks=range(3, 9),
    k=5,
    n_replicates=20,
    n_outliers=6,
    n_obs=40,
    n_vars=30,
    max_shown=None,
    key=C.CONSENSUS_KEY,
    seed=0,
):
    """An AnnData holding what tl.consensus_nmf stores, with replicate programs that are
    noisy copies of k planted programs plus a few outliers (density filter as cNMF)."""
    rng = np.random.default_rng(seed)
    ks = np.asarray(list(ks), dtype=np.int64)
    truth = rng.gamma(0.5, 1.0, (k, n_vars))
    N = n_replicates * k
    programs = np.repeat(truth, n_replicates, axis=0).reshape(k, n_replicates, n_vars)
    programs = programs.transpose(1, 0, 2).reshape(N, n_vars)  # replicate-major
    programs = programs * rng.lognormal(0.0, 0.15, programs.shape)
    outliers = rng.choice(N, n_outliers, replace=False)
    programs[outliers] = rng.gamma(0.5, 1.0, (n_outliers, n_vars))
    unit = programs / np.linalg.norm(programs, axis=1, keepdims=True)
    dist = np.sqrt(np.maximum(2.0 - 2.0 * unit @ unit.T, 0.0))  # unit rows: |a−b|² = 2 − 2a·b
    np.fill_diagonal(dist, np.inf)
    L = max(1, int(0.3 * n_replicates))
    density = np.sort(dist, axis=1)[:, :L].mean(axis=1)
    threshold = float(np.sort(density)[N - n_outliers - 1] + 1e-3)  # drops the outliers
    kept = density < threshold
    nearest = np.argmax(unit @ (truth / np.linalg.norm(truth, axis=1, keepdims=True)).T, axis=1)
    labels = np.where(kept, nearest, -1)
    order = np.concatenate([np.flatnonzero(labels == c) for c in range(k)])
    order = np.concatenate([order, np.flatnonzero(labels < 0)])
    shown = order
    if max_shown is not None and max_shown < N:
        shown = order[np.linspace(0, N - 1, max_shown).round().astype(int)]
    corr = np.corrcoef(unit[shown]).astype(np.float32)
    K = ks.size
    stability = 0.9 - 0.08 * np.abs(ks - k) + rng.uniform(0, 0.02, K)
    error = 1000.0 / ks + rng.uniform(0, 5, K)
    usage = rng.dirichlet(np.ones(k), n_obs).astype(np.float32)
    spectra = truth.T / truth.sum(axis=1)
    keys = C.consensus_keys(key)
    adata = ad.AnnData(
        np.zeros((n_obs, n_vars), np.float32),
        obs=pd.DataFrame(index=[f"c{i}" for i in range(n_obs)]),
        var=pd.DataFrame(index=[f"g{j}" for j in range(n_vars)]),
    )
    adata.obsm[keys.obsm] = usage
    adata.varm[keys.programs] = spectra
    adata.varm[keys.gene_scores] = rng.normal(0, 1, (n_vars, k))
    adata.uns[keys.uns] = {
        U.PARAMS: {
            "n_components": ks,
            "n_replicates": n_replicates,
            "beta_loss": "frobenius",
            "density_threshold": threshold,
            "local_neighborhood_size": 0.3,
            "random_state": 0,
        },
        U.K: k,
        U.K_SELECTION: {
            U.K: ks,
            U.STABILITY: stability,
            U.ERROR: error,
            U.N_KEPT: np.full(K, N - n_outliers),
            U.N_FILTERED: np.full(K, n_outliers),
        },
        U.REPLICATES: {
            U.LOCAL_DENSITY: density,
            U.KEPT: kept,
            U.LABELS: labels,
            U.ORDER: order,
            U.CORRELATION: corr,
            U.CORRELATION_INDEX: shown,
        },
        U.REPLICATE_LOSS: rng.uniform(1, 2, (K, n_replicates)),
        U.N_ITER: np.full((K, n_replicates), 100),
        U.CONVERGED: np.ones((K, n_replicates), bool),
    }
    return adata


@pytest.fixture
def result():
    return consensus_adata()


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def texts(fig):
    """Every title, axis label and legend text of a figure."""
    out = []
    for a in fig.axes:
        out += [a.get_title(), a.get_xlabel(), a.get_ylabel()]
        legend = a.get_legend()
        if legend is not None:
            out += [t.get_text() for t in legend.get_texts()] + [legend.get_title().get_text()]
    out += [t.get_text() for t in fig.texts]
    return [t for t in out if t]


def assert_clean(fig):
    for text in texts(fig):
        assert not MARKUP & set(text), text


def overlapping(artists, renderer):
    boxes = [a.get_window_extent(renderer) for a in artists if a.get_visible() and a.get_text()]
    return [
        (i, j)
        for i in range(len(boxes))
        for j in range(i + 1, len(boxes))
        if boxes[i].overlaps(boxes[j])
    ]


def test_k_selection_draws_both_series_and_the_selected_k(result):
    ax = snmf.pl.k_selection(result, show=False)
    table = result.uns["cnmf"][U.K_SELECTION]
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), table[U.K])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), table[U.STABILITY])
    np.testing.assert_allclose(ax.right_ax.lines[0].get_ydata(), table[U.ERROR])
    assert ax.right_ax in ax.figure.axes
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert [line.get_xdata()[0] for line in dashed] == [5]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["stability", "error", "selected k = 5"]
    assert "stability" in ax.get_ylabel() and "error" in ax.right_ax.get_ylabel()
    assert ax.get_xlabel() and ax.get_title()
    assert_clean(ax.figure)
    ticks = ax.get_xticks()
    assert np.all(ticks == np.round(ticks)) and set(ticks) <= set(table[U.K])


def test_k_selection_respects_ax_and_return_fig(result):
    fig, (a, b) = plt.subplots(1, 2)
    out = snmf.pl.k_selection(result, ax=b, show=False)
    assert out is b and b.lines and not a.lines
    assert out.right_ax.figure is fig
    fig = snmf.pl.k_selection(result, show=False, return_fig=True)
    assert isinstance(fig, plt.Figure)
    with pytest.raises(TypeError, match="Axes"):
        snmf.pl.k_selection(result, ax="left", show=False)


@pytest.fixture
def figdir(tmp_path):
    before = sc.settings.figdir  # a property of scanpy's settings: monkeypatch cannot undo it
    fmt = sc.settings.file_format_figs  # scanpy's default is pdf: save=True follows it
    sc.settings.figdir = tmp_path / "figs"  # does not exist yet: scanpy creates it
    sc.settings.file_format_figs = "png"
    yield sc.settings.figdir
    sc.settings.figdir = before
    sc.settings.file_format_figs = fmt


def test_save_true_writes_to_figdir_and_a_path_is_a_path(result, tmp_path, figdir):
    snmf.pl.k_selection(result, show=False, save=True)
    snmf.pl.consensus_clustergram(result, show=False, save=True)
    assert (figdir / "k_selection.png").stat().st_size > 0
    assert (figdir / "consensus_clustergram.png").stat().st_size > 0
    path = tmp_path / "choose.pdf"
    snmf.pl.k_selection(result, show=False, save=str(path))
    assert path.read_bytes()[:4] == b"%PDF"
    with pytest.raises(TypeError, match="save"):
        snmf.pl.k_selection(result, show=False, save=3)


def test_clustergram_strips_mark_programs_and_outliers(result):
    heat, hist = snmf.pl.consensus_clustergram(result, show=False)
    rep = result.uns["cnmf"][U.REPLICATES]
    np.testing.assert_array_equal(heat.images[0].get_array(), rep[U.CORRELATION])
    codes = rep[U.LABELS][rep[U.CORRELATION_INDEX]]
    fig = heat.figure
    strips = [a for a in fig.axes if a.images and a.images[0].get_array().ndim == 3]
    assert len(strips) == 2
    top = np.asarray(strips[0].images[0].get_array())[0]
    palette = [to_rgba(c) for c in sc.plotting.palettes.default_20[:5]]
    for code, rgba in zip(codes, top, strict=True):
        expected = (0, 0, 0, 1) if code < 0 else palette[code]
        np.testing.assert_allclose(rgba, expected)
    legends = [a.get_legend() for a in fig.axes if a.get_legend() is not None]
    entries = [t.get_text() for lg in legends for t in lg.get_texts()]
    assert [f"program {c}" for c in range(5)] == entries[:5]
    assert "filtered (outlier)" in entries
    threshold = result.uns["cnmf"][U.PARAMS]["density_threshold"]
    assert [line.get_xdata()[0] for line in hist.lines] == [threshold]
    n_kept = int(rep[U.KEPT].sum())
    assert hist.get_title().startswith(f"{n_kept} of {rep[U.KEPT].size} kept, 6 filtered")
    assert any(e.startswith("kept (") for e in entries) and "filtered (6)" in entries
    assert heat.get_xlabel() and hist.get_xlabel() and hist.get_ylabel()
    assert_clean(fig)
    assert isinstance(
        snmf.pl.consensus_clustergram(result, show=False, return_fig=True), plt.Figure
    )


def test_clustergram_palette_and_bad_options(result):
    colors = ["#111111", "#222222", "#333333", "#444444", "#555555"]
    heat, _ = snmf.pl.consensus_clustergram(result, palette=colors, show=False)
    strip = [a for a in heat.figure.axes if a.images and a.images[0].get_array().ndim == 3][0]
    kept_colors = {tuple(c) for c in np.asarray(strip.images[0].get_array())[0]}
    assert kept_colors <= {to_rgba(c) for c in colors} | {(0.0, 0.0, 0.0, 1.0)}
    with pytest.raises(ValueError, match="at least 5 colours"):
        snmf.pl.consensus_clustergram(result, palette=colors[:2], show=False)
    with pytest.raises(ValueError, match="colormap"):
        snmf.pl.consensus_clustergram(result, palette="no-such-map", show=False)
    with pytest.raises(ValueError, match="colormap"):
        snmf.pl.consensus_clustergram(result, cmap="no-such-map", show=False)
    with pytest.raises(TypeError, match="ax"):
        snmf.pl.consensus_clustergram(result, ax=plt.gca(), show=False)


def test_missing_or_broken_results_name_the_fix(result):
    empty = ad.AnnData(np.zeros((3, 2), np.float32))
    for plot in (snmf.pl.k_selection, snmf.pl.consensus_clustergram):
        with pytest.raises(KeyError, match=r"run scnmf\.tl\.consensus_nmf"):
            plot(empty, show=False)
        with pytest.raises(KeyError, match="key_added='other'"):
            plot(result, key="other", show=False)
    broken = result.copy()
    del broken.uns["cnmf"][U.REPLICATES][U.LABELS]
    with pytest.raises(KeyError, match="labels"):
        snmf.pl.consensus_clustergram(broken, show=False)
    broken = result.copy()
    del broken.uns["cnmf"][U.PARAMS]["density_threshold"]
    with pytest.raises(KeyError, match="density_threshold"):
        snmf.pl.consensus_clustergram(broken, show=False)
    broken = result.copy()
    broken.uns["cnmf"][U.K_SELECTION][U.ERROR] = np.ones(2)
    with pytest.raises(ValueError, match="rerun"):
        snmf.pl.k_selection(broken, show=False)


def test_plots_leave_the_anndata_unchanged(result):
    before = copy.deepcopy(result.uns["cnmf"])
    snmf.pl.k_selection(result, show=False)
    snmf.pl.consensus_clustergram(result, show=False)
    rep, old = result.uns["cnmf"][U.REPLICATES], before[U.REPLICATES]
    for field in U.REPLICATE_FIELDS:
        np.testing.assert_array_equal(rep[field], old[field])
    assert result.uns["cnmf"][U.PARAMS].keys() == before[U.PARAMS].keys()
    assert result.uns["cnmf"][U.K] == before[U.K]


def test_many_ks_and_programs_stay_legible():
    big = consensus_adata(ks=range(2, 42), k=20, n_replicates=100, n_outliers=40, n_vars=60)
    ax = snmf.pl.k_selection(big, show=False)
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert not overlapping(ax.get_xticklabels(), renderer)
    assert 5 <= len(ax.get_xticks()) < 40
    heat, hist = snmf.pl.consensus_clustergram(big, show=False)
    fig = heat.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert heat.images[0].get_array().shape == (2000, 2000)
    for a in fig.axes:
        assert not overlapping(a.get_xticklabels() + a.get_yticklabels(), renderer)
        if a.get_legend() is not None:
            assert not overlapping(a.get_legend().get_texts(), renderer)
    labels = [a.xaxis.label for a in fig.axes] + [a.title for a in fig.axes]
    assert not overlapping(labels, renderer)
    assert_clean(fig)


def test_forty_programs_get_a_legend_that_overlaps_no_panel():
    big = consensus_adata(ks=range(2, 42), k=40, n_replicates=50, n_outliers=40, n_vars=80)
    heat, hist = snmf.pl.consensus_clustergram(big, show=False)
    fig = heat.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    (legend,) = [a.get_legend() for a in fig.axes if a.get_legend() is not None and a is not hist]
    assert len(legend.get_texts()) == 41 and not overlapping(legend.get_texts(), renderer)
    box = legend.get_window_extent(renderer)
    panels = [a for a in fig.axes if a.axison and a is not legend.axes]
    assert len(panels) == 5  # heatmap, two strips, colorbar, histogram
    for a in panels:
        assert not box.overlaps(a.get_tightbbox(renderer))


def _consensus_available() -> bool:
    try:
        from scnmf._core.consensus import fit_consensus  # noqa: F401
    except ImportError:
        return False
    return hasattr(snmf.tl, "consensus_nmf")


@pytest.mark.skipif(not _consensus_available(), reason="tl.consensus_nmf is not complete yet")
def test_plots_of_a_real_fit():
    adata = snmf.datasets.synthetic_counts(n_cells=150, n_genes=60, n_programs=3, n_types=3)
    snmf.tl.consensus_nmf(adata, [2, 3, 4], n_replicates=5, max_iter=100, random_state=0)
    ax = snmf.pl.k_selection(adata, show=False)
    assert list(ax.lines[0].get_xdata()) == [2, 3, 4]
    heat, hist = snmf.pl.consensus_clustergram(adata, show=False)
    rep = adata.uns["cnmf"][U.REPLICATES]
    assert heat.images[0].get_array().shape == rep[U.CORRELATION].shape
    assert_clean(heat.figure)
