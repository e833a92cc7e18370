"""Hostile cases, class "Stored records" (issue 13): a persistence record is checked once.

``tl.persistence`` records ``n_obs`` and a fingerprint of its representation in
``params``; ``scnmf._records.check_persistence`` is the one validator that ``tl.pnmf``,
``pl.persistence_diagram`` and ``pl.barcode`` (and, for the copied scales,
``pl.scale_path``) run before they use a record. Corrupt records (missing entries, NaN,
negative or unsorted scales, an empty scale list, β0 counts above n_obs, wrong types) and
foreign or stale ones (another AnnData, cells subset or reordered, representation
recomputed or removed) are refused with the problem and the fix, the AnnData unchanged;
valid records (round-tripped, copied, dtype-converted) are reused and give finite results.
"""

from __future__ import annotations

import anndata as ad
import matplotlib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import scnmf as snmf
from scnmf import _records

from ._support import assert_unchanged as _assert_unchanged
from ._support import snapshot as _snapshot

matplotlib.use("Agg")

N_OBS, N_VARS = 40, 20
FAST = {"n_sweeps": 1, "max_inner_iter": 5}


def _adata(seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    X = rng.poisson(rng.gamma(1.0, 1.0, (N_OBS, 1)) * rng.gamma(1.0, 1.0, (1, N_VARS)))
    obs = pd.DataFrame(index=[f"c{i}" for i in range(N_OBS)])
    var = pd.DataFrame(index=[f"g{j}" for j in range(N_VARS)])
    a = ad.AnnData(sp.csr_matrix(X.astype(np.float32) + 1), obs=obs, var=var)
    a.obsm["X_pca"] = rng.normal(size=(N_OBS, 5)).astype(np.float32)
    return a


@pytest.fixture(scope="module")
def base() -> ad.AnnData:
    a = _adata()
    snmf.tl.persistence(a, n_scales=4)  # on obsm['X_pca']
    return a


@pytest.fixture
def fresh(base) -> ad.AnnData:
    return base.copy()


def _items(record) -> list:
    return list(record.items()) if isinstance(record, dict) else []


#: The readers of a persistence record, and the parameter their fix names.
READERS = {
    "pnmf": (lambda a: snmf.tl.pnmf(a, 2, **FAST), "persistence_key=..."),
    "persistence_diagram": (lambda a: snmf.pl.persistence_diagram(a, show=False), "key=..."),
    "barcode": (lambda a: snmf.pl.barcode(a, show=False), "key=..."),
}


def _set(entry, value):
    def corrupt(rec):
        rec[entry] = value

    return corrupt


def _drop(entry):
    def corrupt(rec):
        del rec[entry]

    return corrupt


def _param(entry, value=None, drop=False):
    def corrupt(rec):
        rec["params"] = dict(rec["params"])
        if drop:
            del rec["params"][entry]
        else:
            rec["params"][entry] = value

    return corrupt


def _scales(f):
    def corrupt(rec):
        rec["scales"] = f(np.array(rec["scales"], dtype=np.float64))

    return corrupt


def _counts(f):
    def corrupt(rec):
        rec["n_components"] = f(np.array(rec["n_components"]))

    return corrupt


def _set_item(arr, i, v):
    arr[i] = v
    return arr


# (id, corruption, error, pattern naming the problem)
CORRUPT = [
    ("scales-nan", _scales(lambda s: _set_item(s, 1, np.nan)), ValueError, "NaN"),
    ("scales-inf", _scales(lambda s: _set_item(s, 0, np.inf)), ValueError, "infinite"),
    ("scales-negative", _scales(lambda s: s - s.max() - 1), ValueError, "negative"),
    ("scales-unsorted", _scales(lambda s: s[::-1].copy()), ValueError, "unsorted"),
    ("scales-repeated", _scales(lambda s: np.repeat(s[:1], s.size)), ValueError, "unsorted"),
    ("scales-empty", _set("scales", np.array([])), ValueError, "empty"),
    ("scales-str", _set("scales", "1, 2, 3"), ValueError, r"\['scales'\] is a str"),
    ("scales-2d", _scales(lambda s: s[None, :]), ValueError, "1-d array"),
    ("counts-above-n_obs", _counts(lambda c: c + N_OBS), ValueError, "n_obs = 40"),
    ("counts-zero", _counts(lambda c: c * 0), ValueError, "1 … n_obs"),
    ("counts-length", _counts(lambda c: c[:-1]), ValueError, "entries for"),
    ("counts-fractional", _counts(lambda c: c + 0.5), ValueError, "not integers"),
    ("counts-increasing", _counts(lambda c: np.sort(c)), ValueError, "increases"),
    ("missing-scales", _drop("scales"), KeyError, r"lacks \['scales'\]"),
    ("missing-counts", _drop("n_components"), KeyError, r"lacks \['n_components'\]"),
    ("missing-params", _drop("params"), KeyError, r"lacks \['params'\]"),
    ("missing-diagram", _drop("diagram"), KeyError, r"lacks \['diagram'\]"),
    ("params-str", _set("params", "use_rep=X_pca"), ValueError, "not a dict"),
    ("params-no-n_obs", _param("n_obs", drop=True), KeyError, "n_obs"),
    ("params-no-fingerprint", _param("fingerprint", drop=True), KeyError, "fingerprint"),
    ("params-no-use_rep", _param("use_rep", drop=True), KeyError, "use_rep"),
    ("params-n_obs-str", _param("n_obs", "40"), ValueError, "not an integer"),
    ("params-n_neighbors-zero", _param("n_neighbors", 0), ValueError, "below 1"),
    ("params-use_rep-int", _param("use_rep", 3), ValueError, "not a string"),
    ("diagram-shape", _set("diagram", np.zeros((N_OBS, 3))), ValueError, "shape"),
    ("diagram-nan", _set("diagram", np.full((N_OBS, 2), np.nan)), ValueError, "NaN"),
    ("diagram-rows", _set("diagram", np.zeros((N_OBS + 3, 2))), ValueError, "other cells"),
]


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize(
    "corrupt, error, problem", [c[1:] for c in CORRUPT], ids=[c[0] for c in CORRUPT]
)
def test_corrupt_record_is_refused_with_the_fix(fresh, reader, corrupt, error, problem):
    record = dict(fresh.uns["persistence"])
    corrupt(record)
    fresh.uns["persistence"] = record
    before = _snapshot(fresh)
    call, fix = READERS[reader]
    with pytest.raises(error, match=problem) as info:
        call(fresh)
    message = str(info.value)
    assert "adata.uns['persistence']" in message
    assert "snmf.tl.persistence(adata, key_added='persistence')" in message and fix in message
    _assert_unchanged(fresh, before)


def _not_a_dict(a):
    a.uns["persistence"] = np.arange(3)


def _other_anndata(a):
    other = _adata(seed=1)  # same shape, other cells
    snmf.tl.persistence(other, n_scales=4)
    a.uns["persistence"] = other.uns["persistence"]


def _recomputed_rep(a):
    a.obsm["X_pca"] = a.obsm["X_pca"] * 2


def _removed_rep(a):
    del a.obsm["X_pca"]


def _reordered(a):
    return a[np.arange(a.n_obs)[::-1]].copy()


def _subset(a):
    return a[: a.n_obs // 2].copy()


# (id, how the record goes stale or foreign, error, pattern naming the problem)
STALE = [
    ("not-a-dict", _not_a_dict, ValueError, "ndarray, not a record of scnmf.tl.persistence"),
    ("other-anndata", _other_anndata, ValueError, r"representation adata.obsm\['X_pca'\] has"),
    ("rep-recomputed", _recomputed_rep, ValueError, "has changed since tl.persistence"),
    ("rep-removed", _removed_rep, ValueError, "no longer there"),
    ("cells-reordered", _reordered, ValueError, "does not match this AnnData"),
    ("cells-subset", _subset, ValueError, "computed on 40 cells, this AnnData has 20"),
    ("cells-subset-view", lambda a: a[5:], ValueError, "computed on 40 cells, this AnnData has 35"),
]


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("make, error, problem", [s[1:] for s in STALE], ids=[s[0] for s in STALE])
def test_foreign_or_stale_record_is_refused(fresh, reader, make, error, problem):
    a = make(fresh) or fresh
    before = _snapshot(a)
    call, fix = READERS[reader]
    with pytest.raises(error, match=problem) as info:
        call(a)
    assert "Rerun snmf.tl.persistence(adata" in str(info.value) and fix in str(info.value)
    _assert_unchanged(a, before)


def test_record_survives_h5ad_round_trip_and_is_reused(fresh, tmp_path):
    path = tmp_path / "ph.h5ad"
    fresh.write_h5ad(path)
    back = ad.read_h5ad(path)
    snmf.tl.pnmf(back, 2, **FAST)
    snmf.tl.pnmf(fresh, 2, **FAST)
    np.testing.assert_allclose(back.obsm["X_pnmf_scales"], fresh.obsm["X_pnmf_scales"])
    assert np.isfinite(back.obsm["X_pnmf_scales"]).all()
    snmf.pl.barcode(back, show=False)


def test_record_is_reused_after_a_dtype_change_of_its_representation(fresh):
    fresh.obsm["X_pca"] = fresh.obsm["X_pca"].astype(np.float64)  # same values
    snmf.tl.pnmf(fresh, 2, **FAST)
    assert np.isfinite(fresh.obsm["X_pnmf"]).all()


def test_fingerprint_ignores_sparse_or_dense_storage_of_X():
    a = _adata()
    del a.obsm["X_pca"]
    snmf.tl.persistence(a, n_scales=3)  # on X (sparse)
    a.X = a.X.toarray().astype(np.float64)
    snmf.tl.pnmf(a, 2, **FAST)
    assert np.isfinite(a.obsm["X_pnmf_scales"]).all()


def test_pnmf_computes_a_valid_record_when_missing():
    a = _adata()
    snmf.tl.pnmf(a, 2, **FAST)
    params = a.uns["persistence"]["params"]
    assert params["n_obs"] == N_OBS and params["fingerprint"] == _records.fingerprint(a, "X_pca")
    _records.persistence_record(a, "persistence")  # passes its own validator


def test_explicit_scales_never_store_counts_above_n_obs():
    a = _adata()
    snmf.tl.persistence(a, scales=[1e-300, 1e-3, 1.0, 1e300])
    counts = a.uns["persistence"]["n_components"]
    assert counts.max() <= a.n_obs and counts.min() >= 1
    np.testing.assert_array_equal(counts[[0, -1]], [N_OBS, 1])


def test_a_record_with_counts_above_n_obs_is_never_stored(monkeypatch):
    from scnmf.tl import _persistence

    a = _adata()
    before = _snapshot(a)
    monkeypatch.setattr(
        _persistence, "betti0", lambda deaths, n, scales: np.full(len(scales), n + 1)
    )
    with pytest.raises(ValueError, match="n_obs = 40") as info:
        snmf.tl.persistence(a, scales=[0.5, 1.0])
    assert "bug in scnmf" in str(info.value)
    _assert_unchanged(a, before)
    assert "persistence" not in a.uns


@pytest.fixture(scope="module")
def fitted(base) -> ad.AnnData:
    a = base.copy()
    snmf.tl.pnmf(a, 2, **FAST)
    return a


def _pnmf_record(mutate):
    def make(a):
        rec = dict(a.uns["pnmf"])
        mutate(rec)
        a.uns["pnmf"] = rec

    return make


# (id, how the pnmf record is broken, error, pattern)
SCALE_PATH = [
    ("cells-subset", _subset, ValueError, "must lie in 1 … n_obs = 20"),
    ("scales-nan", _pnmf_record(_scales(lambda s: _set_item(s, 0, np.nan))), ValueError, "NaN"),
    ("scales-missing", _pnmf_record(_drop("scales")), KeyError, r"lacks \['scales'\]"),
    ("scales-count", _pnmf_record(_scales(lambda s: s[:-1])), ValueError, "entries for"),
    ("reference-out", _pnmf_record(_set("reference_scale", 9)), ValueError, "reference_scale"),
    ("not-a-dict", lambda a: a.uns.__setitem__("pnmf", "x"), ValueError, "not a tl.pnmf record"),
]


@pytest.mark.parametrize(
    "make, error, problem", [s[1:] for s in SCALE_PATH], ids=[s[0] for s in SCALE_PATH]
)
def test_scale_path_checks_the_copied_scales(fitted, make, error, problem):
    a = fitted.copy()
    a = make(a) or a
    before = _snapshot(a)
    with pytest.raises(error, match=problem) as info:
        snmf.pl.scale_path(a, show=False)
    assert "Rerun snmf.tl.pnmf(adata, key_added='pnmf')" in str(info.value)
    _assert_unchanged(a, before)
