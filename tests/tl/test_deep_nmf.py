import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp

import scnmf as snmf
from scnmf import _keys as C

U = C.DeepUns
UNS_DEEP, UNS_ERRORS, UNS_H, UNS_MULTILAYER = U.DEEP, U.ERRORS, U.H, U.MULTILAYER

KEY = C.DEEP_NMF_KEY
FAST = {"n_init_iter": 20, "max_iter": 10}


@pytest.fixture(scope="module")
def planted():
    """Two-level hierarchy (6 fine types in 3 coarse ones), fitted once for several tests."""
    adata = snmf.datasets.two_level_hierarchy(n_cells=300, n_genes=200, random_state=0)
    snmf.tl.deep_nmf(adata, (6, 3), n_init_iter=150, max_iter=60, multilayer_baseline=True)
    return adata


def _snapshot(adata):
    X = adata.X.toarray() if sp.issparse(adata.X) else np.array(adata.X)
    return (
        X.copy(),
        sorted(adata.obsm.keys()),
        sorted(adata.varm.keys()),
        sorted(adata.uns.keys()),
        list(adata.obs.columns),
    )


def test_writes_contract(planted):
    ranks = (6, 3)
    for ell, r in enumerate(ranks, start=1):
        act = planted.obsm[C.layer_obsm_key(KEY, ell)]
        prog = planted.varm[C.layer_key(KEY, ell)]
        assert act.shape == (planted.n_obs, r) and prog.shape == (planted.n_vars, r)
        assert act.dtype == np.float32 and act.min() >= 0 and prog.min() >= 0
        np.testing.assert_allclose(act.sum(axis=0), 1.0, rtol=1e-4)  # rows of H_l…H_1
        clusters = planted.obs[C.layer_key(KEY, ell)]
        assert isinstance(clusters.dtype, pd.CategoricalDtype)
        assert list(clusters.cat.categories) == [str(k) for k in range(r)]
    uns = planted.uns[KEY]
    np.testing.assert_array_equal(uns["ranks"], ranks)
    assert set(uns[UNS_H]) == {"2"} and uns[UNS_H]["2"].shape == (3, 6)
    np.testing.assert_allclose(uns[UNS_H]["2"].sum(axis=1), 1.0, atol=1e-8)
    assert uns[UNS_ERRORS][UNS_DEEP].shape == (2,) and uns[UNS_ERRORS][UNS_MULTILAYER].shape == (2,)
    assert len(uns["loss"]) == uns["n_iter"] + 1 and np.all(np.diff(uns["loss"]) <= 0)
    # obsm @ varmᵀ approximates the data at every layer
    X = planted.X.toarray()
    for ell in (1, 2):
        fit = planted.obsm[C.layer_obsm_key(KEY, ell)] @ planted.varm[C.layer_key(KEY, ell)].T
        assert np.corrcoef(fit.ravel(), X.ravel())[0, 1] > 0.8


def test_planted_hierarchy_recovered(planted):
    from sklearn.metrics import adjusted_rand_score

    l1 = np.asarray(planted.obs[C.layer_key(KEY, 1)])
    l2 = np.asarray(planted.obs[C.layer_key(KEY, 2)])
    assert adjusted_rand_score(planted.obs["fine"], l1) > 0.9
    assert adjusted_rand_score(planted.obs["coarse"], l2) > 0.9
    # every layer-2 cluster is a union of layer-1 clusters (up to borderline cells), and the
    # merge matrix H_2 sends each fine program to the coarse program its cells end up in
    table = pd.crosstab(l1, l2)
    assert (table.max(axis=1) / table.sum(axis=1)).min() >= 0.95
    parent = np.argmax(planted.uns[KEY][UNS_H]["2"], axis=0)
    for k, row in table.iterrows():
        assert row.idxmax() == str(parent[int(k)])
    assert sorted(set(parent)) == [0, 1, 2]


