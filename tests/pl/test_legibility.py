"""Legible at any size (issue 17): with 10 or 1,000 scales, labels, programs or categories,
no two drawn texts of a figure overlap (their boxes are compared after ``canvas.draw()``),
and the labels that matter most are the ones kept."""

from __future__ import annotations

import anndata as ad
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import scnmf as snmf  # noqa: E402
from scnmf.pl._legible import visible_texts  # noqa: E402


def overlapping(fig) -> list[tuple[str, str]]:
    """Pairs of drawn texts of ``fig`` whose boxes overlap."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = visible_texts(fig)
    boxes = np.array([list(t.get_window_extent(renderer).extents) for t in texts])
    x0, y0, x1, y1 = boxes.T
    hit = (
        (x0[:, None] < x1[None, :])
        & (x0[None, :] < x1[:, None])
        & (y0[:, None] < y1[None, :])
        & (y0[None, :] < y1[:, None])
    )
    i, j = np.nonzero(np.triu(hit, k=1))
    return [(texts[a].get_text(), texts[b].get_text()) for a, b in zip(i, j, strict=True)]


def figure_of(out):
    return (out.flat[0] if isinstance(out, np.ndarray) else out).figure


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def cloud() -> ad.AnnData:
    """1,000 cells: 1,000 scales with scales='all', and 10 selected ones under 'ten'."""
    rng = np.random.default_rng(0)
    adata = ad.AnnData(rng.normal(size=(1000, 2)).astype(np.float32))
    snmf.tl.persistence(adata, use_rep="X", scales="all")
    snmf.tl.persistence(adata, use_rep="X", n_scales=10, key_added="ten")
    return adata


@pytest.mark.parametrize("name", ["barcode", "persistence", "persistence_diagram"])
@pytest.mark.parametrize("key", ["persistence", "ten"])
def test_persistence_figures_read_with_10_or_1000_scales(cloud, name, key):
    n_scales = cloud.uns[key]["scales"].size
    assert n_scales == (1000 if key == "persistence" else 10)
    out = getattr(snmf.pl, name)(cloud, key=key, show=False)
    fig = figure_of(out)
    assert not overlapping(fig)
    labels = [t for a in fig.axes for t in a.texts if t.get_visible() and "∞" not in t.get_text()]
    # thinned where scales crowd (ten scales of a Gaussian cloud sit at small ε)
    assert 4 <= len(labels) <= n_scales
    counts = {str(int(c)) for c in cloud.uns[key]["n_components"]}
    # the finest and the coarsest scale are always labelled
    shown = {t.get_text().removeprefix("β0=") for t in labels}
    assert {"1", str(int(cloud.uns[key]["n_components"][0]))} <= shown <= counts


def _deep(r1: int, r2: int, n_obs: int = 300, n_vars: int = 60, seed: int = 0) -> ad.AnnData:
    """A two-layer result laid out as tl.deep_nmf stores it (docs/architecture.md)."""
    rng = np.random.default_rng(seed)
    adata = ad.AnnData(
        np.zeros((n_obs, n_vars), np.float32),
        obs=pd.DataFrame(
            {"type": pd.Categorical(rng.choice([f"type {i}" for i in range(6)], n_obs))},
            index=[f"c{i}" for i in range(n_obs)],
        ),
        var=pd.DataFrame(index=[f"GENE{j}" for j in range(n_vars)]),
    )
    for ell, r in ((1, r1), (2, r2)):
        adata.obsm[f"X_deep_nmf_l{ell}"] = rng.gamma(0.5, 1.0, (n_obs, r))
        adata.varm[f"deep_nmf_l{ell}"] = rng.gamma(0.3, 1.0, (n_vars, r))
    adata.uns["deep_nmf"] = {
        "ranks": np.array([r1, r2]),
        "H": {"2": rng.dirichlet(np.full(r2, 0.2), r1).T},
        "errors": {"deep": np.ones(2)},
    }
    return adata


@pytest.mark.parametrize(("r1", "labels"), [(10, "type"), (10, "genes"), (1000, "type")])
def test_deep_hierarchy_reads_with_10_or_1000_programs(r1, labels):
    adata = _deep(r1, 8)
    ax = snmf.pl.deep_hierarchy(adata, labels=labels, min_flow=0.3, show=False)
    assert not overlapping(ax.figure)
    shown = [t for t in ax.texts if t.get_visible()]
    assert len(ax.texts) == r1 + 8 and len(shown) >= min(r1, 10)
    assert ax.figure.get_figheight() <= 16  # the column stops growing: labels thin
    if r1 == 10:
        assert len(shown) == 18  # labels move apart (leader lines) rather than vanish


@pytest.mark.parametrize("n_genes", [10, 1000])
def test_loadings_read_with_10_or_1000_genes(n_genes):
    rng = np.random.default_rng(0)
    adata = ad.AnnData(np.zeros((5, 1000), np.float32))
    adata.var_names = [f"GENE{j}" for j in range(1000)]
    adata.varm["nmf_loadings"] = rng.gamma(0.5, 1.0, (1000, 3))
    axes = snmf.pl.loadings(adata, n_genes=n_genes, components=[0, 2], show=False)
    fig = figure_of(axes)
    assert not overlapping(fig)
    assert fig.get_figheight() < 12  # the panel stops growing; names thin instead
    for comp, ax in zip([0, 2], axes.flat, strict=True):
        names = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
        top = adata.var_names[np.argmax(adata.varm["nmf_loadings"][:, comp])]
        assert names[-1] == top  # the top gene always named
        assert len(names) == n_genes if n_genes == 10 else 20 <= len(names) < n_genes


@pytest.mark.parametrize(
    ("n_types", "legend_loc"),
    [(10, "right margin"), (1000, "right margin"), (10, "on data"), (40, "on data")],
)
def test_scale_path_reads_with_1000_cells_and_many_categories(n_types, legend_loc):
    adata = snmf.datasets.concentric_circles(random_state=0)
    snmf.tl.persistence(adata, use_rep="X", n_scales=4)
    snmf.tl.pnmf(adata, 2, n_sweeps=1, max_inner_iter=10)
    big = ad.AnnData(np.zeros((1000, adata.n_vars), np.float32))  # 1,000 cells, 4 scales
    rng = np.random.default_rng(0)
    big.obsm["X_pnmf_scales"] = adata.obsm["X_pnmf_scales"][rng.integers(0, adata.n_obs, 1000)]
    big.uns["pnmf"] = {
        k: v for k, v in adata.uns["pnmf"].items() if k in ("scales", "reference_scale", "params")
    }
    big.uns["pnmf"]["n_components"] = np.minimum(adata.uns["pnmf"]["n_components"] * 12, 1000)
    big.obs["type"] = pd.Categorical(rng.integers(0, n_types, 1000).astype(str))
    axes = snmf.pl.scale_path(big, color="type", legend_loc=legend_loc, show=False)
    fig = figure_of(axes)
    assert not overlapping(fig)
    if legend_loc == "right margin":
        entries = [t.get_text() for t in fig.legends[0].get_texts()]
        assert len(entries) == min(n_types, 60)
        if n_types > 60:
            assert entries[-1].endswith("smaller categories")


def test_k_selection_reads_with_1000_ks():
    from tests.pl.test_consensus_plots import consensus_adata

    adata = consensus_adata(ks=range(2, 1002), k=20, n_replicates=5, n_outliers=4)
    ax = snmf.pl.k_selection(adata, show=False)
    assert not overlapping(ax.figure)
    assert 5 <= len(ax.get_xticks()) < 30
