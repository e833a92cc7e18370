"""Hostile process cases: fork after a fit, the threading layer, threads, determinism.

What scnmf promises (README "What scnmf promises"): the same ``random_state`` gives the same
result; sparse fits are bitwise independent of BLAS and numba thread counts; dense fits are
bitwise reproducible at a fixed BLAS thread count and agree up to rounding across thread
counts. A child ``fork()``ed after a fit can fit again (numba runs on TBB, which is
fork-safe); where the user forces GNU OpenMP, the child gets an error naming the fix instead
of being killed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_info, threadpool_limits

import scnmf as snmf

REPO = Path(__file__).resolve().parents[2]
TBB_DECLARED = sys.platform == "linux" and os.uname().machine == "x86_64"  # pyproject marker


def _counts(n=150, m=60, seed=0, sparse=True):
    rng = np.random.default_rng(seed)
    rates = rng.gamma(0.5, 2.0, (n, 1)) * rng.gamma(0.5, 1.0, (1, m))
    X = rng.poisson(rates).astype(np.float64)
    X[:, 0] += 1
    return sp.csr_matrix(X) if sparse else X


def _fit(X, beta="kullback-leibler", solver="mu", seed=0, max_iter=15):
    adata = ad.AnnData(X.copy())
    snmf.tl.nmf(
        adata, 3, beta_loss=beta, solver=solver, max_iter=max_iter, tol=0, random_state=seed
    )
    return adata.obsm["X_nmf"], adata.varm["nmf_loadings"], np.asarray(adata.uns["nmf"]["loss"])


def _same(a, b):
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


# --- fork and the threading layer (each in a fresh interpreter) --------------------------------

PRELUDE = """
import os, sys
import numpy as np, scipy.sparse as sp, anndata as ad
{before}
import numba
import scnmf

def fit():
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.poisson(1.0, (200, 50)).astype(np.float64) + (rng.random((200, 50)) < .1))
    a = ad.AnnData(X)
    scnmf.tl.nmf(a, 3, beta_loss="kullback-leibler", max_iter=8, tol=0, random_state=0)
    return a.obsm["X_nmf"]

parent = fit()
from scnmf._core._backends import _threads
print("choice", _threads.LAYER_CHOICE, "layer", numba.threading_layer(), flush=True)
"""

FORK = """
pid = os.fork()
if pid == 0:
    try:
        os._exit(0 if np.array_equal(fit(), parent) else 3)
    except RuntimeError as err:
        print("explained:", err, flush=True)
        os._exit(4)
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status), flush=True)
"""

POOL = """
import multiprocessing as mp

def work(_):
    return fit()

with mp.get_context("fork").Pool(2) as pool:
    results = pool.map_async(work, range(2)).get(timeout=60)  # a killed worker never answers
print("child", 0 if all(np.array_equal(r, parent) for r in results) else 3, flush=True)
"""


def _python(script: str, **env) -> dict:
    environ = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    environ.update(PYTHONPATH=str(REPO), **env)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
    )
    out = {"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}
    for line in proc.stdout.splitlines():
        words = line.split()
        if words[:1] == ["choice"]:
            out["choice"], out["layer"] = words[1], words[3]
        elif words[:1] == ["child"]:
            out["child"] = int(words[1])
    return out


@pytest.mark.skipif(not TBB_DECLARED, reason="tbb is a dependency on linux x86_64 only")
@pytest.mark.parametrize("how", ["os.fork", "multiprocessing-fork"])
def test_fit_after_fork_succeeds_in_the_child(how):
    out = _python(PRELUDE.format(before="") + (FORK if how == "os.fork" else POOL))
    assert out["rc"] == 0, out["stderr"][-2000:]
    assert (out["choice"], out["layer"]) == ("tbb", "tbb")
    assert out["child"] == 0, out
    assert "GNU OpenMP" not in out["stderr"]


def test_user_choice_of_layer_is_respected_workqueue():
    out = _python(PRELUDE.format(before="") + FORK, NUMBA_THREADING_LAYER="workqueue")
    assert out["rc"] == 0, out["stderr"][-2000:]
    assert (out["choice"], out["layer"]) == ("user", "workqueue")
    assert out["child"] == 0  # workqueue is fork-safe too


def test_forced_gnu_openmp_child_gets_an_explanation():
    out = _python(PRELUDE.format(before="") + FORK, NUMBA_THREADING_LAYER="omp")
    assert out["rc"] == 0, out["stderr"][-2000:]
    assert (out["choice"], out["layer"]) == ("user", "omp")
    assert out["child"] == 4  # a RuntimeError in the child, not numba's abort
    assert "fork()ed from one whose numba kernels already ran on GNU OpenMP" in out["stdout"]
    assert "multiprocessing.get_context('spawn')" in out["stdout"]
    assert "pip install tbb" in out["stdout"]


def test_numba_started_before_scnmf_import():
    before = """
import numba
numba.config.THREADING_LAYER = "omp"  # another library ran a parallel function first

@numba.njit(parallel=True)
def _warm(a):
    s = 0.0
    for i in numba.prange(a.size):
        s += a[i]
    return s