def test_deep_beats_multilayer_deeper_down(planted):
    errors = planted.uns[KEY][UNS_ERRORS]
    ratio = errors[UNS_DEEP] / errors[UNS_MULTILAYER]
    assert ratio[0] > 1.0 and ratio[1] < 0.7


def test_h5ad_round_trip(planted, tmp_path):
    path = tmp_path / "deep.h5ad"
    planted.write_h5ad(path)
    back = sc.read_h5ad(path)
    for ell in (1, 2):
        np.testing.assert_array_equal(
            back.obsm[C.layer_obsm_key(KEY, ell)], planted.obsm[C.layer_obsm_key(KEY, ell)]
        )
        np.testing.assert_array_equal(
            back.varm[C.layer_key(KEY, ell)], planted.varm[C.layer_key(KEY, ell)]
        )
        assert back.obs[C.layer_key(KEY, ell)].equals(planted.obs[C.layer_key(KEY, ell)])
    a, b = planted.uns[KEY], back.uns[KEY]
    np.testing.assert_array_equal(a[UNS_H]["2"], b[UNS_H]["2"])
    np.testing.assert_array_equal(a[UNS_ERRORS][UNS_DEEP], b[UNS_ERRORS][UNS_DEEP])
    np.testing.assert_array_equal(a["loss"], b["loss"])
    assert a["params"].keys() == b["params"].keys()


def test_same_seed_identical_and_copy(adata):
    a = snmf.tl.deep_nmf(adata, (4, 2), random_state=3, copy=True, **FAST)
    b = snmf.tl.deep_nmf(adata, (4, 2), random_state=3, copy=True, **FAST)
    assert C.layer_obsm_key(KEY, 1) not in adata.obsm  # copy=True leaves the input alone
    for ell in (1, 2):
        np.testing.assert_array_equal(
            a.obsm[C.layer_obsm_key(KEY, ell)], b.obsm[C.layer_obsm_key(KEY, ell)]
        )


def test_min_volume_mask_and_key(adata):
    mask = np.zeros(adata.n_vars, dtype=bool)
    mask[:50] = True
    snmf.tl.deep_nmf(
        adata,
        (4, 2),
        min_volume=True,
        mask_var=mask,
        key_added="mv",
        multilayer_baseline=False,
        **FAST,
    )
    prog = adata.varm[C.layer_key("mv", 1)]
    assert np.all(prog[~mask] == 0)
    np.testing.assert_allclose(prog[mask].sum(axis=0), 1.0, rtol=1e-5)  # columns of W sum to 1
    assert UNS_MULTILAYER not in adata.uns["mv"][UNS_ERRORS]
    assert adata.uns["mv"]["alphas"].min() > 0


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"ranks": (4, 4)}, ValueError, "strictly decreasing"),
        ({"ranks": (2, 5)}, ValueError, "strictly decreasing"),
        ({"ranks": (500, 3)}, ValueError, "impossible"),
        ({"ranks": (4, 0)}, ValueError, "ranks"),  # was checked in core too (issue 12)
        ({"ranks": (4, 2), "beta_loss": "itakura-saito"}, ValueError, "supports"),
        ({"ranks": (4, 2), "beta_loss": 0.0}, ValueError, "supports"),  # idem
        ({"ranks": (4, 2), "beta_loss": "frobenius", "min_volume": True}, ValueError, "β = 1"),
        ({"ranks": (4, 2), "alpha": -1}, ValueError, "alpha"),
        ({"ranks": (4, 2), "layer": "missing"}, KeyError, "missing"),
        ({"ranks": "abc"}, ValueError, "ranks"),
    ],
)
def test_bad_input_leaves_adata_unchanged(adata, kwargs, error, match):
    snap = _snapshot(adata)
    with pytest.raises(error, match=match):
        snmf.tl.deep_nmf(adata, **kwargs, **FAST)
    now = _snapshot(adata)
    np.testing.assert_array_equal(now[0], snap[0])
    assert now[1:] == snap[1:]
