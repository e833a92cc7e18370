"""``tl.project``: activities of (new) cells for fixed programs of every kind of result."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import scnmf as snmf
from scnmf import _keys as C
from scnmf._core._backends.select import Backend
from scnmf._core.nmf.beta import beta_divergence
from scnmf._core.nmf.fixed import fit_activities
from scnmf._core.nmf.penalty import Penalty

U = C.ProjectUns
CONVERGED = {"max_iter": 3000, "tol": 1e-9}  # a reference at its fixed point


_CELLS = snmf.datasets.synthetic_counts(n_cells=600, n_genes=120, n_programs=4)


def _data(seed: int = 0) -> ad.AnnData:
    """Half of one simulated population: 0 the reference's cells, 1 new cells (same programs)."""
    return _CELLS[seed * 300 : (seed + 1) * 300].copy()


def _relative(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.fixture(scope="module")
def references() -> dict[str, ad.AnnData]:
    """One converged result of each kind, fitted once for the module."""
    out = {}
    for beta in ("frobenius", "kullback-leibler"):
        a = _data()
        snmf.tl.nmf(a, 4, beta_loss=beta, **CONVERGED)
        out[beta] = a
    a = _data()
    snmf.tl.consensus_nmf(a, 4, n_replicates=6, max_iter=1000, tol=1e-7)
    out["cnmf"] = a
    a = _data()
    snmf.tl.deep_nmf(a, (4,), **CONVERGED)  # one layer: nothing couples H₁ to deeper layers
    out["deep1"] = a
    a = _data()
    snmf.tl.deep_nmf(a, (4, 2), **CONVERGED)
    out["deep2"] = a
    a = _data()
    snmf.tl.pnmf(a, 4)
    out["pnmf"] = a
    return out


@pytest.mark.parametrize("beta", ["frobenius", "kullback-leibler"])
def test_own_programs_give_back_the_activities(references, beta):
    adata = references[beta].copy()
    snmf.tl.project(adata, adata)
    keys = C.projected_keys(C.projected_key(C.NMF_KEY))
    got, want = adata.obsm[keys.obsm], adata.obsm[C.obsm_key(C.NMF_KEY)]
    assert got.dtype == np.float32 and got.shape == want.shape
    assert _relative(got, want) < 2e-2
    record = adata.uns[keys.uns]
    assert record[U.CONVERGED] and record[U.PARAMS]["beta_loss"] == (2.0 if beta[0] == "f" else 1)
    assert record[U.PARAMS]["solver"] == ("hals" if beta[0] == "f" else "mu")
    assert record[U.REFERENCE_KEY] == C.NMF_KEY and record[U.REFERENCE_KIND] == "nmf"
    # every gene with a loading is used (genes without counts in the data have none)
    weighted = (adata.varm[C.loadings_key(C.NMF_KEY)] > 0).any(axis=1)
    assert record[U.GENES_MISSING].size == 0 and record[U.GENES_USED].size == weighted.sum()
    assert record[U.PARAMS]["n_genes_reference"] == weighted.sum() < adata.n_vars
    np.testing.assert_allclose(record[U.WEIGHT_COVERED], 1.0)
    # the projection's loss is the fit's: the same programs reconstruct the data as well
    stored = adata.uns[C.NMF_KEY][C.FitUns.LOSS][-1]
    assert record[U.LOSS][-1] <= stored * (1 + 1e-4)
    assert record[U.LOSS].shape == (record[U.N_ITER] + 1,)


def test_consensus_usage_is_refitted_and_normalised(references):
    adata = references["cnmf"].copy()
    snmf.tl.project(adata, adata, key=C.CONSENSUS_KEY)
    got = adata.obsm["X_cnmf_projected"]
    assert _relative(got, adata.obsm["X_cnmf"]) < 2e-2
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)
    record = adata.uns["cnmf_projected"]
    assert record[U.REFERENCE_KIND] == "consensus_nmf" and record[U.PARAMS]["normalized"]


