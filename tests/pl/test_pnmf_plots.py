import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import scnmf as snmf  # noqa: E402


@pytest.fixture(scope="module")
def fitted():
    adata = snmf.datasets.concentric_circles()
    snmf.tl.persistence(adata, n_scales=5)
    snmf.tl.pnmf(adata, 3, n_sweeps=1, max_inner_iter=30)
    return adata


def test_persistence_plots_mark_scales(fitted):
    ax = snmf.pl.persistence_diagram(fitted, show=False)
    assert ax.get_xlabel() == "birth"
    marks = [line for line in ax.get_lines() if line.get_color() == "#e67e22"]
    assert len(marks) == fitted.uns["persistence"]["scales"].size
    fig, ax2 = plt.subplots()
    out = snmf.pl.barcode(fitted, ax=ax2, show=False)
    assert out is ax2
    assert sum(line.get_color() == "#e67e22" for line in ax2.get_lines()) == 5
    fig = snmf.pl.barcode(fitted, max_bars=10, show=False, return_fig=True)
    assert isinstance(fig, plt.Figure)
    plt.close("all")


def test_scale_path_panels_and_alluvial(fitted):
    axes = snmf.pl.scale_path(fitted, color="label", show=False)
    assert len(axes) == 5 + 1  # one panel per scale + the alluvial
    assert axes[-1].get_title().startswith("clusters")
    axes = snmf.pl.scale_path(fitted, scales=[0, 4], alluvial=False, show=False)
    assert len(axes) == 2
    with pytest.raises(ValueError, match="out of range"):
        snmf.pl.scale_path(fitted, scales=[7], show=False)
    with pytest.raises(KeyError, match="nope"):
        snmf.pl.scale_path(fitted, color="nope", show=False)
    plt.close("all")


def test_plots_need_results():
    adata = snmf.datasets.concentric_circles()
    with pytest.raises(KeyError, match="tl.persistence"):
        snmf.pl.barcode(adata, show=False)
    with pytest.raises(KeyError, match="tl.pnmf"):
        snmf.pl.scale_path(adata, show=False)
    assert np.isfinite(adata.X).all()
