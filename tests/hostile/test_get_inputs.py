"""Hostile inputs to get.activities / get.programs / get.program_names / tl.rename_programs.

Every bad value is refused with the problem and the fix, and the AnnData is left as it was.
"""

from __future__ import annotations

import re

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import scnmf as snmf

from ._support import assert_unchanged, counts, snapshot

K = 3


@pytest.fixture(scope="module")
def fitted() -> ad.AnnData:
    X = counts(n_obs=40, n_vars=15).astype(np.float32)
    adata = ad.AnnData(
        X,
        obs=pd.DataFrame(index=[f"c{i}" for i in range(40)]),
        var=pd.DataFrame(index=[f"g{j}" for j in range(15)]),
    )
    snmf.tl.nmf(adata, K, max_iter=10)
    snmf.tl.persistence(adata, n_scales=3)
    snmf.tl.pnmf(adata, K, n_sweeps=1, max_inner_iter=5)
    snmf.tl.deep_nmf(adata, (4, 2), n_init_iter=5, max_iter=3)
    return adata


def _refused(adata, call, error, *patterns):
    before = snapshot(adata)
    with pytest.raises(error) as info:
        call(adata)
    for pattern in patterns:
        assert re.search(pattern, str(info.value)), (pattern, str(info.value))
    assert_unchanged(adata, before)


GETTERS = {
    "activities": lambda a, key, **kw: snmf.get.activities(a, key, **kw),
    "programs": lambda a, key, **kw: snmf.get.programs(a, key, **kw),
    "program_names": lambda a, key, **kw: snmf.get.program_names(a, key, **kw),
    "rename_programs": lambda a, key, **kw: snmf.tl.rename_programs(
        a, key, ["a", "b", "c", "d"][: 2 if kw.get("layer") == 2 else K], **kw
    ),
}


@pytest.mark.parametrize("getter", list(GETTERS))
def test_unknown_key_says_what_to_run(fitted, getter):
    _refused(
        fitted, lambda a: GETTERS[getter](a, "nope"), KeyError, r"key='nope'", r"run scnmf\.tl\.nmf"
    )


@pytest.mark.parametrize("getter", list(GETTERS))
@pytest.mark.parametrize("key", [None, 3, ""])
def test_key_must_be_a_string(fitted, getter, key):
    _refused(fitted, lambda a: GETTERS[getter](a, key), TypeError, r"not a non-empty string")


@pytest.mark.parametrize("getter", list(GETTERS))
def test_not_an_anndata(getter):
    with pytest.raises(TypeError, match="Expected an AnnData"):
        GETTERS[getter](np.ones((3, 3)), "nmf")


def test_a_record_that_is_no_result(fitted):
    _refused(
        fitted, lambda a: snmf.get.activities(a, "persistence"), KeyError, r"not a scnmf result"
    )


@pytest.mark.parametrize("getter", ["activities", "programs", "program_names"])
@pytest.mark.parametrize("scale", [3, -1, 1.0, True, "0"], ids=["T", "-1", "float", "bool", "str"])
def test_scale_out_of_range(fitted, getter, scale):
    _refused(
        fitted,
        lambda a: GETTERS[getter](a, "pnmf", scale=scale),
        ValueError,
        rf"Invalid option {re.escape(repr(scale))} for scale",
        r"integers 0 … 2",
        r"has 3 scales",
    )


@pytest.mark.parametrize("getter", ["activities", "programs", "program_names"])
def test_scale_of_a_result_without_scales(fitted, getter):
    _refused(
        fitted,
        lambda a: GETTERS[getter](a, "nmf", scale=0),
        ValueError,
        r"Invalid option 0 for scale",
        r"not a tl\.pnmf result",
    )


@pytest.mark.parametrize("getter", list(GETTERS))
@pytest.mark.parametrize("layer", [0, 3, -1, 1.5, True], ids=["0", "L+1", "-1", "float", "bool"])
def test_layer_out_of_range(fitted, getter, layer):
    _refused(
        fitted,
        lambda a: GETTERS[getter](a, "deep_nmf", layer=layer),
        ValueError,
        rf"Invalid option {re.escape(repr(layer))} for layer",
        r"integers 1 … 2",
        r"has 2 layers",
    )


@pytest.mark.parametrize("getter", list(GETTERS))
def test_layer_of_a_result_without_layers(fitted, getter):
    _refused(
        fitted,
        lambda a: GETTERS[getter](a, "nmf", layer=1),
        ValueError,
        r"Invalid option 1 for layer",
        r"not a tl\.deep_nmf result",
    )