def test_deep_layer_one(references):
    adata = references["deep1"].copy()
    keys = C.deep_keys(C.DEEP_NMF_KEY)
    snmf.tl.project(adata, adata, key=C.DEEP_NMF_KEY)
    assert _relative(adata.obsm["X_deep_nmf_projected"], adata.obsm[keys.obsm(1)]) < 2e-2
    record = adata.uns["deep_nmf_projected"]
    assert record[U.REFERENCE_KIND] == "deep_nmf" and record[U.PARAMS]["beta_loss"] == 1.0
    assert list(record[U.PROGRAM_NAMES]) == C.default_program_names(C.DEEP_NMF_KEY, 4, 1)


def test_deep_with_layers_above_reconstructs_at_least_as_well(references):
    """Deeper layers pull H₁ off the layer-1 optimum; the projection is that optimum."""
    adata = references["deep2"].copy()
    keys = C.deep_keys(C.DEEP_NMF_KEY)
    snmf.tl.project(adata, adata, key=C.DEEP_NMF_KEY)
    X = adata.X.astype(np.float64)
    W1 = np.asarray(adata.varm[keys.varm(1)], dtype=np.float64).T
    stored = beta_divergence(X, adata.obsm[keys.obsm(1)].astype(np.float64), W1, 1.0)
    projected = beta_divergence(X, adata.obsm["X_deep_nmf_projected"].astype(np.float64), W1, 1.0)
    assert projected <= stored * (1 + 1e-5)
    snmf.tl.project(adata, adata, key="deep_nmf_l2")  # the coarser layer's programs
    record = adata.uns["deep_nmf_l2_projected"]
    assert adata.obsm["X_deep_nmf_l2_projected"].shape == (adata.n_obs, 2)
    assert list(record[U.PROGRAM_NAMES]) == C.default_program_names(C.DEEP_NMF_KEY, 2, 2)


@pytest.mark.parametrize("scale", [None, 5])
def test_pnmf_scale(references, scale):
    adata = references["pnmf"].copy()
    snmf.tl.project(adata, adata, key=C.PNMF_KEY, scale=scale)
    t = adata.uns[C.PNMF_KEY][C.PnmfUns.REFERENCE_SCALE] if scale is None else scale
    want = adata.obsm[C.pnmf_keys(C.PNMF_KEY).obsm_scales][:, t]
    assert _relative(adata.obsm["X_pnmf_projected"], want) < 2e-2
    assert adata.uns["pnmf_projected"][U.PARAMS]["scale"] == t


def test_gnmf_reference():
    adata = _data()
    snmf.tl.gnmf(adata, 3, max_iter=50)
    snmf.tl.project(adata, adata, key=C.GNMF_KEY)
    assert adata.uns["gnmf_projected"][U.REFERENCE_KIND] == "gnmf"
    assert _relative(adata.obsm["X_gnmf_projected"], adata.obsm["X_gnmf"]) < 0.1


def test_missing_and_shuffled_genes_still_map(references):
    reference = references["kullback-leibler"]
    full = snmf.tl.project(_data(seed=1), reference, copy=True)
    rng = np.random.default_rng(3)
    keep = rng.permutation(reference.n_vars)[: int(0.9 * reference.n_vars)]  # 10% gone
    query = _data(seed=1)[:, keep].copy()
    snmf.tl.project(query, reference)
    a, b = query.obsm["X_nmf_projected"], full.obsm["X_nmf_projected"]
    r = [np.corrcoef(a[:, j], b[:, j])[0, 1] for j in range(a.shape[1])]
    assert min(r) >= 0.95, r
    record = query.uns["nmf_projected"]
    weighted = (reference.varm[C.loadings_key(C.NMF_KEY)] > 0).any(axis=1)
    dropped = set(reference.var_names[weighted]) - set(reference.var_names[keep])
    assert set(record[U.GENES_MISSING]) == dropped and dropped
    used = [g for g in query.var_names if g in set(reference.var_names[weighted])]
    assert list(record[U.GENES_USED]) == used  # the query's own order
    assert np.all((record[U.WEIGHT_COVERED] > 0.5) & (record[U.WEIGHT_COVERED] < 1))
    assert record[U.PARAMS]["n_genes_used"] == len(used)


