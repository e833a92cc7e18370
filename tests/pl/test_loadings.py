import matplotlib.pyplot as plt
import numpy as np
import pytest

import scnmf as snmf


@pytest.fixture
def fitted(adata):
    snmf.tl.nmf(adata, 3, max_iter=10)
    return adata


def test_loadings_plot_shows_top_genes(fitted):
    axes = snmf.pl.loadings(fitted, n_genes=4, show=False)
    assert axes.size >= 3
    first = axes.flat[0]
    labels = [t.get_text() for t in first.get_yticklabels()]
    table = snmf.get.programs(fitted, n_genes=4)
    top = table[table["program"] == "nmf_0"]["gene"].tolist()
    assert labels[::-1] == top
    fig = snmf.pl.loadings(fitted, components=[1], show=False, return_fig=True)
    assert isinstance(fig, plt.Figure)
    plt.close("all")


def test_loss_plot_reads_history(fitted):
    ax = snmf.pl.loss(fitted, show=False)
    ydata = ax.lines[0].get_ydata()
    np.testing.assert_allclose(ydata, fitted.uns["nmf"]["loss"])
    plt.close("all")


def test_plots_before_tl_raise_keyerror(adata):
    with pytest.raises(KeyError, match="tl.nmf"):
        snmf.pl.loadings(adata, show=False)
    with pytest.raises(KeyError, match="tl.nmf"):
        snmf.pl.loss(adata, show=False)
    with pytest.raises(KeyError, match="tl.nmf"):
        snmf.get.programs(adata)


def test_loadings_bad_component(fitted):
    with pytest.raises(ValueError, match="out of range"):
        snmf.pl.loadings(fitted, components=[7], show=False)


def test_programs_reads_plain_varm_key(fitted):
    fitted.varm["layer_programs"] = fitted.varm["nmf_loadings"][:, :2]
    table = snmf.get.programs(fitted, key="layer_programs", n_genes=3)
    assert list(table["program"].cat.categories) == ["layer_programs_0", "layer_programs_1"]
    assert len(table) == 6
