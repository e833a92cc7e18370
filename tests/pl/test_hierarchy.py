import matplotlib
import numpy as np
import pytest

import scnmf as snmf
from scnmf.pl._hierarchy import hierarchy_flows

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def fitted():
    adata = snmf.datasets.two_level_hierarchy(n_cells=200, n_genes=150, random_state=1)
    snmf.tl.deep_nmf(adata, (6, 3, 2), n_init_iter=40, max_iter=30, multilayer_baseline=True)
    return adata


def test_flows_conserve_mass(fitted):
    masses, flows = hierarchy_flows(fitted)
    assert [m.size for m in masses] == [6, 3, 2]
    for m in masses:
        np.testing.assert_allclose(m.sum(), 1.0)
    for ell, F in enumerate(flows):
        assert F.shape == (masses[ell].size, masses[ell + 1].size) and F.min() >= 0
        # rows of H sum to one, so what a program receives is exactly its mass
        np.testing.assert_allclose(F.sum(axis=0), masses[ell + 1], atol=1e-4)


@pytest.mark.parametrize("labels", ["genes", "fine"])
def test_deep_hierarchy_draws(fitted, labels):
    import matplotlib.pyplot as plt

    ax = snmf.pl.deep_hierarchy(fitted, labels=labels, show=False)
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 6 + 3 + 2
    if labels == "fine":
        assert any("%" in t for t in texts)
    else:
        assert any("gene" in t for t in texts)
    # nodes plus at least one band per fine program (drawn as polygon collections)
    assert sum(len(c.get_paths()) for c in ax.collections) >= 11 + 6
    fig = snmf.pl.deep_hierarchy(fitted, show=False, return_fig=True)
    assert isinstance(fig, matplotlib.figure.Figure)
    plt.close("all")


def test_layer_errors(fitted):
    import matplotlib.pyplot as plt

    ax = snmf.pl.layer_errors(fitted, show=False)
    assert len(ax.patches) == 2 * 3
    _, given = plt.subplots()
    ax = snmf.pl.layer_errors(fitted, relative=True, ax=given, show=False)
    assert ax is given and len(ax.patches) == 3
    plt.close("all")


def test_missing_results_and_bad_labels(fitted):
    bare = snmf.datasets.two_level_hierarchy(n_cells=50, n_genes=100)
    with pytest.raises(KeyError, match="tl.deep_nmf"):
        snmf.pl.deep_hierarchy(bare, show=False)
    with pytest.raises(KeyError, match="not_a_column"):
        snmf.pl.deep_hierarchy(fitted, labels="not_a_column", show=False)
