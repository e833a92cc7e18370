"""Hostile cases, class "Keys" (issue 13): every key a result is stored under is checked once.

The ``Key(written=True)`` rule of each ``tl`` table refuses, before any work, a
``key_added`` (or ``persistence_key``) that ``read_h5ad`` could not read back (``'/'``, a
backslash, control characters, a leading ``'.'``), that is empty or not a string, or that
would replace one of scanpy's records or embeddings; the table check ``key_added_not_input``
refuses a key that would overwrite the call's own input. Each case asserts the error type,
the problem and the fix in the message, and that the AnnData is unchanged; the command line
exits 2 without writing a file.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import scnmf as snmf
from scnmf.cli import main
from scnmf.tl._store import store

from ._support import assert_unchanged as _assert_unchanged
from ._support import snapshot as _snapshot

N_OBS, N_VARS = 40, 20


def _adata(seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    X = rng.poisson(rng.gamma(1.0, 1.0, (N_OBS, 1)) * rng.gamma(1.0, 1.0, (1, N_VARS)))
    X = X.astype(np.float32) + 1  # no empty cell or gene
    obs = pd.DataFrame(index=[f"c{i}" for i in range(N_OBS)])
    var = pd.DataFrame(index=[f"g{j}" for j in range(N_VARS)])
    a = ad.AnnData(sp.csr_matrix(X), obs=obs, var=var)
    a.obsm["X_emb"] = rng.normal(size=(N_OBS, 4))
    return a


#: Every tl function, with settings that make a fit quick; ``persistence_key`` of pnmf is
#: prepared by the test (``with_persistence``).
CALLS = {
    "nmf": lambda a, **kw: snmf.tl.nmf(a, 2, max_iter=3, **kw),
    "gnmf": lambda a, **kw: snmf.tl.gnmf(a, 2, max_iter=3, n_neighbors=3, use_rep="X", **kw),
    "persistence": lambda a, **kw: snmf.tl.persistence(a, use_rep="X", n_scales=3, **kw),
    "pnmf": lambda a, **kw: snmf.tl.pnmf(a, 2, n_sweeps=1, max_inner_iter=3, **kw),
    "deep_nmf": lambda a, **kw: snmf.tl.deep_nmf(a, (3, 2), n_init_iter=3, max_iter=2, **kw),
}

# (id, key_added, pattern naming the problem, pattern naming the fix)
UNSAFE = [
    ("slash", "a/b", "'/' separates groups", "key_added='a_b'"),
    ("backslash", "a\\b", "zarr", "key_added='a_b'"),
    ("nul", "a\x00b", "control characters", "key_added='a_b'"),
    ("newline", "res\n", "control characters", "key_added='res_'"),
    ("dot", ".", "leading '.'", "key_added='result'"),
    ("dotdot", "..", "leading '.'", "key_added='result'"),
    ("empty", "", "non-empty strings", "key_added='result_1'"),
    ("int", 3, "non-empty strings", "key_added='result_1'"),
    ("none", None, "non-empty strings", "key_added='result_1'"),
]
FUNCS = list(CALLS)


@pytest.mark.parametrize("func", FUNCS)
@pytest.mark.parametrize("key, problem, fix", [u[1:] for u in UNSAFE], ids=[u[0] for u in UNSAFE])
def test_unsafe_key_added_is_refused_before_any_work(func, key, problem, fix):
    a = _adata()
    before = _snapshot(a)
    with pytest.raises(ValueError, match="key_added") as info:
        CALLS[func](a, key_added=key)
    assert problem in str(info.value) and fix in str(info.value)
    _assert_unchanged(a, before)


# (id, key_added, what it would replace)
SCANPY = [
    ("neighbors", "neighbors", "adata.uns['neighbors'] (written by sc.pp.neighbors)"),
    ("pca", "pca", "adata.obsm['X_pca'] (written by sc.pp.pca)"),
    ("umap", "umap", "adata.uns['umap'] (written by sc.tl.umap)"),
    ("leiden", "leiden", "adata.uns['leiden'] (written by sc.tl.leiden)"),
    ("rank_genes_groups", "rank_genes_groups", "sc.tl.rank_genes_groups"),
    ("dendrogram", "dendrogram_leiden", "adata.uns['dendrogram_leiden'] (written by sc.tl."),
    ("draw_graph_fr", "draw_graph_fr", "adata.obsm['X_draw_graph_fr'] (written by sc.tl."),
    ("colors", "cell_type_colors", "category colours"),
    ("harmony", "pca_harmony", "adata.obsm['X_pca_harmony']"),
]


@pytest.mark.parametrize("func", ["nmf", "persistence", "pnmf", "deep_nmf"])
@pytest.mark.parametrize("key, replaced", [s[1:] for s in SCANPY], ids=[s[0] for s in SCANPY])
def test_scanpy_record_is_not_replaced(func, key, replaced):
    a = _adata()
    a.uns["neighbors"] = {"params": {"method": "umap"}}  # scanpy's record, to be kept
    before = _snapshot(a)
    with pytest.raises(ValueError, match="key_added") as info:
        CALLS[func](a, key_added=key)
    message = str(info.value)
    assert replaced in message and f"key_added='{key}_scnmf'" in message
    _assert_unchanged(a, before)
    assert a.uns["neighbors"] == {"params": {"method": "umap"}}


@pytest.mark.parametrize(
    "kwargs, problem",
    [
        ({}, "adata.uns['persistence'] (persistence_key"),
        ({"persistence_key": "ph"}, "adata.uns['ph'] (persistence_key"),
    ],
    ids=["default", "custom"],
)
@pytest.mark.parametrize("stored", [True, False], ids=["stored", "missing"])
def test_pnmf_key_added_equal_to_persistence_key_is_refused(kwargs, problem, stored):
    a = _adata()
    pkey = kwargs.get("persistence_key", "persistence")
    if stored:
        snmf.tl.persistence(a, use_rep="X", n_scales=3, key_added=pkey)
    before = _snapshot(a)
    with pytest.raises(ValueError, match="key_added") as info:
        CALLS["pnmf"](a, key_added=pkey, **kwargs)
    message = str(info.value)
    assert "overwrite the call's own input" in message and problem in message
    assert f"key_added='{pkey}_result'" in message
    _assert_unchanged(a, before)


def test_pnmf_key_added_overwriting_the_records_representation_is_refused():
    a = _adata()
    snmf.tl.persistence(a, use_rep="X_emb", n_scales=3)
    before = _snapshot(a)
    with pytest.raises(ValueError, match="key_added") as info:
        CALLS["pnmf"](a, key_added="emb")
    message = str(info.value)
    assert "adata.obsm['X_emb'] (the representation" in message
    assert "key_added='emb_result'" in message
    _assert_unchanged(a, before)


def test_gnmf_key_added_overwriting_use_rep_is_refused():
    a = _adata()
    before = _snapshot(a)
    with pytest.raises(ValueError, match="key_added") as info:
        snmf.tl.gnmf(a, 2, max_iter=3, n_neighbors=3, use_rep="X_emb", key_added="emb")
    assert "adata.obsm['X_emb'] (use_rep" in str(info.value)
    assert "key_added='emb_result'" in str(info.value)
    _assert_unchanged(a, before)


@pytest.mark.parametrize("key", ["ph/1", "neighbors"], ids=["slash", "scanpy"])
def test_pnmf_persistence_key_is_a_written_key(key):
    a = _adata()
    before = _snapshot(a)
    with pytest.raises(ValueError, match="persistence_key") as info:
        CALLS["pnmf"](a, persistence_key=key)
    assert "persistence_key='" in str(info.value)  # the fix names a usable key
    _assert_unchanged(a, before)


@pytest.mark.parametrize("func", FUNCS)
def test_unusual_but_safe_key_round_trips_through_h5ad(func, tmp_path):
    key = "résumé v2.1"  # spaces, dots and non-ASCII are fine in .h5ad
    a = _adata()
    CALLS[func](a, key_added=key)
    assert key in a.uns
    path = tmp_path / "out.h5ad"
    a.write_h5ad(path)
    back = ad.read_h5ad(path)
    assert key in back.uns
    for name in a.obsm:
        np.testing.assert_array_equal(back.obsm[name], a.obsm[name])
        assert np.isfinite(back.obsm[name]).all()


def test_store_refuses_an_unsafe_key_before_writing_anything():
    a = _adata()
    before = _snapshot(a)
    with pytest.raises(ValueError, match="Nothing was stored") as info:
        store(a, False, obsm={"X_ok": np.zeros((N_OBS, 1))}, uns={"ok": {"a/b": 1}})
    assert "'/' separates groups" in str(info.value) and "report this as a bug" in str(info.value)
    _assert_unchanged(a, before)


@pytest.fixture
def h5ad_file(tmp_path):
    path = tmp_path / "in.h5ad"
    _adata().write_h5ad(path)
    return path


# (id, command, key, message pattern)
CLI = [
    ("nmf-slash", "nmf", "a/b", "'/' separates groups"),
    ("nmf-scanpy", "nmf", "pca", "sc.pp.pca"),
    ("pnmf-persistence", "pnmf", "persistence", "overwrite the call's own input"),
    ("pnmf-slash", "pnmf", "x/y", "key_added='x_y'"),
    ("deep-dot", "deep", ".hidden", "leading '.'"),
]


@pytest.mark.parametrize("command, key, pattern", [c[1:] for c in CLI], ids=[c[0] for c in CLI])
def test_cli_refuses_a_bad_key_and_writes_nothing(
    h5ad_file, tmp_path, capsys, command, key, pattern
):
    out = tmp_path / "out.h5ad"
    extra = ["--ranks", "3", "2", "--n-init-iter", "3", "--max-iter", "2"]
    if command != "deep":
        extra = ["-k", "2"] + (["--max-iter", "3"] if command == "nmf" else ["--n-sweeps", "1"])
    code = main([command, str(h5ad_file), "-o", str(out), "--key-added", key, *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert "key_added" in err and pattern in err
    assert not out.exists() and not list(tmp_path.glob("*.part"))
    ad.read_h5ad(h5ad_file)  # the input is untouched and readable
