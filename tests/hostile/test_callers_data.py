"""Hostile: the caller's data. Never modified, read-only accepted, non-canonical CSR handled.

The matrix is taken once, by ``get_matrix`` (in memory) or ``as_block`` (each dask chunk):
sparse data with stored zeros, duplicates or unsorted indices is canonicalised there, on a
copy, and a canonical matrix is used without copying. Each case asserts the exact outcome:
the caller's arrays byte-identical (and still read-only where they were), and the result
equal to the one of the canonical matrix.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

import scnmf as snmf
from scnmf._core._backends._sparse import canonical_csr
from scnmf._core._backends.dask import as_block, dask_summary

from ._support import counts as _counts

N_OBS, N_VARS = 40, 20


def _noncanonical(A: np.ndarray, kind: str) -> sp.csr_matrix:
    """CSR of ``A`` with every zero stored, every entry split into two, or indices reversed."""
    n, m = A.shape
    if kind == "explicit_zeros":
        indices, indptr = np.tile(np.arange(m), n), np.arange(0, n * m + 1, m)
        return sp.csr_matrix((A.ravel().copy(), indices, indptr), shape=A.shape)
    X = sp.csr_matrix(A)
    counts = np.diff(X.indptr)
    if kind == "duplicates":
        data, indices = [], []
        for i in range(n):
            row = slice(X.indptr[i], X.indptr[i + 1])
            data += [X.data[row] / 2, X.data[row] / 2]
            indices += [X.indices[row], X.indices[row]]
        indptr = np.r_[0, np.cumsum(2 * counts)]
        return sp.csr_matrix((np.concatenate(data), np.concatenate(indices), indptr), A.shape)
    assert kind == "unsorted"
    data = np.concatenate([X.data[X.indptr[i] : X.indptr[i + 1]][::-1] for i in range(n)])
    idx = np.concatenate([X.indices[X.indptr[i] : X.indptr[i + 1]][::-1] for i in range(n)])
    return sp.csr_matrix((data, idx, X.indptr.copy()), shape=A.shape)


KINDS = ["explicit_zeros", "duplicates", "unsorted"]


def _adata(X) -> ad.AnnData:
    a = ad.AnnData(X)
    a.obs_names = [f"c{i}" for i in range(a.n_obs)]
    a.var_names = [f"g{j}" for j in range(a.n_vars)]
    return a


FUNCTIONS = {
    "nmf": lambda a: snmf.tl.nmf(a, 3, max_iter=20),
    "nmf_kl": lambda a: snmf.tl.nmf(a, 3, beta_loss="kullback-leibler", max_iter=20),
    "gnmf": lambda a: snmf.tl.gnmf(a, 3, max_iter=20, use_rep="X"),
    "persistence": lambda a: snmf.tl.persistence(a, use_rep="X", n_scales=3),
    "pnmf": lambda a: snmf.tl.pnmf(a, 3, n_sweeps=1, max_inner_iter=10),
    "deep_nmf": lambda a: snmf.tl.deep_nmf(a, (3, 2), n_init_iter=10, max_iter=3),
}


def _read_only(X):
    for array in (X.data, X.indices, X.indptr) if sp.issparse(X) else (X,):
        array.flags.writeable = False
    return X


INPUTS = {
    "noncanonical_csr32": lambda: _noncanonical(_counts().astype(np.float32), "duplicates"),
    "explicit_zeros_csr64": lambda: _noncanonical(_counts(), "explicit_zeros"),
    "canonical_csr64": lambda: sp.csr_matrix(_counts()),
    "readonly_noncanonical_csr32": lambda: _read_only(
        _noncanonical(_counts().astype(np.float32), "unsorted")
    ),
    "readonly_dense64": lambda: _read_only(_counts()),
}


def _arrays(X) -> list[np.ndarray]:
    return [X.data, X.indices, X.indptr] if sp.issparse(X) else [X]


@pytest.mark.parametrize("kind", list(INPUTS))
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_callers_arrays_are_byte_identical_after_the_call(name, kind):
    X = INPUTS[kind]()
    before = [(a.tobytes(), a.dtype, a.flags.writeable) for a in _arrays(X)]
    adata = _adata(X)
    FUNCTIONS[name](adata)
    assert adata.X is X  # the caller's object itself, not a replacement
    after = [(a.tobytes(), a.dtype, a.flags.writeable) for a in _arrays(X)]
    assert after == before
    for key, value in list(adata.obsm.items()) + list(adata.varm.items()):
        assert np.isfinite(value).all(), key


@pytest.mark.parametrize("beta_loss", ["frobenius", "kullback-leibler"])
@pytest.mark.parametrize("kind", KINDS)
def test_noncanonical_csr_fits_exactly_like_canonical(kind, beta_loss):
    """Stored zeros used to give a NaN KL loss, duplicates a wrong one (‖X‖² per copy)."""
    A = _counts().astype(np.float32)
    X = _noncanonical(A, kind)
    assert (X.data == 0).any() if kind == "explicit_zeros" else not X.has_canonical_format
    got, ref = _adata(X), _adata(sp.csr_matrix(A))
    for a in (got, ref):
        snmf.tl.nmf(a, 3, beta_loss=beta_loss, max_iter=50)
    assert got.uns["nmf"]["n_iter"] == ref.uns["nmf"]["n_iter"]
    np.testing.assert_array_equal(got.uns["nmf"]["loss"], ref.uns["nmf"]["loss"])
    np.testing.assert_array_equal(got.obsm["X_nmf"], ref.obsm["X_nmf"])


def test_readonly_sparse_is_accepted_without_copying_a_canonical_matrix():
    X = _read_only(sp.csr_matrix(_counts().astype(np.float32)))
    got = canonical_csr(X, np.float32)
    assert got.data is X.data and got.indices is X.indices  # no copy in the common case
    a = _adata(X)
    snmf.tl.nmf(a, 3, beta_loss="kullback-leibler", max_iter=10)
    assert np.isfinite(a.obsm["X_nmf"]).all() and not X.data.flags.writeable


# --- canonical_csr: copy only when needed, never in place --------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_canonical_csr_copies_and_leaves_the_input_alone(kind):
    X = _noncanonical(_counts(), kind)
    before = [a.copy() for a in _arrays(X)]
    got = canonical_csr(X)
    assert got.has_canonical_format and got.data.all()
    assert not np.shares_memory(got.data, X.data)
    for a, b in zip(_arrays(X), before, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(got.toarray(), _counts())


def test_canonical_csr_of_a_canonical_matrix_is_the_same_arrays():
    X = sp.csr_matrix(_counts())
    got = canonical_csr(X, np.float64)
    assert got.data is X.data and got.indices is X.indices and got.indptr is X.indptr


@pytest.mark.parametrize(
    "convert",
    [sp.csr_array, sp.coo_matrix, sp.csc_matrix, lambda A: sp.csr_matrix(A).astype(np.int64)],
    ids=["csr_array", "coo", "csc", "int64_csr"],
)
def test_canonical_csr_of_other_formats_and_dtypes(convert):
    X = convert(_counts())
    got = canonical_csr(X, np.float32)
    assert isinstance(got, sp.csr_matrix) and got.dtype == np.float32
    assert got.has_canonical_format
    np.testing.assert_array_equal(got.toarray(), _counts().astype(np.float32))


# --- dask chunks --------------------------------------------------------------------------------

da = pytest.importorskip("dask.array")


def _lazy(X, rows: int = 10):
    return da.from_array(X, chunks=(rows, X.shape[1]), asarray=False)


@pytest.mark.parametrize("kind", KINDS)
def test_as_block_canonicalises_a_copy_of_the_chunk(kind):
    X = _noncanonical(_counts().astype(np.float32), kind)
    before = [a.copy() for a in _arrays(X)]
    block = as_block(X, np.float32)
    assert block.has_canonical_format and block.data.all()
    for a, b in zip(_arrays(X), before, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("beta_loss", ["frobenius", "kullback-leibler"])
def test_dask_noncanonical_chunks_fit_like_the_canonical_matrix(beta_loss):
    """Duplicates in chunks made a dask Frobenius fit 'converge' after a couple of iterations."""
    A = _counts().astype(np.float32)
    ref = _adata(sp.csr_matrix(A))
    got = _adata(sp.csr_matrix(A))
    got.X = _lazy(_noncanonical(A, "duplicates"))
    for a in (ref, got):
        snmf.tl.nmf(a, 3, beta_loss=beta_loss)
    assert got.uns["nmf"]["params"]["device"] == "dask"
    assert got.uns["nmf"]["n_iter"] == ref.uns["nmf"]["n_iter"] > 5
    np.testing.assert_allclose(got.uns["nmf"]["loss"], ref.uns["nmf"]["loss"], rtol=1e-5)
    np.testing.assert_allclose(got.obsm["X_nmf"], ref.obsm["X_nmf"], rtol=1e-4, atol=1e-6)


def test_dask_explicit_zero_chunks_fit_deep_nmf_like_in_memory():
    A = _counts().astype(np.float32)
    ref = _adata(sp.csr_matrix(A))
    got = _adata(sp.csr_matrix(A))
    got.X = _lazy(_noncanonical(A, "explicit_zeros"))
    for a in (ref, got):
        snmf.tl.deep_nmf(a, (3, 2), n_init_iter=20, max_iter=5)
    assert got.uns["deep_nmf"]["params"]["device"] == "dask"
    np.testing.assert_allclose(got.uns["deep_nmf"]["loss"], ref.uns["deep_nmf"]["loss"], rtol=1e-4)


def test_dask_summary_counts_what_the_fit_sees():
    A = _counts()
    X = _noncanonical(A, "explicit_zeros")
    summary = dask_summary(_lazy(X))
    assert summary["nnz"] == np.count_nonzero(A) < X.nnz
    assert summary["max"] == A.max() and summary["min"] == A[A > 0].min()


def test_dask_chunks_of_stored_zeros_only_are_refused_as_all_zeros():
    Z = np.zeros((N_OBS, N_VARS))
    X = sp.csr_matrix(
        (Z.ravel(), np.tile(np.arange(N_VARS), N_OBS), np.arange(0, Z.size + 1, N_VARS))
    )
    a = _adata(sp.csr_matrix(Z.shape))
    a.X = _lazy(X)
    with pytest.raises(ValueError, match=r"all zeros; there is nothing to factorise"):
        snmf.tl.nmf(a, 2, max_iter=5)
    assert "X_nmf" not in a.obsm and "nmf" not in a.uns


def test_dask_rescales_extreme_magnitudes_like_in_memory():
    A = (_counts() * 1e12).astype(np.float32)
    ref, got = _adata(sp.csr_matrix(A)), _adata(sp.csr_matrix(A))
    got.X = _lazy(sp.csr_matrix(A))
    for a in (ref, got):
        snmf.tl.nmf(a, 3, beta_loss="kullback-leibler", max_iter=30, tol=0)
    assert np.isfinite(got.obsm["X_nmf"]).all()
    np.testing.assert_allclose(got.uns["nmf"]["loss"], ref.uns["nmf"]["loss"], rtol=1e-5)
    np.testing.assert_allclose(got.obsm["X_nmf"], ref.obsm["X_nmf"], rtol=1e-4, atol=1e-2)
