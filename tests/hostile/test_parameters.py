"""Hostile parameters: every bad value is refused before any work, with the problem and the fix.

Each case asserts the exact outcome: the error type, a message naming the problem and the
fix, and the AnnData unchanged; or, for values that are legitimate, a correct finite result.
"""

from __future__ import annotations

import re

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import scnmf as snmf
from scnmf._core.nmf.init import initialize

from ._support import assert_unchanged as _assert_unchanged
from ._support import snapshot as _snapshot

N_OBS, N_VARS = 40, 15


def _adata(seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    X = rng.poisson(2.0, (N_OBS, N_VARS)).astype(np.float32)
    X[:, 0] += 1
    obs = pd.DataFrame(index=[f"c{i}" for i in range(N_OBS)])
    var = pd.DataFrame(index=[f"g{j}" for j in range(N_VARS)])
    return ad.AnnData(X, obs=obs, var=var)


def _refused(call, error, *patterns, adata=None):
    """``call(adata)`` raises ``error`` matching every pattern; the AnnData is unchanged."""
    adata = _adata() if adata is None else adata
    before = _snapshot(adata)
    with pytest.raises(error) as info:
        call(adata)
    for pattern in patterns:
        assert re.search(pattern, str(info.value)), (
            pattern,
            str(info.value),
        )
    _assert_unchanged(adata, before)
    return str(info.value)


def _no_fit(monkeypatch):
    """Make any fit fail loudly, so a refusal is proven to come before the work."""

    def boom(*args, **kwargs):
        raise AssertionError("the fit started before the bad input was refused")

    for module, name in (
        ("scnmf.tl._nmf", "fit_nmf"),
        ("scnmf.tl._deep_nmf", "fit_deep"),
        ("scnmf.tl._gnmf", "fit_gnmf"),
    ):
        monkeypatch.setattr(f"{module}.{name}", boom, raising=False)


FAST = {"max_iter": 5, "mask_var": None}
K = 3
GOOD_W = np.full((N_OBS, K), 0.5)
GOOD_H = np.full((K, N_VARS), 0.5)


# ----------------------------------------------------------------------------------------
# init_W / init_H: never silently ignored, checked before any work
# ----------------------------------------------------------------------------------------
def _zero_col(a, j):
    a = a.copy()
    a[:, j] = 0
    return a


def _with(a, i, value):
    a = a.copy()
    a.flat[i] = value
    return a


CUSTOM_BAD = {
    "init_W-without-custom": (
        {"init_W": GOOD_W},
        [r"init_W would be ignored with init='nndsvda'", r"pass init='custom'"],
    ),
    "init_H-without-custom": (
        {"init": "random", "init_H": GOOD_H},
        [r"init_H would be ignored with init='random'", r"pass init='custom'"],
    ),
    "both-without-custom": (
        {"init": "nndsvd", "init_W": GOOD_W, "init_H": GOOD_H},
        [r"init_W and init_H would be ignored", r"pass init='custom'"],
    ),
    "custom-without-H": (
        {"init": "custom", "init_W": GOOD_W},
        [r"factors W and H: pass init_H too", r"choose an automatic init"],
    ),
    "custom-without-either": (
        {"init": "custom"},
        [r"pass init_W and init_H too", r"'nndsvda'"],
    ),
    "W-all-zero": (
        {"init": "custom", "init_W": np.zeros((N_OBS, K)), "init_H": GOOD_H},
        [
            r"an array that is all zeros for init_W",
            r"stored as 'converged'",
            r"nonzero values or use init='nndsvda'",
        ],
    ),
    "H-all-zero": (
        {"init": "custom", "init_W": GOOD_W, "init_H": np.zeros((K, N_VARS))},
        [r"an array that is all zeros for init_H", r"nonzero values"],
    ),
    "W-one-zero-program": (
        {"init": "custom", "init_W": _zero_col(GOOD_W, 1), "init_H": GOOD_H},
        [r"an array that is zero for programs \[1\] for init_W", r"nonzero values"],
    ),
    "W-wrong-shape": (
        {"init": "custom", "init_W": np.ones((N_OBS, K + 1)), "init_H": GOOD_H},
        [
            r"shape \(40, 4\) for init_W. Valid options are arrays of shape \(40, 3\)",
            r"cells × n_components",
        ],
    ),
    "H-transposed": (
        {"init": "custom", "init_W": GOOD_W, "init_H": GOOD_H.T},
        [
            r"shape \(15, 3\) for init_H. Valid options are arrays of shape \(3, 15\)",
            r"genes selected",
        ],
    ),
    "W-nan": (
        {"init": "custom", "init_W": _with(GOOD_W, 4, np.nan), "init_H": GOOD_H},
        [r"NaN, infinite or negative entries for init_W", r"np\.clip"],
    ),
    "H-negative": (
        {"init": "custom", "init_W": GOOD_W, "init_H": _with(GOOD_H, 2, -1.0)},
        [r"NaN, infinite or negative entries for init_H", r"np\.clip"],
    ),
    "H-inf": (
        {"init": "custom", "init_W": GOOD_W, "init_H": _with(GOOD_H, 0, np.inf)},
        [r"NaN, infinite or negative entries for init_H", r"Clip or impute"],
    ),
    "W-strings": (
        {"init": "custom", "init_W": np.full((N_OBS, K), "a"), "init_H": GOOD_H},
        [r"of type ndarray \(dtype <U1\) for init_W", r"numeric ndarray"],
    ),
    "W-bool": (
        {"init": "custom", "init_W": np.ones((N_OBS, K), dtype=bool), "init_H": GOOD_H},
        [r"\(dtype bool\) for init_W", r"numeric ndarray"],
    ),
}


@pytest.mark.parametrize("kwargs,patterns", CUSTOM_BAD.values(), ids=CUSTOM_BAD.keys())
def test_custom_factors_refused_before_any_work(kwargs, patterns, monkeypatch):
    _no_fit(monkeypatch)
    _refused(lambda a: snmf.tl.nmf(a, K, **FAST, **kwargs), ValueError, *patterns)


def test_custom_H_checked_against_the_masked_genes(monkeypatch):
    _no_fit(monkeypatch)
    adata = _adata()
    adata.var["highly_variable"] = np.arange(N_VARS) < 10
    _refused(
        lambda a: snmf.tl.nmf(a, K, init="custom", init_W=GOOD_W, init_H=GOOD_H, max_iter=5),
        ValueError,
        r"shape \(3, 15\) for init_H. Valid options are arrays of shape \(3, 10\)",
        r"genes selected by mask_var",
        adata=adata,
    )


def test_valid_custom_factors_are_used():
    adata = _adata()
    W0 = np.random.default_rng(1).random((N_OBS, K)) + 0.1
    H0 = sp.csr_matrix(np.random.default_rng(2).random((K, N_VARS)) + 0.1)  # sparse: fine
    snmf.tl.nmf(adata, K, init="custom", init_W=W0, init_H=H0, max_iter=0, tol=0, mask_var=None)
    np.testing.assert_allclose(adata.obsm["X_nmf"], W0, rtol=1e-6)
    np.testing.assert_allclose(adata.varm["nmf_loadings"], H0.toarray().T, rtol=1e-6)
    assert adata.uns["nmf"]["params"]["init"] == "custom"


# ----------------------------------------------------------------------------------------
# agd_options: a typed rule per option
# ----------------------------------------------------------------------------------------
AGD_BAD = {
    "step-negative": ({"step": -1.0}, r"agd_options\['step'\]", r"descent diverges at 2"),
    "step-zero": ({"step": 0}, r"finite numbers > 0 and < 2", r"1/λ_max"),
    "step-too-large": ({"step": 2.5}, r"Invalid option 2.5 for agd_options\['step'\]", r"< 2"),
    "step-string": ({"step": "1"}, r"agd_options\['step'\]", r"\(default 1\)"),
    "decay-one": ({"decay": 1.0}, r"agd_options\['decay'\]. .*> 1", r"divided by decay"),
    "decay-below-one": ({"decay": 0.5}, r"agd_options\['decay'\]", r"default 1.1"),
    "decay-nan": ({"decay": float("nan")}, r"agd_options\['decay'\]", r"divided by decay"),
    "batch_size-float": (
        {"batch_size": 64.0},
        r"Invalid option 64.0 for agd_options\['batch_size'\]. .*None or integers ≥ 1",
        r"batch_size=256",
    ),
    "batch_size-zero": ({"batch_size": 0}, r"agd_options\['batch_size'\]", r"Cells per mini-batch"),
    "batch_size-bool": ({"batch_size": True}, r"agd_options\['batch_size'\]", r"None: full"),
    "n_stages-string": (
        {"n_stages": "10"},
        r"Invalid option '10' for agd_options\['n_stages'\]. .*integers ≥ 0",
        r"n_stages=50",
    ),
    "n_stages-negative": ({"n_stages": -3}, r"agd_options\['n_stages'\]", r"threshold levels"),
    "n_inner-zero": ({"n_inner": 0}, r"agd_options\['n_inner'\]. .*integers ≥ 1", r"n_inner=20"),
    "n_inner-float": ({"n_inner": 5.0}, r"agd_options\['n_inner'\]", r"gradient steps"),
    "alpha0-negative": ({"alpha0": -0.1}, r"agd_options\['alpha0'\]", r"None scales it"),
    "alpha0-inf": ({"alpha0": np.inf}, r"None or finite numbers ≥ 0", r"first threshold"),
    "clip-string": ({"clip": "yes"}, r"agd_options\['clip'\]", r"True or False"),
    "warm_start-unknown": (
        {"warm_start": "random"},
        r"agd_options\['warm_start'\]. .*'hals' or 'mu'",
        r"max_iter",
    ),
    "unknown-key": ({"stages": 3}, r"Unknown agd_options \['stages'\]", r"remove or rename"),
}


@pytest.mark.parametrize("options,problem,fix", AGD_BAD.values(), ids=AGD_BAD.keys())
def test_agd_options_have_typed_rules(options, problem, fix, monkeypatch):
    _no_fit(monkeypatch)
    _refused(
        lambda a: snmf.tl.nmf(a, K, solver="agd", agd_options=options, **FAST),
        ValueError,
        problem,
        fix,
    )


def test_agd_options_must_be_a_dict(monkeypatch):
    _no_fit(monkeypatch)
    _refused(
        lambda a: snmf.tl.nmf(a, K, solver="agd", agd_options=[("n_stages", 3)], **FAST),
        ValueError,
        r"for agd_options",
        r"None or a dict with keys among 'n_stages'",
    )


def _frobenius(adata: ad.AnnData) -> float:
    X = np.asarray(adata.X, dtype=np.float64)
    W = adata.obsm["X_nmf"].astype(np.float64)
    H = adata.varm["nmf_loadings"].T.astype(np.float64)
    return 0.5 * float(np.sum((X - W @ H) ** 2))


@pytest.mark.parametrize(
    "options",
    [
        {"n_stages": 6, "n_inner": 5},
        {"n_stages": 6, "n_inner": 3, "batch_size": 16},
        {"n_stages": 4, "n_inner": 5, "step": 1.9, "decay": 1.01},
        {"n_stages": 0},
    ],
    ids=["full-batch", "mini-batch", "aggressive-step", "no-stage"],
)
def test_agd_stores_nonnegative_loadings_and_their_loss(options):
    adata = _adata()
    snmf.tl.nmf(adata, K, solver="agd", max_iter=10, mask_var=None, agd_options=options)
    assert adata.varm["nmf_loadings"].min() >= 0
    assert adata.obsm["X_nmf"].min() >= 0
    loss = adata.uns["nmf"]["loss"]
    assert np.isfinite(loss).all() and len(loss) == adata.uns["nmf"]["n_iter"] + 1
    assert loss[-1] == pytest.approx(_frobenius(adata), rel=1e-4)


# ----------------------------------------------------------------------------------------
# random_state: clean errors; numpy generators accepted as in scanpy
# ----------------------------------------------------------------------------------------
SEED_BAD = {
    "negative": (-1, r"Invalid option -1 for random_state", r"nonnegative.*random_state=0"),
    "too-large": (2**32, r"integers 0 … 4294967295", r"32-bit"),
    "float": (1.5, r"Invalid option 1.5 for random_state", r"Pass an integer seed"),
    "string": ("0", r"Invalid option '0' for random_state", r"random_state=0"),
    "bool": (True, r"Invalid option True for random_state", r"integer seed"),
    "legacy-module": (np.random, r"for random_state", r"numpy.random.Generator"),
}


@pytest.mark.parametrize("seed,problem,fix", SEED_BAD.values(), ids=SEED_BAD.keys())
def test_bad_random_state_refused_before_any_work(seed, problem, fix, monkeypatch):
    _no_fit(monkeypatch)
    _refused(lambda a: snmf.tl.nmf(a, K, random_state=seed, **FAST), ValueError, problem, fix)


def test_negative_seed_refused_by_deep_nmf_too(monkeypatch):
    _no_fit(monkeypatch)
    _refused(
        lambda a: snmf.tl.deep_nmf(a, (3, 2), random_state=-5),
        ValueError,
        r"Invalid option -5 for random_state",
        r"nonnegative 32-bit",
    )


@pytest.mark.parametrize(
    "make",
    [np.random.default_rng, np.random.RandomState],
    ids=["Generator", "RandomState"],
)
def test_numpy_generators_give_deterministic_seeds(make):
    a, b = _adata(), _adata()
    snmf.tl.nmf(a, K, init="random", random_state=make(7), **FAST)
    snmf.tl.nmf(b, K, init="random", random_state=make(7), **FAST)
    np.testing.assert_array_equal(a.obsm["X_nmf"], b.obsm["X_nmf"])
    seed = a.uns["nmf"]["params"]["random_state"]
    assert isinstance(seed, int) and 0 <= seed < 2**32  # the drawn seed is recorded
    c = _adata()
    snmf.tl.nmf(c, K, init="random", random_state=seed, **FAST)
    np.testing.assert_array_equal(a.obsm["X_nmf"], c.obsm["X_nmf"])


def test_generator_is_advanced_as_scanpy_would():
    rng = np.random.default_rng(3)
    a, b = _adata(), _adata()
    snmf.tl.nmf(a, K, init="random", random_state=rng, **FAST)
    snmf.tl.nmf(b, K, init="random", random_state=rng, **FAST)
    assert a.uns["nmf"]["params"]["random_state"] != b.uns["nmf"]["params"]["random_state"]


# ----------------------------------------------------------------------------------------
# ranks: any sequence of ints, normalised once, seen by the memory guard
# ----------------------------------------------------------------------------------------
DEEP_FAST = {"n_init_iter": 3, "max_iter": 2, "multilayer_baseline": False, "mask_var": None}


@pytest.mark.parametrize(
    "ranks,expected",
    [
        (np.array([4, 2]), [4, 2]),
        (range(4, 1, -2), [4, 2]),
        (pd.Series([4, 2]), [4, 2]),
        (np.array(3), [3]),
        ([np.int32(4), np.int64(2)], [4, 2]),
    ],
    ids=["ndarray", "range", "Series", "0-d-array", "numpy-ints"],
)
def test_ranks_accept_any_sequence_of_ints(ranks, expected):
    adata = _adata()
    snmf.tl.deep_nmf(adata, ranks, **DEEP_FAST)
    assert adata.uns["deep_nmf"]["ranks"].tolist() == expected
    assert adata.obsm[f"X_deep_nmf_l{len(expected)}"].shape == (N_OBS, expected[-1])
    assert np.isfinite(adata.uns["deep_nmf"]["loss"]).all()


RANKS_BAD = {
    "2-d-array": (np.array([[4, 2]]), r"Invalid option array \[\[4, 2\]\] for ranks"),
    "set": ({4, 2}, r"for ranks. Valid options are strictly decreasing"),
    "float-array": (np.array([4.0, 2.0]), r"Invalid option array \[4.0, 2.0\] for ranks"),
    "empty": ((), r"Invalid option \(\) for ranks"),
    "string": ("42", r"Invalid option '42' for ranks"),
    "dict": ({4: 1, 2: 1}, r"for ranks"),
}


@pytest.mark.parametrize("ranks,problem", RANKS_BAD.values(), ids=RANKS_BAD.keys())
def test_bad_ranks_refused(ranks, problem, monkeypatch):
    _no_fit(monkeypatch)
    _refused(
        lambda a: snmf.tl.deep_nmf(a, ranks, **DEEP_FAST),
        ValueError,
        problem,
        r"e\.g\. ranks=\(20, 10, 5\)",
    )


@pytest.mark.parametrize("ranks", [np.array([4, 2]), range(4, 1, -2)], ids=["ndarray", "range"])
def test_memory_guard_sees_ranks_of_any_type(ranks, monkeypatch):
    from scnmf._core.memory import InsufficientMemoryError

    _no_fit(monkeypatch)
    monkeypatch.setenv("SCNMF_MAX_MEMORY", "2K")
    _refused(
        lambda a: snmf.tl.deep_nmf(a, ranks, **DEEP_FAST),
        InsufficientMemoryError,
        r"deep NMF of 40 × 15 with k = 4 needs about",
        r"fewer components",
    )


# ----------------------------------------------------------------------------------------
# get.programs(n_genes)
# ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted():
    adata = _adata()
    snmf.tl.nmf(adata, K, **FAST)
    return adata


@pytest.mark.parametrize(
    "n_genes", [-1, 0, 2.5, True, "3"], ids=["-1", "0", "float", "bool", "str"]
)
def test_programs_n_genes_validated(fitted, n_genes):
    _refused(
        lambda a: snmf.get.programs(a, n_genes=n_genes),
        ValueError,
        rf"Invalid option {n_genes!r} for n_genes",
        r"integers ≥ 1 \(every gene above 15, the number of genes\) or None \(every gene\); "
        r"pass e\.g\. n_genes=10",
        adata=fitted,
    )


@pytest.mark.parametrize(
    ("n_genes", "rows"),
    [(1, 1), (N_VARS, N_VARS), (N_VARS + 1, N_VARS), (np.int64(4), 4), (None, N_VARS)],
    ids=["1", "all", "n+1 clipped", "numpy-int", "None"],
)
def test_programs_n_genes_accepted(fitted, n_genes, rows):
    """A long table (program, gene, score, rank): ``rows`` genes per program."""
    table = snmf.get.programs(fitted, n_genes=n_genes)
    assert table.shape == (rows * K, 4)


# ----------------------------------------------------------------------------------------
# highly_variable as a nullable boolean column
# ----------------------------------------------------------------------------------------
def _nullable(with_na: bool) -> pd.arrays.BooleanArray:
    values = [True] * 10 + ([None] * 5 if with_na else [False] * 5)
    return pd.array(values, dtype="boolean")


def test_default_mask_with_na_names_the_column_not_mask_var(monkeypatch):
    _no_fit(monkeypatch)
    adata = _adata()
    adata.var["highly_variable"] = _nullable(True)
    message = _refused(
        lambda a: snmf.tl.nmf(a, K, max_iter=5),
        ValueError,
        r"adata.var\['highly_variable'\] \(the default mask_var\) has 5 missing \(NA\)",
        r"adata.var\['highly_variable'\] = adata.var\['highly_variable'\]\.fillna\(False\)",
        r"mask_var=None",
        adata=adata,
    )
    assert "mask_var must be boolean" not in message


def test_named_column_with_na(monkeypatch):
    _no_fit(monkeypatch)
    adata = _adata()
    adata.var["my genes"] = _nullable(True)
    _refused(
        lambda a: snmf.tl.nmf(a, K, max_iter=5, mask_var="my genes"),
        ValueError,
        r"adata.var\['my genes'\] \(mask_var='my genes'\) has 5 missing",
        r"adata.var\['my genes'\]\.fillna\(False\)",
        adata=adata,
    )


def test_nullable_array_with_na(monkeypatch):
    _no_fit(monkeypatch)
    _refused(
        lambda a: snmf.tl.nmf(a, K, max_iter=5, mask_var=_nullable(True)),
        ValueError,
        r"mask_var has 5 missing",
        r"np.asarray\(mask_var.fillna\(False\), dtype=bool\)",
    )


def test_integer_highly_variable_column(monkeypatch):
    _no_fit(monkeypatch)
    adata = _adata()
    adata.var["highly_variable"] = (np.arange(N_VARS) < 10).astype(np.int64)
    _refused(
        lambda a: snmf.tl.nmf(a, K, max_iter=5),
        ValueError,
        r"adata.var\['highly_variable'\] \(the default mask_var\) has dtype int64",
        r"boolean column of adata.var.*mask_var=None",
        adata=adata,
    )


def test_nullable_column_without_na_is_used():
    adata = _adata()
    adata.var["highly_variable"] = _nullable(False)
    snmf.tl.nmf(adata, K, max_iter=5)
    assert adata.uns["nmf"]["params"]["n_genes_used"] == 10
    assert not adata.varm["nmf_loadings"][10:].any()


# ----------------------------------------------------------------------------------------
# backed AnnData with copy=True: refused before the fit
# ----------------------------------------------------------------------------------------
@pytest.fixture
def backed(tmp_path):
    path = tmp_path / "backed.h5ad"
    _adata().write_h5ad(path)
    adata = ad.read_h5ad(path, backed="r")
    yield adata
    adata.file.close()


BACKED_CALLS = {
    "nmf": lambda a: snmf.tl.nmf(a, K, copy=True, **FAST),
    "deep_nmf": lambda a: snmf.tl.deep_nmf(a, (3, 2), copy=True, **DEEP_FAST),
    "gnmf": lambda a: snmf.tl.gnmf(a, K, copy=True, max_iter=5),
    "persistence": lambda a: snmf.tl.persistence(a, copy=True),
}


@pytest.mark.parametrize("call", BACKED_CALLS.values(), ids=BACKED_CALLS.keys())
def test_backed_copy_refused_up_front(backed, call, monkeypatch):
    _no_fit(monkeypatch)
    monkeypatch.setattr(
        "scnmf.tl._persistence.run_persistence",
        lambda *a, **k: (_ for _ in ()).throw(AssertionError("work started")),
        raising=False,
    )
    with pytest.raises(ValueError) as info:
        call(backed)
    message = str(info.value)
    assert "Invalid option True for copy" in message and "backed AnnData" in message
    assert "adata = adata.to_memory()" in message and "copy=False" in message
    assert not backed.obsm and not backed.uns


def test_backed_without_copy_still_works(backed):
    snmf.tl.nmf(backed, K, **FAST)
    assert backed.obsm["X_nmf"].shape == (N_OBS, K)
    assert np.isfinite(backed.uns["nmf"]["loss"]).all()


# ----------------------------------------------------------------------------------------
# initialize (core) with k > min(shape)
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("init", ["nndsvd", "nndsvda", "nndsvdar"])
def test_core_initialize_rank_above_shape_is_a_clear_error(init):
    X = np.random.default_rng(0).random((5, 4))
    with pytest.raises(ValueError, match=r"a 5 × 4 matrix has only 4: use n_components ≤ 4"):
        initialize(X, 6, init)


def test_core_initialize_random_takes_any_rank():
    X = np.random.default_rng(0).random((5, 4))
    W, H = initialize(X, 6, "random")
    assert W.shape == (5, 6) and H.shape == (6, 4)
    assert np.isfinite(W).all() and W.min() >= 0 and H.min() >= 0


def test_tl_rank_above_shape_refused(monkeypatch):
    _no_fit(monkeypatch)
    _refused(
        lambda a: snmf.tl.nmf(a, N_VARS + 1, **FAST),
        ValueError,
        r"Invalid option 16 for n_components. Valid options are integers 1 … 15",
        r"impossible for a 40 × 15 matrix",
    )
