"""Hostile cases, class "Plots" (issue 13): every ``pl`` function refuses bad input cleanly.

Each ``scnmf.pl`` function is called before its ``tl`` function, with a wrong or mistyped
key, a key of another tool's record, a wrong ``color=`` / ``labels=`` column, ``save=`` of
an odd type or place, ``ax=`` of the wrong type, ``show``/``return_fig``/flags that are not
bools, and counts or indices (``n_genes``, ``components``, ``scales``, ``max_bars``, …) out
of range. Each must raise a KeyError/ValueError/TypeError that names the problem and the
fix, leave the AnnData unchanged and leave no figure open. The checks live in one place,
``scnmf/pl/_utils.py`` (``stored``/``stored_record``, ``new_axes``, ``finish`` and the
option checkers). The last cases are edge inputs that must give a correct result.

Corrupt persistence/pNMF records are covered in test_records.py.
"""

from __future__ import annotations

import re

import anndata as ad
import matplotlib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import scnmf as snmf

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from ._support import assert_unchanged as _assert_unchanged
from ._support import snapshot as _snapshot

PL = snmf.pl


# --- fitted results (small and fast) ---------------------------------------------------------


def _counts(n=60, m=30, seed=0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    X = rng.poisson(rng.gamma(1.0, 1.0, (n, 1)) * rng.gamma(1.0, 1.0, (1, m))) + 1
    obs = pd.DataFrame({"label": rng.choice(["a", "b"], n)}, index=[f"c{i}" for i in range(n)])
    var = pd.DataFrame(index=[f"g{j}" for j in range(m)])
    return ad.AnnData(sp.csr_matrix(X.astype(np.float32)), obs=obs, var=var)


@pytest.fixture(scope="module")
def fits() -> dict[str, ad.AnnData]:
    nmf = _counts()
    snmf.tl.nmf(nmf, 3, max_iter=10)
    nmf.uns["pca"] = {"variance": np.ones(3)}  # another tool's record
    nmf.uns["note"] = "a loss curve"  # not a record at all
    nmf.uns["bad_loss"] = {"loss": "decreasing"}  # a record whose loss is not numbers
    nmf.varm["empty_loadings"] = np.zeros((nmf.n_vars, 0))
    deep = snmf.datasets.two_level_hierarchy(n_cells=120, n_genes=60, random_state=1)
    snmf.tl.deep_nmf(deep, (4, 2), n_init_iter=20, max_iter=10)
    snmf.tl.nmf(deep, 2, max_iter=5)
    deep.uns["deep_no_base"] = {
        "ranks": deep.uns["deep_nmf"]["ranks"],
        "errors": {"deep": deep.uns["deep_nmf"]["errors"]["deep"]},
    }
    circles = snmf.datasets.concentric_circles()
    snmf.tl.persistence(circles, n_scales=3)
    snmf.tl.pnmf(circles, 2, n_sweeps=1, max_inner_iter=10)
    return {"bare": _counts(), "nmf": nmf, "deep": deep, "pnmf": circles}


@pytest.fixture
def tmp_targets(tmp_path):
    """Paths for the save= cases: a file where a folder should be, and a folder."""
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_folder").mkdir()
    return tmp_path


# --- the cases ---------------------------------------------------------------------------

T, V, K = TypeError, ValueError, KeyError
FIX_KEY = "key_added"

#: (id, fit, function, kwargs, error, problem regex, fix regex). A kwarg value "<tmp>/…"
#: is a path under a temporary folder; "<axes-array>" / "<figure>" / "<axes-list>" are made
#: per case (and closed after).
CASES = [
    # before the tl function ran
    (
        "loadings-before-tl",
        "bare",
        "loadings",
        {},
        K,
        r"'nmf_loadings'\] not found",
        r"run scnmf\.tl\.nmf",
    ),
    ("loss-before-tl", "bare", "loss", {}, K, r"uns\['nmf'\] not found", r"run scnmf\.tl\.nmf"),
    (
        "deep_hierarchy-before-tl",
        "bare",
        "deep_hierarchy",
        {},
        K,
        "not found",
        r"run scnmf\.tl\.deep_nmf",
    ),
    (
        "layer_errors-before-tl",
        "bare",
        "layer_errors",
        {},
        K,
        "not found",
        r"run scnmf\.tl\.deep_nmf",
    ),
    (
        "persistence_diagram-before-tl",
        "bare",
        "persistence_diagram",
        {},
        K,
        "not found",
        r"run scnmf\.tl\.persistence",
    ),
    ("barcode-before-tl", "bare", "barcode", {}, K, "not found", r"run scnmf\.tl\.persistence"),
    ("scale_path-before-tl", "bare", "scale_path", {}, K, "not found", r"run scnmf\.tl\.pnmf"),
    # a key that is not there
    (
        "loadings-wrong-key",
        "nmf",
        "loadings",
        {"key": "nope"},
        K,
        r"'nope_loadings'\] not found",
        FIX_KEY,
    ),
    ("loss-wrong-key", "nmf", "loss", {"key": "nope"}, K, r"'nope'\] not found", FIX_KEY),
    (
        "deep_hierarchy-wrong-key",
        "deep",
        "deep_hierarchy",
        {"key": "nope"},
        K,
        r"'nope'\] not found",
        FIX_KEY,
    ),
    (
        "layer_errors-wrong-key",
        "deep",
        "layer_errors",
        {"key": "nope"},
        K,
        r"'nope'\] not found",
        FIX_KEY,
    ),
    (
        "persistence_diagram-wrong-key",
        "pnmf",
        "persistence_diagram",
        {"key": "nope"},
        K,
        r"'nope'\] not found",
        FIX_KEY,
    ),
    ("barcode-wrong-key", "pnmf", "barcode", {"key": "nope"}, K, r"'nope'\] not found", FIX_KEY),
    ("scale_path-wrong-key", "pnmf", "scale_path", {"key": "nope"}, K, "not found", FIX_KEY),
    # a key of the wrong type
    ("loss-key-int", "nmf", "loss", {"key": 3}, T, "key=3 is an int, not a string", FIX_KEY),
    ("loadings-key-none", "nmf", "loadings", {"key": None}, T, "key=None is a NoneType", FIX_KEY),
    (
        "deep_hierarchy-key-list",
        "deep",
        "deep_hierarchy",
        {"key": ["deep_nmf"]},
        T,
        "is a list, not a string",
        FIX_KEY,
    ),
    ("barcode-key-empty", "pnmf", "barcode", {"key": ""}, V, "key='' is empty", FIX_KEY),
    # a key of another tool's record
    (
        "loss-scanpy-record",
        "nmf",
        "loss",
        {"key": "pca"},
        K,
        r"uns\['pca'\] holds no 'loss'",
        FIX_KEY,
    ),
    ("loss-not-a-record", "nmf", "loss", {"key": "note"}, T, r"is a str, not a record", FIX_KEY),
    (
        "loss-corrupt-values",
        "nmf",
        "loss",
        {"key": "bad_loss"},
        V,
        "not a list of loss values",
        r"rerun scnmf\.tl\.nmf",
    ),
    (
        "loadings-empty-programs",
        "nmf",
        "loadings",
        {"key": "empty"},
        V,
        r"shape \(30, 0\), not genes × programs",
        "rerun",
    ),
    (
        "deep_hierarchy-nmf-record",
        "deep",
        "deep_hierarchy",
        {"key": "nmf"},
        K,
        "holds no 'ranks'",
        FIX_KEY,
    ),
    (
        "layer_errors-nmf-record",
        "deep",
        "layer_errors",
        {"key": "nmf"},
        K,
        "holds no 'errors'",
        FIX_KEY,
    ),
    (
        "layer_errors-no-baseline",
        "deep",
        "layer_errors",
        {"key": "deep_no_base", "relative": True},
        K,
        "no multilayer baseline",
        "multilayer_baseline=True",
    ),
    (
        "not-an-anndata",
        None,
        "loss",
        {},
        T,
        "Expected an AnnData, got an ndarray",
        "pass the AnnData",
    ),
    # a wrong obs column
    (
        "scale_path-color-missing",
        "pnmf",
        "scale_path",
        {"color": "nope"},
        K,
        "color='nope' is not a column of adata.obs",
        "'label'",
    ),
    (
        "scale_path-color-int",
        "pnmf",
        "scale_path",
        {"color": 5},
        K,
        "color=5 is not a column",
        "pass one of its columns",
    ),
    (
        "deep_hierarchy-labels-missing",
        "deep",
        "deep_hierarchy",
        {"labels": "not_a_column"},
        K,
        "labels='not_a_column' is not a column",
        "pass 'genes' or one of its columns.*'fine'",
    ),
    (
        "deep_hierarchy-labels-none",
        "deep",
        "deep_hierarchy",
        {"labels": None},
        K,
        "labels=None is not a column",
        "pass 'genes' or one of its columns",
    ),
    # save= of an odd type or place
    (
        "loss-save-int",
        "nmf",
        "loss",
        {"save": 123},
        T,
        "save=123 is an int, not a file path",
        "save='figure.png'",
    ),
    (
        "barcode-save-list",
        "pnmf",
        "barcode",
        {"save": ["a.png"]},
        T,
        "is a list, not a file path",
        "save='figure.png'",
    ),
    (
        "layer_errors-save-format",
        "deep",
        "layer_errors",
        {"save": "<tmp>/fig.xyz"},
        V,
        "format 'xyz' is not supported",
        "'png'",
    ),
    (
        "persistence_diagram-save-no-folder",
        "pnmf",
        "persistence_diagram",
        {"save": "<tmp>/missing/x.png"},
        V,
        "does not exist",
        "create the folder first",
    ),
    (
        "deep_hierarchy-save-folder",
        "deep",
        "deep_hierarchy",
        {"save": "<tmp>/a_folder"},
        V,
        "is a folder",
        "a_folder/figure.png",
    ),
    (
        "scale_path-save-empty",
        "pnmf",
        "scale_path",
        {"save": ""},
        V,
        "names no file",
        "save='figure.png'",
    ),
    (
        "loss-save-under-file",
        "nmf",
        "loss",
        {"save": "<tmp>/a_file/x.png"},
        V,
        "is not a folder",
        "create the folder first",
    ),
    # ax= of the wrong type
    (
        "loss-ax-str",
        "nmf",
        "loss",
        {"ax": "ax"},
        T,
        "ax='ax' is a str, not a matplotlib Axes",
        r"plt\.subplots\(\)",
    ),
    (
        "layer_errors-ax-array",
        "deep",
        "layer_errors",
        {"ax": "<axes-array>"},
        T,
        "is an ndarray, not a matplotlib Axes",
        "pass one Axes",
    ),
    (
        "deep_hierarchy-ax-figure",
        "deep",
        "deep_hierarchy",
        {"ax": "<figure>"},
        T,
        "is a Figure, not a matplotlib Axes",
        "ax=None",
    ),
    (
        "persistence_diagram-ax-int",
        "pnmf",
        "persistence_diagram",
        {"ax": 1},
        T,
        "ax=1 is an int",
        "pass one Axes",
    ),
    (
        "barcode-ax-list",
        "pnmf",
        "barcode",
        {"ax": "<axes-list>"},
        T,
        "is a list, not a matplotlib Axes",
        "pass one Axes",
    ),
    # flags that are not bools
    (
        "loss-show-str",
        "nmf",
        "loss",
        {"show": "yes"},
        T,
        "show='yes' is not a bool",
        "True, False or None",
    ),
    (
        "loadings-return_fig-str",
        "nmf",
        "loadings",
        {"return_fig": "fig"},
        T,
        "return_fig='fig' is not a bool",
        "True or False",
    ),
    ("loss-log-str", "nmf", "loss", {"log": "no"}, T, "log='no' is not a bool", "True or False"),
    (
        "layer_errors-relative-str",
        "deep",
        "layer_errors",
        {"relative": "yes"},
        T,
        "relative='yes' is not a bool",
        "True or False",
    ),
    # counts and indices out of range or of the wrong type
    (
        "loadings-n_genes-zero",
        "nmf",
        "loadings",
        {"n_genes": 0},
        V,
        "n_genes=0 is out of range",
        "integer ≥ 1",
    ),
    (
        "loadings-n_genes-negative",
        "nmf",
        "loadings",
        {"n_genes": -1},
        V,
        "n_genes=-1 is out of range",
        "integer ≥ 1",
    ),
    (
        "loadings-n_genes-float",
        "nmf",
        "loadings",
        {"n_genes": 2.5},
        T,
        "n_genes=2.5 is not an integer",
        "n_genes=10",
    ),
    (
        "loadings-n_genes-str",
        "nmf",
        "loadings",
        {"n_genes": "5"},
        T,
        "n_genes='5' is not an integer",
        "n_genes=10",
    ),
    (
        "loadings-n_genes-bool",
        "nmf",
        "loadings",
        {"n_genes": True},
        T,
        "n_genes=True is not an integer",
        "n_genes=10",
    ),
    (
        "loadings-ncols-zero",
        "nmf",
        "loadings",
        {"ncols": 0},
        V,
        "ncols=0 is out of range",
        "ncols=4",
    ),
    (
        "loadings-components-above",
        "nmf",
        "loadings",
        {"components": [7]},
        V,
        r"components \[7\] out of range: the result has 3 programs",
        "0…2",
    ),
    (
        "loadings-components-negative",
        "nmf",
        "loadings",
        {"components": [-1]},
        V,
        r"components \[-1\] out of range",
        "0…2",
    ),
    (
        "loadings-components-float",
        "nmf",
        "loadings",
        {"components": [1.5]},
        T,
        "holds 1.5, which is not an integer",
        "0 … 2",
    ),
    (
        "loadings-components-empty",
        "nmf",
        "loadings",
        {"components": []},
        V,
        "components is empty",
        "at least one index",
    ),
    (
        "loadings-components-str",
        "nmf",
        "loadings",
        {"components": "0"},
        T,
        "not an index or a list",
        r"components=\[0, 1\]",
    ),
    (
        "deep_hierarchy-n_genes-zero",
        "deep",
        "deep_hierarchy",
        {"n_genes": 0},
        V,
        "n_genes=0 is out of range",
        "n_genes=3",
    ),
    (
        "deep_hierarchy-n_genes-negative",
        "deep",
        "deep_hierarchy",
        {"n_genes": -2},
        V,
        "n_genes=-2 is out of range",
        "integer ≥ 1",
    ),
    (
        "deep_hierarchy-min_flow-above",
        "deep",
        "deep_hierarchy",
        {"min_flow": 1.5},
        V,
        "min_flow=1.5 is out of range",
        r"\[0, 1\]",
    ),
    (
        "deep_hierarchy-min_flow-nan",
        "deep",
        "deep_hierarchy",
        {"min_flow": float("nan")},
        V,
        "min_flow=nan is out of range",
        r"\[0, 1\]",
    ),
    (
        "deep_hierarchy-min_flow-str",
        "deep",
        "deep_hierarchy",
        {"min_flow": "0.1"},
        T,
        "is not a number",
        r"\[0, 1\]",
    ),
    (
        "deep_hierarchy-gap-too-wide",
        "deep",
        "deep_hierarchy",
        {"gap": 0.5},
        V,
        "gap=0.5 is out of range",
        r"\[0, 0.333333\)",
    ),
    (
        "deep_hierarchy-gap-negative",
        "deep",
        "deep_hierarchy",
        {"gap": -0.1},
        V,
        "gap=-0.1 is out of range",
        r"\[0, ",
    ),
    (
        "scale_path-scales-above",
        "pnmf",
        "scale_path",
        {"scales": [7]},
        V,
        r"scales \[7\] out of range: the result has 3 scales",
        "0…2",
    ),
    (
        "scale_path-scales-negative",
        "pnmf",
        "scale_path",
        {"scales": [-1]},
        V,
        r"scales \[-1\] out of range",
        "0…2",
    ),
    (
        "scale_path-scales-float",
        "pnmf",
        "scale_path",
        {"scales": [0.5]},
        T,
        "holds 0.5, which is not an integer",
        "0 … 2",
    ),
    (
        "scale_path-max_panels-zero",
        "pnmf",
        "scale_path",
        {"max_panels": 0},
        V,
        "max_panels=0 is out of range",
        "max_panels=8",
    ),
    (
        "barcode-max_bars-zero",
        "pnmf",
        "barcode",
        {"max_bars": 0},
        V,
        "max_bars=0 is out of range",
        "max_bars=200",
    ),
    (
        "barcode-max_bars-negative",
        "pnmf",
        "barcode",
        {"max_bars": -3},
        V,
        "max_bars=-3 is out of range",
        "integer ≥ 1",
    ),
    (
        "barcode-max_bars-float",
        "pnmf",
        "barcode",
        {"max_bars": 2.5},
        T,
        "max_bars=2.5 is not an integer",
        "max_bars=200",
    ),
]


def _materialise(kwargs: dict, tmp: object) -> tuple[dict, list]:
    """Fill the placeholders of a case's kwargs; return them and the figures made for them."""
    made, out = [], {}
    for name, value in kwargs.items():
        if isinstance(value, str) and value.startswith("<tmp>"):
            value = str(tmp) + value[len("<tmp>") :]
        elif value == "<axes-array>":
            fig, value = plt.subplots(1, 2)
            made.append(fig)
        elif value == "<axes-list>":
            fig, ax = plt.subplots()
            made.append(fig)
            value = [ax]
        elif value == "<figure>":
            value = plt.figure()
            made.append(value)
        out[name] = value
    return out, made


@pytest.mark.parametrize(
    ("fit", "function", "kwargs", "error", "problem", "fix"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_plot_input(fits, tmp_targets, fit, function, kwargs, error, problem, fix):
    adata = np.ones((3, 3)) if fit is None else fits[fit]
    before = None if fit is None else _snapshot(adata)
    kwargs, made = _materialise(kwargs, tmp_targets)
    open_before = set(plt.get_fignums())
    try:
        with pytest.raises(error) as caught:
            getattr(PL, function)(adata, show=kwargs.pop("show", False), **kwargs)
        message = str(caught.value)
        assert re.search(problem, message), message
        assert re.search(fix, message), message
        assert set(plt.get_fignums()) == open_before, "a figure was left open"
        assert not any(p.name != "a_file" and p.is_file() for p in tmp_targets.rglob("*"))
        if before is not None:
            _assert_unchanged(adata, before)
    finally:
        for fig in made:
            plt.close(fig)
        plt.close("all")


# --- edge inputs with a correct result ----------------------------------------------------


def test_n_genes_above_n_vars_shows_every_gene(fits):
    adata = fits["nmf"]
    before = _snapshot(adata)
    axes = PL.loadings(adata, n_genes=10_000, show=False)
    for ax, comp in zip(axes.flat, range(3), strict=True):
        labels = [t.get_text() for t in ax.get_yticklabels()]
        table = snmf.get.programs(adata, n_genes=adata.n_vars)
        top = table[table["program"] == f"nmf_{comp}"]["gene"].tolist()
        assert labels[::-1] == top and len(labels) == adata.n_vars
    _assert_unchanged(adata, before)
    plt.close("all")


@pytest.mark.parametrize(
    ("components", "panels"), [(1, [1]), (np.array([0, 2]), [0, 2]), (np.int64(2), [2])]
)
def test_components_as_int_or_array(fits, components, panels):
    axes = PL.loadings(fits["nmf"], components=components, show=False)
    visible = [ax.get_title() for ax in axes.flat if ax.get_visible()]
    assert visible == [f"program {c}" for c in panels]
    plt.close("all")


@pytest.mark.parametrize("kind", ["str", "path"])
def test_save_to_a_path(fits, tmp_path, kind):
    target = tmp_path / "loss.png"
    ax = PL.loss(fits["nmf"], save=str(target) if kind == "str" else target, show=False)
    assert target.is_file() and target.stat().st_size > 0
    np.testing.assert_allclose(ax.lines[0].get_ydata(), fits["nmf"].uns["nmf"]["loss"])
    plt.close("all")


def test_save_false_writes_nothing(fits, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    PL.layer_errors(fits["deep"], save=False, show=False)
    assert not list(tmp_path.iterdir())
    plt.close("all")


def test_given_axes_are_used(fits):
    fig, given = plt.subplots()
    for function, fit in (("loss", "nmf"), ("barcode", "pnmf"), ("deep_hierarchy", "deep")):
        given.clear()
        assert getattr(PL, function)(fits[fit], ax=given, show=False) is given
    plt.close(fig)
