"""Table-driven: every tl function against awkward and bad inputs.

Each call must either succeed with finite results, or raise ValueError/KeyError/TypeError
(with a message) and leave the AnnData exactly as it was.
"""

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

import scnmf as snmf


def _base(n=40, m=30, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.poisson(rng.gamma(1.0, 1.0, (n, 1)) * rng.gamma(1.0, 1.0, (1, m))).astype(np.float32)
    X[:, 0] += 1
    a = ad.AnnData(X)
    a.obs_names = [f"c{i}" for i in range(n)]
    a.var_names = [f"g{j}" for j in range(m)]
    return a


def _set(a, X):
    a.X = X
    return a


def _negative(a):
    X = a.X.copy()
    X[0, 1] = -1
    return _set(a, X)


def _value(v):
    def f(a):
        X = a.X.copy()
        X[2, 3] = v
        return _set(a, X)

    return f


def _dtype(dt):
    return lambda a: _set(a, a.X.astype(dt))


def _backed(a, tmp_path):
    path = tmp_path / "backed.h5ad"
    a.write_h5ad(path)
    return ad.read_h5ad(path, backed="r")


def _disconnected(a):
    X = a.X.copy()
    X[: a.n_obs // 2] += 500.0
    return _set(a, X)


CASES = {
    "negative": _negative,
    "nan": _value(np.nan),
    "pos_inf": _value(np.inf),
    "neg_inf": _value(-np.inf),
    "int64": _dtype(np.int64),
    "float16": _dtype(np.float16),
    "empty": lambda a: a[:0].copy(),
    "one_cell": lambda a: a[:1].copy(),
    "one_gene": lambda a: a[:, :1].copy(),
    "zero_cells": lambda a: _set(a, np.where(np.arange(a.n_obs)[:, None] < 3, 0, a.X)),
    "zero_genes": lambda a: _set(a, np.where(np.arange(a.n_vars)[None, :] == 5, 0, a.X)),
    "duplicated_cells": lambda a: ad.concat([a, a[:10]], index_unique="-"),
    "constant": lambda a: _set(a, np.full(a.shape, 3.0, dtype=np.float32)),
    "all_zero": lambda a: _set(a, np.zeros(a.shape, dtype=np.float32)),
    "view": lambda a: a[5:35],
    "csc": lambda a: _set(a, sp.csc_matrix(a.X)),
    "csc_array": lambda a: _set(a, sp.csc_array(a.X)),
    "csr_array": lambda a: _set(a, sp.csr_array(a.X)),
    "dense_f64": _dtype(np.float64),
    "disconnected": _disconnected,
    "backed": "backed",
}
BAD_KWARGS = {
    "missing_layer": {"layer": "nope"},
    "mask_no_genes": {"mask_var": np.zeros(30, dtype=bool)},
    "mask_wrong_length": {"mask_var": np.ones(7, dtype=bool)},
    "rank_too_big": "rank",
    "key_collision": {"key_added": "existing"},
}

CALLS = {
    "nmf": lambda a, k, **kw: snmf.tl.nmf(a, k, max_iter=5, **kw),
    "gnmf": lambda a, k, **kw: snmf.tl.gnmf(a, k, max_iter=5, n_neighbors=3, use_rep="X", **kw),
    "persistence": lambda a, k, **kw: snmf.tl.persistence(
        a,
        use_rep="X",
        n_neighbors=3,
        n_scales=3,
        **{x: v for x, v in kw.items() if x != "mask_var" and x != "layer"},
    ),
    "pnmf": lambda a, k, **kw: snmf.tl.pnmf(
        a, k, n_sweeps=1, max_inner_iter=5, persistence_key="p_for_pnmf", **kw
    ),
    "deep_nmf": lambda a, k, **kw: snmf.tl.deep_nmf(
        a, (k, 1) if k > 1 else (2, 1), n_init_iter=5, max_iter=3, **kw
    ),
}
ALLOWED = (ValueError, KeyError, TypeError, MemoryError)


def _snapshot(a):
    X = a.X
    if hasattr(X, "to_memory"):
        X = X.to_memory()
    X = X.toarray() if sp.issparse(X) else np.asarray(X)
    return (
        X.copy(),
        sorted(a.obsm.keys()),
        sorted(a.varm.keys()),
        sorted(a.uns.keys()),
        list(a.obs.columns),
        a.shape,
    )


def _finite_outputs(a, before):
    for key in set(a.obsm.keys()) - set(before[1]):
        assert np.isfinite(np.asarray(a.obsm[key])).all(), key
    for key in set(a.varm.keys()) - set(before[2]):
        assert np.isfinite(np.asarray(a.varm[key])).all(), key


def _run(name, adata, kwargs, k=2):
    if name == "pnmf":
        adata.uns.pop("p_for_pnmf", None)
    before = _snapshot(adata)
    try:
        CALLS[name](adata, k, **kwargs)
    except ALLOWED as err:
        assert str(err), f"{name}: empty error message"
        after = _snapshot(adata)
        np.testing.assert_array_equal(after[0], before[0])
        assert after[1:] == before[1:], f"{name} changed the AnnData before raising {err!r}"
        return "raised"
    _finite_outputs(adata, before)
    return "ok"


@pytest.mark.parametrize("func", list(CALLS))
@pytest.mark.parametrize("case", list(CASES))
def test_awkward_data(func, case, tmp_path):
    base = _base()
    adata = _backed(base, tmp_path) if CASES[case] == "backed" else CASES[case](base)
    outcome = _run(func, adata, {})
    if (
        case in ("negative", "nan", "pos_inf", "neg_inf", "all_zero", "empty")
        and func != "persistence"
    ):
        assert outcome == "raised", f"{func} accepted {case} data"


@pytest.mark.parametrize("func", [f for f in CALLS if f != "persistence"])
@pytest.mark.parametrize("case", list(BAD_KWARGS))
def test_bad_arguments(func, case):
    adata = _base()
    adata.uns["existing"] = {"keep": 1}
    adata.obsm["X_existing"] = np.zeros((adata.n_obs, 1))
    if BAD_KWARGS[case] == "rank":
        outcome = _run(func, adata, {}, k=1000)
        assert outcome == "raised"
        return
    outcome = _run(func, adata, dict(BAD_KWARGS[case]))
    if case != "key_collision":
        assert outcome == "raised", f"{func} accepted {case}"


PLOTS = {
    "loadings": snmf.pl.loadings,
    "loss": snmf.pl.loss,
    "persistence_diagram": snmf.pl.persistence_diagram,
    "barcode": snmf.pl.barcode,
    "scale_path": snmf.pl.scale_path,
    "deep_hierarchy": snmf.pl.deep_hierarchy,
    "layer_errors": snmf.pl.layer_errors,
}


@pytest.mark.parametrize("plot", list(PLOTS))
def test_plots_before_tl(plot):
    adata = _base()
    before = _snapshot(adata)
    with pytest.raises(KeyError, match="run"):
        PLOTS[plot](adata, show=False)
    assert _snapshot(adata)[1:] == before[1:]


class _InterruptingBar:
    """A progress bar that raises KeyboardInterrupt at its second update (mid-fit)."""

    def __init__(self, *args, **kwargs):
        self.updates = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        self.updates += 1
        if self.updates >= 2:
            raise KeyboardInterrupt

    def set_postfix(self, *args, **kwargs):
        pass


@pytest.mark.parametrize("func", ["nmf", "gnmf", "pnmf", "deep_nmf"])
def test_interrupt_mid_fit_leaves_adata_unchanged(func, monkeypatch):
    import importlib

    module = importlib.import_module(f"scnmf.tl._{func}")
    adata = _base()
    snmf.tl.nmf(adata, 2, max_iter=3, key_added="earlier")
    before = _snapshot(adata)
    monkeypatch.setattr(module, "progress_bar", _InterruptingBar)
    with pytest.raises(KeyboardInterrupt):
        CALLS[func](adata, 2)
    after = _snapshot(adata)
    np.testing.assert_array_equal(after[0], before[0])
    assert after[1:] == before[1:]