def test_extra_genes_are_ignored(references):
    reference = references["frobenius"]
    query = _data(seed=1)
    want = snmf.tl.project(query, reference, copy=True).obsm["X_nmf_projected"]
    extra = ad.AnnData(
        sp.random(query.n_obs, 7, density=0.3, format="csr", random_state=0, dtype=np.float32),
        obs=query.obs,
        var=pd.DataFrame(index=[f"extra{j}" for j in range(7)]),
    )
    wider = ad.concat([extra, query], axis=1, merge="same")
    snmf.tl.project(wider, reference)
    np.testing.assert_allclose(wider.obsm["X_nmf_projected"], want, rtol=1e-5, atol=1e-6)


def test_dataframe_reference_equals_the_anndata_one(references):
    reference = references["frobenius"]
    query = _data(seed=1)
    want = snmf.tl.project(query, reference, copy=True).obsm["X_nmf_projected"]
    table = pd.DataFrame(
        reference.varm[C.loadings_key(C.NMF_KEY)],
        index=reference.var_names,
        columns=[f"GEP{j + 1}" for j in range(4)],
    )
    snmf.tl.project(query, table.iloc[::-1], key="starcat")  # row order does not matter
    np.testing.assert_allclose(query.obsm["X_starcat_projected"], want, rtol=1e-5, atol=1e-6)
    record = query.uns["starcat_projected"]
    assert record[U.REFERENCE_KIND] == "DataFrame"
    assert list(record[U.PROGRAM_NAMES]) == ["GEP1", "GEP2", "GEP3", "GEP4"]


def test_reference_program_names_are_carried(references):
    reference = references["frobenius"].copy()
    reference.uns[C.NMF_KEY][C.ProgramUns.PROGRAM_NAMES] = np.asarray(["a", "b", "c", "d"])
    query = _data(seed=1)
    snmf.tl.project(query, reference, key_added="mapped")
    assert list(query.uns["mapped"][U.PROGRAM_NAMES]) == ["a", "b", "c", "d"]
    assert "X_mapped" in query.obsm and "mapped" in query.uns
    assert not any("projected" in k for k in (*query.obsm, *query.uns))


def _lazy(adata: ad.AnnData, rows: int = 70) -> ad.AnnData:
    da = pytest.importorskip("dask.array")
    lazy = adata.copy()
    lazy.X = da.from_array(adata.X, chunks=(rows, adata.n_vars), asarray=False)
    return lazy


@pytest.mark.parametrize("beta", ["frobenius", "kullback-leibler"])
def test_dask_and_torch_cpu_equal_in_memory(references, beta, monkeypatch):
    reference, query = references[beta], _data(seed=1)
    want = snmf.tl.project(query, reference, copy=True)
    got = snmf.tl.project(_lazy(query), reference, copy=True)
    assert got.uns["nmf_projected"][U.PARAMS]["device"] == "dask"
    assert got.uns["nmf_projected"][U.N_ITER] == want.uns["nmf_projected"][U.N_ITER]
    assert _relative(got.obsm["X_nmf_projected"], want.obsm["X_nmf_projected"]) < 1e-5
    pytest.importorskip("torch")
    from scnmf._core.nmf import fixed

    monkeypatch.setattr(fixed, "choose_backend", lambda X, device: Backend("torch", "cpu"))
    got = snmf.tl.project(query, reference, copy=True)
    assert _relative(got.obsm["X_nmf_projected"], want.obsm["X_nmf_projected"]) < 1e-4


def test_use_raw_matches_genes_of_raw(references):
    reference = references["frobenius"]
    query = _data(seed=1)
    want = snmf.tl.project(query, reference, copy=True).obsm["X_nmf_projected"]
    query.raw = query
    subset = query[:, :30].copy()  # adata keeps 30 genes, raw all of them
    snmf.tl.project(subset, reference, use_raw=True)
    np.testing.assert_allclose(subset.obsm["X_nmf_projected"], want, rtol=1e-5, atol=1e-6)
    assert subset.uns["nmf_projected"][U.PARAMS]["use_raw"]


