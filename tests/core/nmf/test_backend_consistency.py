"""The same seed gives the same result on every backend (numba, torch, dask) at defaults."""

import numpy as np
import pytest
import scipy.sparse as sp

from scnmf._core._backends.select import Backend
from scnmf._core.nmf import fit_nmf
from scnmf._core.nmf.init import initialize

SOLVERS = [("hals", 2.0), ("mu", 2.0), ("mu", 1.0), ("mu", 1.5), ("agd", 2.0)]


def _relative(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _dask(X, rows=37):
    da = pytest.importorskip("dask.array")
    return da.from_array(X, chunks=(rows, X.shape[1]), asarray=False)


@pytest.mark.parametrize("sparse", [False, True])
def test_nndsvd_start_is_identical_in_memory_and_on_dask(counts, sparse):
    X = sp.csr_matrix(counts) if sparse else counts
    for init in ("nndsvd", "nndsvda", "nndsvdar"):
        W_mem, H_mem = initialize(X, 5, init, random_state=3)
        W_lazy, H_lazy = initialize(_dask(X), 5, init, random_state=3)
        assert _relative(W_lazy, W_mem) < 1e-10 and _relative(H_lazy, H_mem) < 1e-10


@pytest.mark.parametrize("solver,beta", SOLVERS[:4])
def test_default_fit_on_dask_equals_in_memory(counts_csr, solver, beta):
    ref = fit_nmf(counts_csr, 4, beta=beta, solver=solver, device="cpu")
    got = fit_nmf(_dask(counts_csr), 4, beta=beta, solver=solver)
    assert got.backend == "dask" and ref.backend == "cpu"
    assert got.result.n_iter == ref.result.n_iter
    assert _relative(got.result.W, ref.result.W) < 1e-5
    assert _relative(got.result.H, ref.result.H) < 1e-5


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("solver,beta", SOLVERS)
def test_default_fit_on_torch_cpu_equals_numba(counts, sparse, solver, beta):
    pytest.importorskip("torch")
    X = sp.csr_matrix(counts) if sparse else counts
    ref = fit_nmf(X, 4, beta=beta, solver=solver, device="cpu")
    got = fit_nmf(X, 4, beta=beta, solver=solver, device=Backend("torch", "cpu"))
    assert got.result.n_iter == ref.result.n_iter
    assert _relative(got.result.W, ref.result.W) < 1e-5
    assert _relative(got.result.H, ref.result.H) < 1e-5
