"""``tl.nmf(alpha_W=, alpha_H=, l1_ratio=)``: scikit-learn's regularisation, public API."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pytest

import scnmf as snmf
from scnmf._core.nmf import run_solver
from scnmf._core.nmf.beta import beta_divergence
from scnmf._core.nmf.init import initialize
from scnmf._core.nmf.penalty import Penalty
from tests.hostile._support import assert_unchanged, snapshot

sklearn_nmf = pytest.importorskip("sklearn.decomposition")


def _planted(seed: int = 0, n: int = 200, m: int = 60, k: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    W, H = rng.gamma(0.5, 1.0, (n, k)), rng.gamma(0.5, 1.0, (k, m))
    return rng.poisson(2.0 * W @ H).astype(np.float32)


def hoyer(H: np.ndarray) -> float:
    """Mean Hoyer sparsity of the rows of ``H`` (0: flat, 1: one nonzero)."""
    m = H.shape[1]
    l1, l2 = np.abs(H).sum(axis=1), np.sqrt((H.astype(np.float64) ** 2).sum(axis=1))
    return float(np.mean((np.sqrt(m) - l1 / l2) / (np.sqrt(m) - 1)))


def _program_sparsity(X, **kwargs) -> float:
    adata = ad.AnnData(X.copy())
    snmf.tl.nmf(adata, 4, l1_ratio=1.0, max_iter=300, **kwargs)
    programs = adata.varm["nmf_loadings"].T
    assert (programs.sum(axis=1) > 0).all()  # no program died: the mean compares like with like
    return hoyer(programs)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_program_sparsity_grows_with_alpha_H(seed):
    """HALS (Frobenius), lasso: sparser programs as alpha_H grows (alpha_W fixed > 0, since
    with alpha_W = 0 the activities absorb any shrinkage of the programs' scale)."""
    X = _planted(seed)
    values = [_program_sparsity(X, alpha_W=0.03, alpha_H=a) for a in (0.0, 0.03, 0.1, 0.3)]
    assert np.all(np.diff(values) > 0), values
    assert values[-1] - values[0] > 0.02, values


def test_program_sparsity_grows_with_alpha_H_kl():
    X = _planted(0)
    values = [
        _program_sparsity(X, beta_loss="kullback-leibler", alpha_W=0.01, alpha_H=a)
        for a in (0.0, 0.1, 0.3)
    ]
    assert np.all(np.diff(values) > 0), values


@pytest.mark.parametrize(("beta", "l1_ratio"), [(2.0, 0.5), (1.0, 1.0), (1.0, 0.0)])
def test_tl_equals_sklearn_on_the_genes_used(beta, l1_ratio):
    """The weights scale with the genes actually fitted (mask_var), as on X[:, mask]."""
    X = _planted(1, n=60, m=30).astype(np.float64)
    adata = ad.AnnData(X.copy())
    adata.var["highly_variable"] = np.arange(30) % 3 != 0
    mask = adata.var["highly_variable"].to_numpy()
    W0, H0 = initialize(X[:, mask], 3, "random", random_state=0)
    penalty = {"alpha_W": 0.02, "alpha_H": 0.05, "l1_ratio": l1_ratio}
    snmf.tl.nmf(
        adata, 3, beta_loss=beta, solver="mu", init="custom", init_W=W0, init_H=H0,
        max_iter=100, tol=0, **penalty,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        W, H, _ = sklearn_nmf.non_negative_factorization(
            X[:, mask], W0.copy(), H0.copy(), n_components=3, init="custom", solver="mu",
            beta_loss=beta, max_iter=100, tol=0, **penalty,
        )  # fmt: skip
    got_W, got_H = adata.obsm["X_nmf"], adata.varm["nmf_loadings"][mask].T
    assert np.linalg.norm(got_W - W) / np.linalg.norm(W) < 1e-4
    assert np.linalg.norm(got_H - H) / np.linalg.norm(H) < 1e-4
    assert (adata.varm["nmf_loadings"][~mask] == 0).all()


def test_stored_loss_is_the_penalised_objective_and_params_round_trip(tmp_path):
    X = _planted(0, n=80, m=30)
    adata = ad.AnnData(X.copy())
    snmf.tl.nmf(adata, 3, alpha_W=0.02, l1_ratio=0.3, max_iter=50)
    record = adata.uns["nmf"]
    params = record["params"]
    assert (params["alpha_W"], params["alpha_H"], params["l1_ratio"]) == (0.02, 0.02, 0.3)
    W, H = adata.obsm["X_nmf"].astype(np.float64), adata.varm["nmf_loadings"].T.astype(np.float64)
    p = Penalty.from_alpha(X.shape, 0.02, "same", 0.3)
    objective = (
        beta_divergence(X.astype(np.float64), W, H, 2.0)
        + p.W.l1 * W.sum() + 0.5 * p.W.l2 * (W**2).sum()
        + p.H.l1 * H.sum() + 0.5 * p.H.l2 * (H**2).sum()
    )  # fmt: skip
    assert record["loss"][-1] == pytest.approx(objective, rel=1e-4)  # float32 factors
    assert np.all(np.diff(record["loss"]) <= 1e-6 * record["loss"][0])  # HALS: monotone
    path = tmp_path / "reg.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path).uns["nmf"]["params"]
    assert {k: back[k] for k in ("alpha_W", "alpha_H", "l1_ratio")} == {
        "alpha_W": 0.02,
        "alpha_H": 0.02,
        "l1_ratio": 0.3,
    }


def test_alpha_H_same_is_alpha_W():
    X = _planted(0, n=60, m=25)
    a, b = ad.AnnData(X.copy()), ad.AnnData(X.copy())
    snmf.tl.nmf(a, 3, alpha_W=0.05, l1_ratio=0.5, max_iter=30, tol=0)
    snmf.tl.nmf(b, 3, alpha_W=0.05, alpha_H=0.05, l1_ratio=0.5, max_iter=30, tol=0)
    np.testing.assert_array_equal(a.obsm["X_nmf"], b.obsm["X_nmf"])
    c = ad.AnnData(X.copy())
    snmf.tl.nmf(c, 3, alpha_W=0.05, alpha_H=0.0, l1_ratio=0.5, max_iter=30, tol=0)
    assert not np.allclose(c.obsm["X_nmf"], a.obsm["X_nmf"])


@pytest.mark.parametrize("beta", [2.0, 1.0])
def test_extreme_data_fit_the_same_penalised_problem(beta):
    """Tiny data are rescaled inside tl; the penalty is mapped to those units, so the result
    is the fit of the data itself (the core run on the float64 data, without rescaling)."""
    X = _planted(0, n=60, m=25).astype(np.float64) * 1e-5  # max below 1e-3: rescaled
    W0, H0 = initialize(X, 3, "random", random_state=0)
    penalty = {"alpha_W": 1e-7, "alpha_H": 2e-7, "l1_ratio": 0.5}
    adata = ad.AnnData(X.copy())
    snmf.tl.nmf(
        adata, 3, beta_loss=beta, solver="mu", init="custom", init_W=W0, init_H=H0,
        max_iter=40, tol=0, **penalty,
    )  # fmt: skip
    ref = run_solver(X, W0, H0, solver="mu", beta=beta, max_iter=40, tol=0, **penalty)
    np.testing.assert_allclose(adata.obsm["X_nmf"], ref.W, rtol=1e-6, atol=1e-9 * ref.W.max())
    np.testing.assert_allclose(adata.uns["nmf"]["loss"], ref.loss, rtol=1e-6)
    plain = run_solver(X, W0, H0, solver="mu", beta=beta, max_iter=40, tol=0)
    assert not np.allclose(plain.W, ref.W, rtol=1e-3)  # the penalty matters at this scale


def test_dask_matrix_equals_in_memory():
    da = pytest.importorskip("dask.array")
    X = _planted(0, n=90, m=30)
    memory, lazy = ad.AnnData(X.copy()), ad.AnnData(da.from_array(X, chunks=(25, 30)))
    kwargs = {"solver": "mu", "beta_loss": 1.0, "alpha_W": 0.01, "alpha_H": 0.03,
              "l1_ratio": 0.5, "init": "random", "max_iter": 20, "tol": 0}  # fmt: skip
    snmf.tl.nmf(memory, 3, **kwargs)
    snmf.tl.nmf(lazy, 3, **kwargs)
    np.testing.assert_allclose(lazy.obsm["X_nmf"], memory.obsm["X_nmf"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(lazy.uns["nmf"]["loss"], memory.uns["nmf"]["loss"], rtol=1e-5)


BAD = [
    ({"alpha_W": -0.1}, r"Invalid option -0\.1 for alpha_W\. Valid options are finite numbers ≥ 0"),
    ({"alpha_W": float("nan")}, r"Invalid option nan for alpha_W"),
    ({"alpha_W": float("inf")}, r"Invalid option inf for alpha_W"),
    ({"alpha_H": -1.0}, r"Invalid option -1\.0 for alpha_H\. Valid options are 'same' or"),
    ({"alpha_H": "bogus"}, r"Invalid option 'bogus' for alpha_H\. Valid options are 'same' or"),
    ({"alpha_H": float("nan")}, r"for alpha_H"),
    ({"l1_ratio": -0.1}, r"Invalid option -0\.1 for l1_ratio\. Valid options are .*≤ 1"),
    ({"l1_ratio": 1.1}, r"Invalid option 1\.1 for l1_ratio.*1 a lasso"),
    ({"l1_ratio": "lasso"}, r"for l1_ratio"),
    ({"alpha_W": 0.1, "solver": "agd"}, r"for solver.*use solver='hals'"),
    ({"alpha_H": 0.1, "solver": "agd"}, r"for solver.*no L1/L2 penalty"),
    ({"alpha_W": 1e300}, r"alpha_W=1e\+300 is too large for this data.*Use alpha_W ≤"),
    ({"alpha_W": 0.0, "alpha_H": 1e305}, r"alpha_H=1e\+305 is too large"),
]


@pytest.mark.parametrize(("kwargs", "pattern"), BAD, ids=[str(b[0]) for b in BAD])
def test_bad_regularisation_refused_before_the_fit(monkeypatch, kwargs, pattern):
    def boom(*args, **kw):
        raise AssertionError("the fit started before the bad option was refused")

    monkeypatch.setattr("scnmf.tl._nmf.fit_nmf", boom)
    adata = ad.AnnData(_planted(0, n=30, m=12))
    before = snapshot(adata)
    with pytest.raises(ValueError, match=pattern):
        snmf.tl.nmf(adata, 2, **kwargs)
    assert_unchanged(adata, before)


def test_agd_without_penalty_still_runs():
    adata = ad.AnnData(_planted(0, n=40, m=15))
    snmf.tl.nmf(adata, 2, solver="agd", alpha_W=0.0, alpha_H=0.0, max_iter=5,
                agd_options={"n_stages": 2, "n_inner": 2})  # fmt: skip
    assert adata.uns["nmf"]["params"]["alpha_W"] == 0.0