def test_h5ad_round_trip(references, tmp_path):
    query = _data(seed=1)[:, 10:].copy()
    snmf.tl.project(query, references["kullback-leibler"])
    snmf.tl.project(query, references["pnmf"], key="pnmf")  # params with a scale
    path = tmp_path / "projected.h5ad"
    query.write_h5ad(path)
    back = ad.read_h5ad(path)
    for key in ("nmf_projected", "pnmf_projected"):
        np.testing.assert_array_equal(back.obsm[f"X_{key}"], query.obsm[f"X_{key}"])
        a, b = back.uns[key], query.uns[key]
        assert a.keys() == b.keys()
        for name in a:
            if isinstance(b[name], dict):
                assert a[name] == b[name], name
            else:
                np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_copy_semantics(references):
    query = _data(seed=1)
    out = snmf.tl.project(query, references["frobenius"], copy=True)
    assert isinstance(out, ad.AnnData) and out is not query
    assert not query.obsm.keys() - {"true_weights"} and "nmf_projected" not in query.uns
    assert snmf.tl.project(query, references["frobenius"]) is None
    assert "X_nmf_projected" in query.obsm


def test_unconverged_and_low_coverage_warn(references, monkeypatch):
    from scnmf.tl import _convergence, _project

    warnings = []
    for module in (_project, _convergence):
        monkeypatch.setattr(module.logg, "warning", lambda msg, **kw: warnings.append(msg))
    reference = references["kullback-leibler"]
    snmf.tl.project(_data(seed=1), reference, max_iter=2, copy=True)
    assert len(warnings) == 1 and "max_iter=2 unconverged" in warnings[0]
    warnings.clear()
    snmf.tl.project(_data(seed=1), reference, max_iter=2, tol=0, copy=True)
    assert warnings == []  # tol=0 asks for exactly max_iter steps
    loadings = reference.varm[C.loadings_key(C.NMF_KEY)]
    heavy = np.argsort(-loadings[:, 0])[:15]  # the genes carrying program 0
    query = _data(seed=1)
    query = query[:, np.setdiff1d(np.arange(query.n_vars), heavy)].copy()
    snmf.tl.project(query, reference)
    assert any("under 50% of their loadings" in w and "nmf_0" in w for w in warnings)
    assert query.uns["nmf_projected"][U.WEIGHT_COVERED][0] < 0.5


def test_regularised_reference_is_fitted_in_the_data_units(references, monkeypatch):
    """alpha_W of the reference is used, and the internal rescaling keeps its optimum."""
    reference = references["frobenius"].copy()
    reference.uns[C.NMF_KEY][C.FitUns.PARAMS] = {
        **reference.uns[C.NMF_KEY][C.FitUns.PARAMS],
        "alpha_W": 0.05,
        "l1_ratio": 0.5,
    }
    query = _data(seed=1)
    query.X = (query.X * 1e6).astype(np.float64)  # rescaled inside (values far above 1e4)
    snmf.tl.project(query, reference, tol=1e-10, max_iter=3000)
    record = query.uns["nmf_projected"]
    assert record[U.PARAMS]["alpha_W"] == 0.05 and record[U.PARAMS]["l1_ratio"] == 0.5
    # the penalty scales with the genes fitted (scikit-learn's transform): the used ones
    used = query.var_names.isin(record[U.GENES_USED])
    H = np.asarray(reference.varm[C.loadings_key(C.NMF_KEY)], dtype=np.float64)[used].T
    X = query.X[:, used]
    penalty = Penalty.from_alpha(X.shape, alpha_W=0.05, alpha_H=0.0, l1_ratio=0.5)
    direct = fit_activities(X, H, beta=2.0, tol=1e-10, max_iter=3000, device="cpu", penalty=penalty)
    assert _relative(query.obsm["X_nmf_projected"], direct.W) < 1e-4
    plain = snmf.tl.project(query, references["frobenius"], copy=True)
    assert _relative(plain.obsm["X_nmf_projected"], direct.W) > 1e-3  # the penalty acted
