"""get.marker_overlap: program top genes against sc.tl.rank_genes_groups markers."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp

import scnmf as snmf


@pytest.fixture(scope="module")
def ranked():
    """Three cell types, each with its own block of 12 genes; NMF and markers on them."""
    rng = np.random.default_rng(1)
    n_per, k = 40, 3
    rates = np.full((n_per * k, 12 * k + 8), 0.3)
    for g in range(k):
        rates[g * n_per : (g + 1) * n_per, g * 12 : (g + 1) * 12] = 6.0
    X = rng.poisson(rates).astype(np.float32)
    obs = pd.DataFrame(
        {"type": pd.Categorical(np.repeat(["A", "B", "C"], n_per))},
        index=[f"c{i}" for i in range(n_per * k)],
    )
    adata = ad.AnnData(sp.csr_matrix(X), obs=obs)
    adata.var_names = [f"g{j}" for j in range(X.shape[1])]
    snmf.tl.nmf(adata, k, beta_loss="kullback-leibler", max_iter=200, random_state=0)
    adata.layers["log"] = adata.X.copy()
    adata.layers["log"].data = np.log1p(adata.layers["log"].data)
    sc.tl.rank_genes_groups(adata, "type", layer="log", method="t-test", n_genes=20)
    return adata


def test_overlap_counts_match_the_two_tables(ranked):
    table = snmf.get.marker_overlap(ranked, "nmf", n_genes=10, n_markers=15)
    assert table.index.name == "program" and table.columns.name == "type"
    assert list(table.index) == snmf.get.program_names(ranked, "nmf")
    assert list(table.columns) == ["A", "B", "C"]
    assert table.attrs["values"] == "overlap counts" and table.attrs["n_genes"] == 10
    top = snmf.get.programs(ranked, "nmf", n_genes=10, method="specificity")
    markers = sc.get.rank_genes_groups_df(ranked, group=None)
    for program in table.index:
        genes = set(top.loc[top["program"] == program, "gene"])
        for group in table.columns:
            first = markers.loc[markers["group"] == group, "names"].iloc[:15]
            assert table.loc[program, group] == len(genes & set(first))


def test_each_planted_program_matches_one_type(ranked):
    table = snmf.get.marker_overlap(ranked, "nmf", n_genes=10, n_markers=12)
    assert sorted(table.to_numpy().argmax(axis=1)) == [0, 1, 2]
    # the block genes are both the programs' top genes and the types' markers
    assert (table.to_numpy().max(axis=1) >= 9).all()
    assert np.sort(table.to_numpy(), axis=1)[:, :2].max() <= 1
    loading = snmf.get.marker_overlap(ranked, "nmf", n_genes=10, n_markers=12, method="loading")
    assert loading.attrs["method"] == "loading"
    assert sorted(loading.to_numpy().argmax(axis=1)) == [0, 1, 2]


def test_filtered_markers_and_other_key(ranked):
    adata = ranked.copy()
    sc.tl.filter_rank_genes_groups(adata, min_fold_change=1e9, key_added="none_left")
    table = snmf.get.marker_overlap(adata, "nmf", rank_genes_key="none_left", n_markers=10)
    assert (table.to_numpy() == 0).all()


def test_bad_input(ranked):
    adata = ranked.copy()
    with pytest.raises(KeyError, match="sc.tl.rank_genes_groups"):
        snmf.get.marker_overlap(adata, "nmf", rank_genes_key="missing")
    adata.uns["not_markers"] = {"params": {}}
    with pytest.raises(KeyError, match="names"):
        snmf.get.marker_overlap(adata, "nmf", rank_genes_key="not_markers")
    with pytest.raises(ValueError, match="n_markers"):
        snmf.get.marker_overlap(adata, "nmf", n_markers=21)
    with pytest.raises(ValueError, match="n_genes"):
        snmf.get.marker_overlap(adata, "nmf", n_genes=0)
    with pytest.raises(ValueError, match="method"):
        snmf.get.marker_overlap(adata, "nmf", n_markers=10, method="best")
    with pytest.raises(KeyError, match="tl.nmf"):
        snmf.get.marker_overlap(adata, "nothing", n_markers=10)
