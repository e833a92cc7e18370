"""get.activities / get.programs / get.program_names on every kind of result, and names."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import scnmf as snmf
from scnmf import _keys as C
from scnmf.get import gene_specificity

N_PER, K, BLOCK = 20, 3, 8
HOUSEKEEPING = "MALAT1"


def _blocks(seed: int = 0) -> ad.AnnData:
    """Three cell types with a block of genes each, and one gene high in every cell."""
    rng = np.random.default_rng(seed)
    n_genes = K * BLOCK + 6
    rates = np.full((N_PER * K, n_genes), 0.3)
    for t in range(K):
        rates[t * N_PER : (t + 1) * N_PER, t * BLOCK : (t + 1) * BLOCK] = 5.0
    rates[:, -1] = 30.0  # housekeeping: expressed by every cell, in every program
    X = rng.poisson(rates).astype(np.float32)
    obs = pd.DataFrame(
        {"type": pd.Categorical(np.repeat(list("ABC"), N_PER))},
        index=[f"cell{i}" for i in range(N_PER * K)],
    )
    var = pd.DataFrame(index=[*(f"g{j}" for j in range(n_genes - 1)), HOUSEKEEPING])
    return ad.AnnData(sp.csr_matrix(X), obs=obs, var=var)


@pytest.fixture(scope="module")
def fitted() -> ad.AnnData:
    """One AnnData holding a result of every kind."""
    adata = _blocks()
    snmf.tl.nmf(adata, K, beta_loss="kullback-leibler", max_iter=200)
    snmf.tl.gnmf(adata, K, max_iter=30)
    snmf.tl.persistence(adata, n_scales=3)
    snmf.tl.pnmf(adata, K, n_sweeps=1, max_inner_iter=20)
    snmf.tl.deep_nmf(adata, (4, 2), n_init_iter=20, max_iter=10)
    snmf.tl.consensus_nmf(adata, [2, 3], n_replicates=4, max_iter=100)
    return adata


def _cases(adata):
    """(key, selection, stored activities, stored programs) of every result kind."""
    pn, dk = C.pnmf_keys("pnmf"), C.deep_keys("deep_nmf")
    T = adata.obsm[pn.obsm_scales].shape[1]
    cases = [
        ("nmf", {}, adata.obsm["X_nmf"], adata.varm["nmf_loadings"]),
        ("gnmf", {}, adata.obsm["X_gnmf"], adata.varm["gnmf_loadings"]),
        ("cnmf", {}, adata.obsm["X_cnmf"], adata.varm["cnmf_programs"]),
        ("pnmf", {}, adata.obsm["X_pnmf"], adata.varm[pn.varm][:, 0]),
    ]
    cases += [
        ("pnmf", {"scale": t}, adata.obsm[pn.obsm_scales][:, t], adata.varm[pn.varm][:, t])
        for t in range(T)
    ]
    cases += [
        ("deep_nmf", {"layer": ell}, adata.obsm[dk.obsm(ell)], adata.varm[dk.varm(ell)])
        for ell in (1, 2)
    ]
    cases.append(("deep_nmf_l2", {}, adata.obsm[dk.obsm(2)], adata.varm[dk.varm(2)]))
    return cases


@pytest.fixture(scope="module")
def cases(fitted):
    return _cases(fitted)


def test_activities_indexed_like_the_anndata_for_every_result(fitted, cases):
    for key, sel, stored, _ in cases:
        table = snmf.get.activities(fitted, key, **sel)
        assert table.index.equals(fitted.obs_names), (key, sel)
        names = snmf.get.program_names(fitted, key, **sel)
        assert list(table.columns) == names and len(names) == stored.shape[1]
        np.testing.assert_array_equal(table.to_numpy(), np.asarray(stored, dtype=np.float64))
        assert table.dtypes.eq(np.float64).all()


def test_default_names_follow_the_key(fitted):
    assert snmf.get.program_names(fitted, "nmf") == ["nmf_0", "nmf_1", "nmf_2"]
    assert snmf.get.program_names(fitted, "pnmf", scale=1) == ["pnmf_0", "pnmf_1", "pnmf_2"]
    assert snmf.get.program_names(fitted, "deep_nmf") == [f"deep_nmf_l1_{j}" for j in range(4)]
    assert snmf.get.program_names(fitted, "deep_nmf", layer=2) == ["deep_nmf_l2_0", "deep_nmf_l2_1"]
    assert snmf.get.program_names(fitted, "cnmf") == [f"cnmf_{j}" for j in range(3)]


def test_pnmf_default_scale_is_the_reference_scale(fitted):
    ref = int(fitted.uns["pnmf"]["reference_scale"])
    default = snmf.get.activities(fitted, "pnmf")
    pd.testing.assert_frame_equal(default, snmf.get.activities(fitted, "pnmf", scale=ref))
    pd.testing.assert_frame_equal(
        snmf.get.programs(fitted, "pnmf"), snmf.get.programs(fitted, "pnmf", scale=ref)
    )


def test_normalized_activities_are_fractions(fitted):
    table = snmf.get.activities(fitted, "nmf", normalize=True)
    np.testing.assert_allclose(table.sum(axis=1), 1.0, rtol=1e-12)
    raw = snmf.get.activities(fitted, "nmf")
    np.testing.assert_allclose(table, raw.div(raw.sum(axis=1), axis=0))


def test_tables_are_copies(fitted):
    table = snmf.get.activities(fitted, "nmf")
    before = fitted.obsm["X_nmf"].copy()
    table.iloc[:, :] = -1.0
    np.testing.assert_array_equal(fitted.obsm["X_nmf"], before)


def test_programs_long_table_for_every_result(fitted, cases):
    for key, sel, _, loadings in cases:
        for method in ("loading", "specificity"):
            table = snmf.get.programs(fitted, key, n_genes=5, method=method, **sel)
            names = snmf.get.program_names(fitted, key, **sel)
            assert list(table.columns) == ["program", "gene", "score", "rank"]
            assert len(table) == 5 * len(names) and table.index.equals(pd.RangeIndex(len(table)))
            assert list(table["program"].cat.categories) == names
            assert set(table["gene"]) <= set(fitted.var_names)
            assert table["rank"].tolist() == [1, 2, 3, 4, 5] * len(names)
            for j, name in enumerate(names):
                block = table[table["program"] == name]
                assert block["score"].is_monotonic_decreasing, (key, sel, method)
                if method == "loading":  # scores are the stored loadings of those genes
                    rows = fitted.var_names.get_indexer(block["gene"])
                    np.testing.assert_array_equal(block["score"], np.asarray(loadings)[rows, j])
                    assert block["score"].iloc[0] == np.asarray(loadings)[:, j].max()


def test_consensus_specificity_is_its_stored_gene_scores(fitted):
    table = snmf.get.programs(fitted, "cnmf", n_genes=None, method="specificity")
    scores = fitted.varm["cnmf_gene_scores"]
    first = table[table["program"] == "cnmf_0"]
    rows = fitted.var_names.get_indexer(first["gene"])
    np.testing.assert_array_equal(first["score"], scores[rows, 0])
    assert len(first) == fitted.n_vars


def test_specificity_demotes_a_gene_every_program_loads():
    L = np.array(
        [
            [0.3, 0.3, 0.3],  # loads every program equally: the largest loading of each
            [0.2, 0.0, 0.0],  # specific to program 0
            [0.0, 0.2, 0.01],  # specific to program 1 (a little in 2)
            [0.0, 0.0, 0.2],
            [0.5, 0.5, 0.49],  # the rest of the mass, shared (every program sums to 1)
        ]
    )
    assert (L.argmax(axis=0) == 4).all()  # by loading the shared gene tops every program
    S = gene_specificity(L)
    assert S.shape == L.shape and np.allclose(S[0], 0.0) and np.abs(S[4]).max() < 0.01
    assert list(S.argmax(axis=0)) == [1, 2, 3]
    assert S[2, 2] < 0  # program 1 holds more of gene 2 than program 2 does
    # invariant to rescaling programs (NMF's W·D, D⁻¹·H freedom)
    np.testing.assert_allclose(gene_specificity(L * [1.0, 10.0, 0.01]), S)
    np.testing.assert_array_equal(gene_specificity(np.ones((4, 1))), np.full((4, 1), 0.25))


def test_specificity_keeps_a_housekeeping_gene_off_the_top_of_real_programs(fitted):
    by_loading = snmf.get.programs(fitted, "nmf", n_genes=1)
    assert (by_loading["gene"] == HOUSEKEEPING).sum() >= 2  # tops most programs by loading
    specific = snmf.get.programs(fitted, "nmf", n_genes=BLOCK, method="specificity")
    assert HOUSEKEEPING not in set(specific["gene"])
    for name in snmf.get.program_names(fitted, "nmf"):  # each program's block genes instead
        genes = specific.loc[specific["program"] == name, "gene"]
        blocks = {int(g[1:]) // BLOCK for g in genes}
        assert len(blocks) == 1


def test_gene_specificity_checks_its_input():
    with pytest.raises(ValueError, match="genes × programs"):
        gene_specificity(np.ones(3))
    with pytest.raises(ValueError, match="nonnegative"):
        gene_specificity(-np.ones((3, 2)))
    with pytest.raises(ValueError, match="finite"):
        gene_specificity(np.full((3, 2), np.nan))


def test_names_are_stored_and_used_by_every_table(fitted, tmp_path):
    adata = fitted.copy()
    snmf.tl.rename_programs(adata, "nmf", ["B-ish", "T-ish", "NK-ish"])
    snmf.tl.rename_programs(adata, "deep_nmf", ["coarse a", "coarse b"], layer=2)
    snmf.tl.rename_programs(adata, "pnmf", np.array(["p", "q", "r"]))
    assert list(adata.uns["nmf"]["program_names"]) == ["B-ish", "T-ish", "NK-ish"]
    path = tmp_path / "named.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    for a in (adata, back):
        assert snmf.get.program_names(a, "nmf") == ["B-ish", "T-ish", "NK-ish"]
        assert list(snmf.get.activities(a, "nmf").columns) == ["B-ish", "T-ish", "NK-ish"]
        top = snmf.get.programs(a, "nmf", n_genes=2, method="specificity")
        assert list(top["program"].cat.categories) == ["B-ish", "T-ish", "NK-ish"]
        assert snmf.get.program_names(a, "deep_nmf", layer=2) == ["coarse a", "coarse b"]
        assert snmf.get.program_names(a, "deep_nmf_l2") == ["coarse a", "coarse b"]
        assert snmf.get.program_names(a, "deep_nmf", layer=1)[0] == "deep_nmf_l1_0"
        assert list(snmf.get.activities(a, "pnmf", scale=2).columns) == ["p", "q", "r"]
    assert snmf.get.program_names(fitted, "nmf") == ["nmf_0", "nmf_1", "nmf_2"]  # copy only


def test_rename_copy_leaves_the_input_as_it_was(fitted):
    out = snmf.tl.rename_programs(fitted, "gnmf", ["x", "y", "z"], copy=True)
    assert snmf.get.program_names(out, "gnmf") == ["x", "y", "z"]
    assert "program_names" not in fitted.uns["gnmf"]


def test_a_refit_drops_the_names_of_the_old_programs():
    adata = _blocks(1)
    snmf.tl.nmf(adata, 2, max_iter=20)
    snmf.tl.rename_programs(adata, "nmf", ["a", "b"])
    snmf.tl.nmf(adata, 3, max_iter=20)
    assert snmf.get.program_names(adata, "nmf") == ["nmf_0", "nmf_1", "nmf_2"]


def test_projected_activities_use_the_names_of_their_record(fitted):
    adata = fitted.copy()
    U = C.ProjectUns
    names = np.array(["u", "v", "w"])
    adata.obsm["X_nmf_projected"] = adata.obsm["X_nmf"] * 2
    adata.uns["nmf_projected"] = {U.REFERENCE_KEY: "nmf", U.PROGRAM_NAMES: names}
    table = snmf.get.activities(adata, "nmf_projected")
    assert list(table.columns) == list(names) and table.index.equals(adata.obs_names)
    with pytest.raises(ValueError, match="activities only"):
        snmf.get.programs(adata, "nmf_projected")


def test_plain_varm_matrix_has_programs_only(fitted):
    adata = fitted.copy()
    adata.varm["my_programs"] = adata.varm["nmf_loadings"][:, :2]
    table = snmf.get.programs(adata, "my_programs", n_genes=3)
    assert list(table["program"].cat.categories) == ["my_programs_0", "my_programs_1"]
    with pytest.raises(ValueError, match="programs only"):
        snmf.get.activities(adata, "my_programs")