@pytest.mark.parametrize(
    "n_genes", [0, -1, 2.5, True, "3", np.float64(2)], ids=["0", "-1", "float", "bool", "str", "np"]
)
def test_n_genes_out_of_range(fitted, n_genes):
    _refused(
        fitted,
        lambda a: snmf.get.programs(a, "nmf", n_genes=n_genes),
        ValueError,
        rf"Invalid option {re.escape(repr(n_genes))} for n_genes",
        r"integers ≥ 1 \(every gene above 15, the number of genes\) or None",
        r"pass e\.g\. n_genes=10",
    )


@pytest.mark.parametrize(
    "n_genes", [1, 15, 16, 10_000, np.int64(4), None], ids=["1", "all", "n+1", "big", "np", "None"]
)
def test_n_genes_accepted(fitted, n_genes):
    table = snmf.get.programs(fitted, "nmf", n_genes=n_genes)
    n = 15 if n_genes is None else min(int(n_genes), 15)  # every gene at most
    assert table.shape == (n * K, 4) and table["rank"].max() == n


@pytest.mark.parametrize("method", ["z-score", "", None, 1])
def test_wrong_method(fitted, method):
    _refused(
        fitted,
        lambda a: snmf.get.programs(a, "nmf", method=method),
        ValueError,
        rf"Invalid option {re.escape(repr(method))} for method",
        r"'loading' or 'specificity'",
    )


@pytest.mark.parametrize("normalize", [1, "yes", None])
def test_normalize_is_a_flag(fitted, normalize):
    _refused(
        fitted,
        lambda a: snmf.get.activities(a, "nmf", normalize=normalize),
        ValueError,
        r"for normalize\. Valid options are True or False",
    )


@pytest.mark.parametrize(
    "names, problem",
    [
        (["a", "b"], r"Got 2 names for 3 programs"),
        (["a", "b", "c", "d"], r"Got 4 names for 3 programs"),
        (["a", "b", "a"], r"\['a'\] appear more than once"),
        (["a", "b", 3], r"3 is not a non-empty string"),
        (["a", "", "c"], r"'' is not a non-empty string"),
        (["a", "b/c", "d"], r"'/' separates groups"),
        ("abc", r"Pass a list"),
        ({"a": 1, "b": 2, "c": 3}, r"Pass a list"),
        (3, r"Pass a list"),
    ],
    ids=["short", "long", "repeat", "int", "empty", "slash", "str", "dict", "int-scalar"],
)
def test_bad_names(fitted, names, problem):
    _refused(
        fitted,
        lambda a: snmf.tl.rename_programs(a, "nmf", names),
        ValueError,
        r"for names\. Valid options are 3 distinct non-empty strings",
        problem,
    )


def test_names_of_a_deep_layer_count_its_programs(fitted):
    _refused(
        fitted,
        lambda a: snmf.tl.rename_programs(a, "deep_nmf", ["a", "b", "c"], layer=2),
        ValueError,
        r"Valid options are 2 distinct non-empty strings \(one per program of 'deep_nmf' layer 2",
    )


def test_rename_a_plain_varm_matrix(fitted):
    adata = fitted.copy()
    adata.varm["mine"] = np.ones((adata.n_vars, 2))
    _refused(
        adata,
        lambda a: snmf.tl.rename_programs(a, "mine", ["a", "b"]),
        ValueError,
        r"plain matrix with no record",
    )


def test_stored_names_of_the_wrong_length(fitted):
    adata = fitted.copy()
    adata.uns["nmf"]["program_names"] = np.array(["a", "b"])
    _refused(
        adata,
        lambda a: snmf.get.activities(a, "nmf"),
        ValueError,
        r"holds 2 names \(2 distinct\) for the 3 programs",
        r"tl\.rename_programs",
    )


def test_missing_arrays_of_a_record(fitted):
    adata = fitted.copy()
    del adata.obsm["X_pnmf_scales"]
    _refused(
        adata,
        lambda a: snmf.get.activities(a, "pnmf"),
        KeyError,
        r"adata\.obsm\['X_pnmf_scales'\] not found",
        r"rerun tl\.pnmf with key_added='pnmf'",
    )
    adata = fitted.copy()
    del adata.varm["nmf_loadings"]
    # without loadings, nmf's record is one of activities only
    _refused(adata, lambda a: snmf.get.programs(a, "nmf"), ValueError, r"activities only")


def test_copy_is_a_flag(fitted):
    _refused(
        fitted,
        lambda a: snmf.tl.rename_programs(a, "nmf", ["a", "b", "c"], copy="yes"),
        ValueError,
        r"for copy",
    )
