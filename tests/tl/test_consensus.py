"""``tl.consensus_nmf``: planted programs recovered, k chosen, storage contract, semantics."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import scnmf as snmf
from scnmf import _keys as C
from scnmf.metrics._recovery import cosine_matrix, match_programs

U = C.ConsensusUns
N_CELLS, N_GENES, K_TRUE = 300, 60, 4
KS = [3, 4, 5]
FAST = {"n_replicates": 8, "max_iter": 200}


def _planted(seed: int = 2) -> tuple[ad.AnnData, np.ndarray]:
    """Counts of 4 programs on disjoint gene blocks (plus a little background), balanced usage.

    Each cell is dominated by one program (cells cycle through them), so at k = 4 every
    replicate finds the same programs, and at k = 3 / 5 replicates disagree on what to merge
    or split: the most stable k is the planted one.
    """
    rng = np.random.default_rng(seed)
    block = N_GENES // K_TRUE
    H = np.zeros((K_TRUE, N_GENES))
    for j in range(K_TRUE):
        H[j, j * block : (j + 1) * block] = rng.gamma(4.0, 0.25, block)
        H[j] += 0.05 * rng.random(N_GENES)
    H /= H.sum(axis=1, keepdims=True) / block
    W = 0.1 * rng.random((N_CELLS, K_TRUE))
    W[np.arange(N_CELLS), np.arange(N_CELLS) % K_TRUE] += 1.0
    X = rng.poisson(5.0 * W @ H).astype(np.float32)
    obs = pd.DataFrame(index=[f"c{i}" for i in range(N_CELLS)])
    var = pd.DataFrame(index=[f"g{j}" for j in range(N_GENES)])
    return ad.AnnData(sp.csr_matrix(X), obs=obs, var=var), H


@pytest.fixture(scope="module")
def fitted() -> tuple[ad.AnnData, np.ndarray]:
    adata, H = _planted()
    snmf.tl.consensus_nmf(adata, KS, **FAST)
    return adata, H


def _assert_equal(a, b, where: str = "") -> None:
    """Recursive exact equality of stored values (dicts, arrays, scalars, strings)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for key in a:
            _assert_equal(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype, (where, a.dtype, b.dtype)
        assert np.array_equal(a, b), where
    else:
        assert type(a) is type(b) and a == b, (where, a, b)


def _outputs(adata: ad.AnnData, key: str = C.CONSENSUS_KEY) -> dict:
    keys = C.consensus_keys(key)
    return {
        "obsm": adata.obsm[keys.obsm],
        "programs": adata.varm[keys.programs],
        "gene_scores": adata.varm[keys.gene_scores],
        "uns": adata.uns[keys.uns],
    }


def test_recovers_planted_programs(fitted):
    adata, H = fitted
    programs = adata.varm["cnmf_programs"].T
    perm = match_programs(H, programs)
    cos = np.diag(cosine_matrix(H, programs[perm]))
    assert cos.min() >= 0.95, cos


def test_selects_the_planted_k(fitted):
    adata, _ = fitted
    record = adata.uns["cnmf"]
    table = record[U.K_SELECTION]
    assert record[U.K] == K_TRUE
    assert table[U.K][np.argmax(table[U.STABILITY])] == K_TRUE
    assert adata.obsm["X_cnmf"].shape == (N_CELLS, K_TRUE)


def test_storage_contract(fitted):
    adata, _ = fitted
    R, K = FAST["n_replicates"], len(KS)
    usage = adata.obsm["X_cnmf"]
    assert usage.dtype == np.float32 and (usage >= 0).all()
    np.testing.assert_allclose(usage.sum(axis=1), 1.0, rtol=1e-5)
    assert np.all(np.diff(usage.sum(axis=0)) <= 1e-3)  # ordered by total usage
    programs, scores = adata.varm["cnmf_programs"], adata.varm["cnmf_gene_scores"]
    assert programs.shape == scores.shape == (N_GENES, K_TRUE)
    np.testing.assert_allclose(programs.sum(axis=0), 1.0, rtol=1e-10)
    record = adata.uns["cnmf"]
    table = record[U.K_SELECTION]
    assert set(table) == set(U.SELECTION_FIELDS)
    np.testing.assert_array_equal(table[U.K], KS)
    assert all(np.asarray(table[f]).shape == (K,) for f in U.SELECTION_FIELDS)
    np.testing.assert_array_equal(table[U.N_KEPT] + table[U.N_FILTERED], np.multiply(KS, R))
    reps = record[U.REPLICATES]
    assert set(reps) == set(U.REPLICATE_FIELDS)
    assert reps[U.LOCAL_DENSITY].shape == reps[U.KEPT].shape == (R * K_TRUE,)
    assert reps[U.KEPT].dtype == bool
    assert set(np.unique(reps[U.LABELS][reps[U.KEPT]])) == set(range(K_TRUE))
    assert (reps[U.LABELS][~reps[U.KEPT]] == -1).all()
    assert sorted(reps[U.ORDER]) == list(range(R * K_TRUE))
    for name in (U.REPLICATE_LOSS, U.N_ITER, U.CONVERGED):
        assert record[name].shape == (K, R), name
    assert np.isfinite(record[U.REPLICATE_LOSS]).all()
    params = record[U.PARAMS]
    np.testing.assert_array_equal(params["n_components"], KS)
    assert params["n_replicates"] == R and params["solver"] == "hals"
    assert params["beta_loss"] == 2.0 and params["select"] == "None"
    assert params["density_threshold"] == 0.5 and params["device"] == "cpu"
    assert params["n_genes_used"] == N_GENES and params["use_raw"] is False


def test_gene_scores_mark_each_programs_block(fitted):
    adata, H = fitted
    scores = adata.varm["cnmf_gene_scores"]
    blocks = np.argmax(H, axis=0)  # the program each gene belongs to
    programs = adata.varm["cnmf_programs"].T
    perm = match_programs(H, programs)  # perm[j]: stored program of planted program j
    for j in range(K_TRUE):
        top = np.argsort(-scores[:, perm[j]])[:5]
        assert (blocks[top] == j).all(), (j, top)


def test_same_seed_identical_results(fitted):
    adata, _ = fitted
    again, _ = _planted()
    snmf.tl.consensus_nmf(again, KS, **FAST)
    _assert_equal(_outputs(again), _outputs(adata))
    other, _ = _planted()
    snmf.tl.consensus_nmf(other, KS, **FAST, random_state=1)
    assert not np.array_equal(
        other.uns["cnmf"][U.REPLICATE_LOSS], adata.uns["cnmf"][U.REPLICATE_LOSS]
    )


def test_h5ad_round_trip(fitted, tmp_path):
    adata, _ = fitted
    path = tmp_path / "cnmf.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    _assert_equal(_outputs(back), _outputs(adata))


def test_copy_leaves_the_input_untouched():
    adata, _ = _planted()
    X = adata.X.copy()
    out = snmf.tl.consensus_nmf(adata, [3, 4], n_replicates=3, max_iter=30, copy=True)
    assert (adata.X != X).nnz == 0
    assert not adata.obsm and not adata.varm and not adata.uns
    assert isinstance(out, ad.AnnData) and out is not adata
    assert out.obsm["X_cnmf"].shape[0] == N_CELLS
    assert snmf.tl.consensus_nmf(adata, [3], n_replicates=3, max_iter=30) is None


def test_key_added_changes_every_key():
    adata, _ = _planted()
    snmf.tl.consensus_nmf(adata, [3, 4], n_replicates=3, max_iter=30, key_added="run2")
    keys = C.consensus_keys("run2")
    assert list(adata.obsm) == [keys.obsm] == ["X_run2"]
    assert sorted(adata.varm) == sorted([keys.programs, keys.gene_scores])
    assert list(adata.uns) == [keys.uns]
    assert not any("cnmf" in k for slot in (adata.obsm, adata.varm, adata.uns) for k in slot)


def test_mask_var_zero_program_rows_and_scores_for_every_gene():
    adata, H = _planted()
    adata.var["highly_variable"] = np.arange(N_GENES) % 6 != 0  # 50 of 60 genes
    snmf.tl.consensus_nmf(adata, [4], **FAST)
    hv = adata.var["highly_variable"].to_numpy()
    programs, scores = adata.varm["cnmf_programs"], adata.varm["cnmf_gene_scores"]
    assert (programs[~hv] == 0).all() and (programs[hv].sum(axis=0) > 0.99).all()
    assert (np.abs(scores[~hv]).sum(axis=1) > 0).all()  # gene scores ignore the mask
    assert adata.uns["cnmf"][U.PARAMS]["n_genes_used"] == int(hv.sum())
    perm = match_programs(H[:, hv], programs[hv].T)
    assert np.diag(cosine_matrix(H[:, hv], programs[hv].T[perm])).min() >= 0.95


def test_select_stores_that_k_and_keeps_the_table(fitted):
    adata, _ = fitted
    chosen, _ = _planted()
    snmf.tl.consensus_nmf(chosen, KS, **FAST, select=5)
    assert chosen.uns["cnmf"][U.K] == 5 and chosen.obsm["X_cnmf"].shape[1] == 5
    assert chosen.uns["cnmf"][U.PARAMS]["select"] == 5
    assert chosen.uns["cnmf"][U.REPLICATES][U.KEPT].shape == (5 * FAST["n_replicates"],)
    # the k-selection table does not depend on which k is stored
    _assert_equal(chosen.uns["cnmf"][U.K_SELECTION], adata.uns["cnmf"][U.K_SELECTION])


@pytest.mark.parametrize(
    ("n_components", "expected"),
    [(4, [4]), (range(3, 5), [3, 4]), ([5, 3, 3], [3, 5]), (np.array([4, 3]), [3, 4])],
)
def test_n_components_forms(n_components, expected):
    adata, _ = _planted()
    snmf.tl.consensus_nmf(adata, n_components, n_replicates=3, max_iter=20)
    np.testing.assert_array_equal(adata.uns["cnmf"][U.K_SELECTION][U.K], expected)
    np.testing.assert_array_equal(adata.uns["cnmf"][U.PARAMS]["n_components"], expected)


def test_use_raw_aligns_genes_by_name():
    full, _ = _planted()
    rng = np.random.default_rng(0)
    subset = rng.permutation(N_GENES)[:40]  # 40 genes of raw, in another order
    adata = full[:, subset].copy()
    adata.raw = full
    names = adata.var_names.to_numpy().copy()
    names[:3] = ["new0", "new1", "new2"]  # genes raw does not have
    adata.var_names = names
    snmf.tl.consensus_nmf(adata, [4], **FAST, use_raw=True)
    programs, scores = adata.varm["cnmf_programs"], adata.varm["cnmf_gene_scores"]
    assert programs.shape == scores.shape == (40, 4)
    assert (programs[:3] == 0).all() and (scores[:3] == 0).all()
    # the same fit as on raw's columns of those genes, in raw's order
    shared = np.sort(subset[3:])
    direct = ad.AnnData(full.X[:, shared].copy())
    snmf.tl.consensus_nmf(direct, [4], **FAST)
    rows = {g: i for i, g in enumerate(adata.var_names)}
    at = [rows[f"g{j}"] for j in shared]
    np.testing.assert_array_equal(programs[at], direct.varm["cnmf_programs"])
    np.testing.assert_array_equal(adata.obsm["X_cnmf"], direct.obsm["X_cnmf"])
    assert adata.uns["cnmf"][U.PARAMS]["use_raw"] is True


def test_extreme_scale_is_fitted_and_reported_in_the_data_units(fitted):
    adata, _ = fitted
    tiny, _ = _planted()
    tiny.X = tiny.X * np.float32(1e-6)
    snmf.tl.consensus_nmf(tiny, KS, **FAST)
    assert tiny.uns["cnmf"][U.K] == K_TRUE
    np.testing.assert_allclose(tiny.varm["cnmf_programs"], adata.varm["cnmf_programs"], atol=1e-4)
    np.testing.assert_allclose(
        tiny.uns["cnmf"][U.K_SELECTION][U.ERROR][1],
        adata.uns["cnmf"][U.K_SELECTION][U.ERROR][1] * 1e-12,
        rtol=1e-2,
    )


def test_kullback_leibler_uses_mu():
    adata, H = _planted()
    snmf.tl.consensus_nmf(adata, [4], n_replicates=4, max_iter=100, beta_loss="kullback-leibler")
    params = adata.uns["cnmf"][U.PARAMS]
    assert params["solver"] == "mu" and params["beta_loss"] == 1.0
    programs = adata.varm["cnmf_programs"].T
    assert np.diag(cosine_matrix(H, programs[match_programs(H, programs)])).min() >= 0.95


def test_progress_counts_replicates_and_unconverged_warning(monkeypatch):
    import scnmf.tl._consensus as module

    bars, warnings = [], []

    class Bar:
        def __init__(self, total, desc):
            self.total, self.done = total, 0
            bars.append(self)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n=1):
            self.done += n

    monkeypatch.setattr(module, "progress_bar", Bar)
    monkeypatch.setattr(module.logg, "warning", lambda msg, **kw: warnings.append(msg))
    adata, _ = _planted()
    snmf.tl.consensus_nmf(adata, [3, 4], n_replicates=3, max_iter=2)
    assert len(bars) == 1 and bars[0].total == bars[0].done == 6
    assert warnings == ["6 of 6 replicate fits stopped at max_iter=2 unconverged; raise max_iter"]
    warnings.clear()
    snmf.tl.consensus_nmf(adata, [3, 4], n_replicates=3, max_iter=2, tol=0.0)
    assert warnings == []  # tol=0 asks for exactly max_iter iterations


def test_dask_matrix_matches_in_memory():
    da = pytest.importorskip("dask.array")
    memory, _ = _planted()
    memory.var["highly_variable"] = np.arange(N_GENES) % 6 != 0
    lazy = memory.copy()
    lazy.X = da.from_array(memory.X.toarray(), chunks=(100, N_GENES))
    for adata in (memory, lazy):
        snmf.tl.consensus_nmf(adata, [3, 4], n_replicates=4, max_iter=100)
    assert lazy.uns["cnmf"][U.PARAMS]["device"] == "dask"
    assert lazy.uns["cnmf"][U.K] == memory.uns["cnmf"][U.K]
    for key in ("cnmf_programs", "cnmf_gene_scores"):
        np.testing.assert_allclose(lazy.varm[key], memory.varm[key], atol=1e-5)
    np.testing.assert_allclose(lazy.obsm["X_cnmf"], memory.obsm["X_cnmf"], atol=1e-5)