_warm(np.ones(10))
numba.config.THREADING_LAYER = "default"
"""
    out = _python(PRELUDE.format(before=before) + FORK)
    assert out["rc"] == 0, out["stderr"][-2000:]
    assert (out["choice"], out["layer"]) == ("started", "omp")
    assert out["child"] == 4
    assert "multiprocessing.get_context('spawn')" in out["stdout"]


def test_explicit_config_setting_is_respected():
    before = "import numba\nnumba.config.THREADING_LAYER = 'workqueue'"
    out = _python(PRELUDE.format(before=before))
    assert out["rc"] == 0, out["stderr"][-2000:]
    assert (out["choice"], out["layer"]) == ("user", "workqueue")


# --- threads -----------------------------------------------------------------------------------


def _in_threads(*jobs):
    results, errors = [None] * len(jobs), []
    barrier = threading.Barrier(len(jobs))

    def run(i, job):
        try:
            barrier.wait()
            results[i] = job()
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results


@pytest.mark.parametrize(
    ("sparse", "beta", "solver"),
    [(True, "kullback-leibler", "mu"), (True, "frobenius", "hals"), (True, "frobenius", "mu")],
    ids=["sparse-kl-mu", "sparse-hals", "sparse-fro-mu"],
)
def test_two_fits_in_threads_equal_sequential(sparse, beta, solver):
    X1, X2 = _counts(seed=1, sparse=sparse), _counts(seed=2, sparse=sparse)
    sequential = [_fit(X1, beta, solver), _fit(X2, beta, solver)]
    parallel = _in_threads(lambda: _fit(X1, beta, solver), lambda: _fit(X2, beta, solver))
    for a, b in zip(sequential, parallel, strict=True):
        _same(a, b)


def test_two_dense_fits_in_threads_equal_sequential_up_to_rounding():
    # Dense products are BLAS: concurrent callers may get another split of the work.
    X1, X2 = _counts(seed=1, sparse=False), _counts(seed=2, sparse=False)
    sequential = [_fit(X1, "frobenius", "hals"), _fit(X2, "frobenius", "hals")]
    parallel = _in_threads(
        lambda: _fit(X1, "frobenius", "hals"), lambda: _fit(X2, "frobenius", "hals")
    )
    for a, b in zip(sequential, parallel, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-12)


def test_blas_threads_restored_after_concurrent_sparse_fits():
    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    X = _counts(n=400, m=80)
    _in_threads(*[lambda: _fit(X, max_iter=25)] * 3)
    assert blas_threads() == before


def test_two_different_algorithms_in_threads():
    X = _counts(seed=3)

    def deep():
        adata = ad.AnnData(X.copy())
        snmf.tl.deep_nmf(adata, (4, 2), n_init_iter=10, max_iter=5, random_state=0)
        return adata.obsm["X_deep_nmf_l2"]

    alone = [_fit(X), deep()]
    together = _in_threads(lambda: _fit(X), deep)
    _same(alone[0], together[0])
    np.testing.assert_array_equal(alone[1], together[1])


# --- determinism ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sparse", "beta", "solver"),
    [
        (True, "kullback-leibler", "mu"),
        (True, "frobenius", "hals"),
        (False, "kullback-leibler", "mu"),
        (False, "frobenius", "hals"),
        (True, 1.5, "mu"),
    ],
    ids=["sparse-kl", "sparse-hals", "dense-kl", "dense-hals", "sparse-beta1.5"],
)
def test_same_seed_same_result(sparse, beta, solver):
    X = _counts(sparse=sparse)
    _same(_fit(X, beta, solver, seed=7), _fit(X, beta, solver, seed=7))


@pytest.mark.parametrize("solver", ["mu", "hals"])
def test_sparse_fit_independent_of_blas_threads(solver):
    X = _counts()
    beta = "frobenius"
    with threadpool_limits(limits=1, user_api="blas"):
        one = _fit(X, beta, solver)
    with threadpool_limits(limits=2, user_api="blas"):
        two = _fit(X, beta, solver)
    _same(one, two)


@pytest.mark.parametrize(
    ("sparse", "beta", "solver"),
    [
        (True, "kullback-leibler", "mu"),
        (True, "frobenius", "mu"),
        (True, "frobenius", "hals"),
        (False, "frobenius", "hals"),
    ],
    ids=["sparse-kl-mu", "sparse-fro-mu", "sparse-hals", "dense-hals"],
)
def test_fit_independent_of_numba_threads(sparse, beta, solver):
    import numba

    X = _counts(n=400, sparse=sparse)
    default = numba.get_num_threads()
    with threadpool_limits(limits=1, user_api="blas"):  # dense: BLAS threads fixed
        try:
            numba.set_num_threads(1)
            one = _fit(X, beta, solver)
        finally:
            numba.set_num_threads(default)
        _same(one, _fit(X, beta, solver))


def test_dense_fit_and_blas_threads_documented_limit():
    # The promise for dense data: bitwise equal at one BLAS thread count, equal up to
    # rounding across thread counts (BLAS may split its sums differently).
    X = _counts(n=300, m=120, sparse=False)
    runs = {}
    for threads in (1, 2, 1):
        with threadpool_limits(limits=threads, user_api="blas"):
            runs.setdefault(threads, []).append(_fit(X, "frobenius", "hals", max_iter=30))
    _same(*runs[1])
    for x, y in zip(runs[1][0], runs[2][0], strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-7, atol=1e-10)


def test_sparse_and_dense_agree_up_to_rounding():
    X = _counts()
    sparse, dense = _fit(X), _fit(X.toarray())
    for x, y in zip(sparse, dense, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-7, atol=1e-10)
