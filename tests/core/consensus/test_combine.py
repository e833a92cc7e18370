import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from scnmf._core.consensus import combine
from scnmf._core.consensus.combine import (
    MAX_CLUSTERGRAM,
    cluster_programs,
    local_density,
    replicate_set,
    unit_rows,
)
from scnmf._core.consensus.refit import (
    gene_scores,
    normalise_usage,
    reconstruction_error,
    refit_usage,
)
from scnmf._core.consensus.result import ReplicateSet


def _truth(k=3, m=40, seed=0):
    """k nonnegative programs on mostly disjoint genes (far apart once unit-normed)."""
    rng = np.random.default_rng(seed)
    S = rng.gamma(1.0, 1.0, (k, m)) * (rng.random((k, m)) < 0.15)
    for c in range(k):  # each program owns a block of genes
        S[c, c * (m // k) : (c + 1) * (m // k)] += rng.gamma(2.0, 1.0, m // k)
    return S


def _replicates(n_replicates=20, k=3, m=40, noise=0.02, n_outliers=0, seed=0):
    """Replicate-major programs: each replicate a noisy copy of the truth, some replaced by
    random programs (outliers). Returns (programs N × m, true label of each, outlier index)."""
    rng = np.random.default_rng(seed + 1)
    S = _truth(k, m, seed)
    programs = np.vstack([S * rng.lognormal(0, noise, S.shape) for _ in range(n_replicates)])
    truth = np.tile(np.arange(k), n_replicates)
    outliers = rng.choice(programs.shape[0], n_outliers, replace=False)
    for i in outliers:  # sparse random support: far from every cluster
        programs[i] = rng.gamma(1.0, 1.0, m) * (rng.random(m) < 0.3)
    return programs, truth, np.sort(outliers)


def _cosine(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return a @ b.T


# --- unit_rows / local_density ---------------------------------------------------------------


def test_unit_rows_norms_zero_row_and_copy():
    rng = np.random.default_rng(0)
    spectra = rng.random((6, 9)).astype(np.float32)
    spectra[2] = 0
    before = spectra.copy()
    unit = unit_rows(spectra)
    assert unit.dtype == np.float64
    norms = np.linalg.norm(unit, axis=1)
    np.testing.assert_allclose(np.delete(norms, 2), 1.0, rtol=1e-12)
    assert norms[2] == 0 and np.isfinite(unit).all()
    np.testing.assert_array_equal(spectra, before)
    np.testing.assert_allclose(unit * np.linalg.norm(spectra, axis=1, keepdims=True), spectra)


def _brute_density(unit, n_neighbors):
    dist = cdist(unit, unit)
    np.fill_diagonal(dist, np.inf)
    return np.sort(dist, axis=1)[:, :n_neighbors].mean(axis=1)


@pytest.mark.parametrize("block_entries", [1, 7 * 57, 1 << 22])
def test_local_density_equals_brute_force(block_entries):
    rng = np.random.default_rng(1)
    unit = unit_rows(rng.random((57, 12)) ** 3)
    unit[5] = 0  # a zero row: at distance |b| from b, not √2
    unit[9] = unit[3]  # a duplicate: its neighbour at distance 0
    got = local_density(unit, n_replicates=19, neighborhood_size=0.3, block_entries=block_entries)
    np.testing.assert_allclose(got, _brute_density(unit, int(0.3 * 19)), atol=1e-7)


def test_local_density_neighbourhood_at_least_one_and_at_most_n_minus_1():
    rng = np.random.default_rng(2)
    unit = unit_rows(rng.random((8, 5)))
    np.testing.assert_allclose(local_density(unit, 2, 0.3), _brute_density(unit, 1), atol=1e-7)
    np.testing.assert_allclose(local_density(unit, 50, 1.0), _brute_density(unit, 7), atol=1e-7)
    np.testing.assert_array_equal(local_density(unit[:1], 1, 0.3), [0.0])


def test_planted_outliers_have_the_largest_density_and_are_dropped():
    programs, _, outliers = _replicates(n_replicates=20, n_outliers=4)
    density = local_density(unit_rows(programs), 20, 0.3)
    assert set(np.argsort(density)[-4:]) == set(outliers)
    kept = density < 0.5
    np.testing.assert_array_equal(np.flatnonzero(~kept), outliers)


# --- cluster_programs ------------------------------------------------------------------------


def test_cluster_programs_recovers_planted_programs_and_is_deterministic():
    programs, truth, _ = _replicates(n_replicates=15, k=4)
    unit = unit_rows(programs)
    labels, medians, silhouette = cluster_programs(unit, 4)
    assert labels.shape == (60,) and set(labels) == {0, 1, 2, 3}
    # Each true program lands in one cluster.
    assert all(np.unique(labels[truth == c]).size == 1 for c in range(4))
    np.testing.assert_allclose(medians.sum(axis=1), 1.0, rtol=1e-12)
    cos = _cosine(medians, _truth(4, 40))
    rows, cols = linear_sum_assignment(-cos)
    assert cos[rows, cols].min() >= 0.99
    assert silhouette > 0.8
    again = cluster_programs(unit, 4)
    np.testing.assert_array_equal(again[0], labels)
    np.testing.assert_array_equal(again[1], medians)
    assert again[2] == silhouette


def test_cluster_programs_zero_median_stays_zero():
    unit = np.eye(3, 5)  # disjoint supports: the elementwise median is all zero
    labels, medians, silhouette = cluster_programs(unit, 1)
    np.testing.assert_array_equal(labels, 0)
    np.testing.assert_array_equal(medians, 0.0)
    assert silhouette == 0.0


def test_cluster_programs_silhouette_undefined_and_too_few_programs():
    unit = unit_rows(np.random.default_rng(3).random((3, 6)))
    assert cluster_programs(unit, 3)[2] == 0.0  # N = k
    with pytest.raises(ValueError, match="density_threshold"):
        cluster_programs(unit, 4)


def test_cluster_programs_silhouette_sample(monkeypatch):
    from sklearn.metrics import silhouette_score

    programs, truth, _ = _replicates(n_replicates=40, k=3, noise=0.3)
    unit = unit_rows(programs)
    full = silhouette_score(unit, cluster_programs(unit, 3)[0])
    monkeypatch.setattr(combine, "SILHOUETTE_SAMPLE", 60)
    sampled = cluster_programs(unit, 3)[2]
    assert sampled != full and abs(sampled - full) < 0.1
    assert cluster_programs(unit, 3)[2] == sampled  # the sample is fixed


# --- replicate_set ---------------------------------------------------------------------------


def _replicate_record(n_replicates=12, k=3, n_outliers=3):
    programs, _, _ = _replicates(n_replicates=n_replicates, k=k, n_outliers=n_outliers)
    unit = unit_rows(programs)
    density = local_density(unit, n_replicates, 0.3)
    kept = density < 0.5
    labels = np.full(unit.shape[0], -1)
    labels[kept] = cluster_programs(unit[kept], k)[0]
    return unit, density, kept, labels


def _check_order(record: ReplicateSet, kept, labels, density):
    N = kept.size
    order = record.order
    np.testing.assert_array_equal(np.sort(order), np.arange(N))
    head, tail = order[: kept.sum()], order[kept.sum() :]
    assert kept[head].all() and not kept[tail].any()
    assert np.all(np.diff(labels[head]) >= 0)  # grouped by label 0 … k − 1
    assert np.all(np.diff(density[tail]) >= 0)


def test_replicate_set_order_and_correlation():
    unit, density, kept, labels = _replicate_record()
    unit[np.flatnonzero(kept)[0]] = 1 / np.sqrt(unit.shape[1])  # a constant program
    record = replicate_set(unit, density, kept, labels)
    _check_order(record, kept, labels, density)
    assert (~kept).sum() == 3
    np.testing.assert_array_equal(record.correlation_index, record.order)
    corr = record.correlation
    assert corr.dtype == np.float32 and corr.shape == (36, 36)
    assert np.isfinite(corr).all()
    np.testing.assert_array_equal(corr, corr.T)
    np.testing.assert_array_equal(np.diag(corr), 1.0)
    i, j = 5, 20
    a, b = record.order[i], record.order[j]
    np.testing.assert_allclose(corr[i, j], np.corrcoef(unit[a], unit[b])[0, 1], rtol=1e-6)
    np.testing.assert_array_equal(record.labels, labels)
    np.testing.assert_array_equal(record.kept, kept)


def test_replicate_set_linkage_keeps_subclusters_together():
    rng = np.random.default_rng(4)
    centres = unit_rows(rng.random((2, 30)) ** 4)
    members = np.vstack([centres[i % 2] + 0.01 * rng.random(30) for i in range(10)])
    unit = unit_rows(members)  # one label, two interleaved sub-clusters
    record = replicate_set(unit, np.zeros(10), np.ones(10, bool), np.zeros(10, int))
    side = record.order % 2
    assert np.count_nonzero(np.diff(side)) == 1


@pytest.mark.parametrize("max_linkage", [3, combine.MAX_LINKAGE])
def test_replicate_set_thinned_to_max_clustergram(monkeypatch, max_linkage):
    assert MAX_CLUSTERGRAM == 1000
    monkeypatch.setattr(combine, "MAX_CLUSTERGRAM", 10)
    monkeypatch.setattr(combine, "MAX_LINKAGE", max_linkage)
    unit, density, kept, labels = _replicate_record(n_replicates=20)
    record = replicate_set(unit, density, kept, labels)
    _check_order(record, kept, labels, density)
    index = record.correlation_index
    assert index.size == 10 and np.unique(index).size == 10
    positions = np.argsort(record.order)[index]  # where each one sits along the order
    assert np.all(np.diff(positions) > 0)
    assert positions[0] == 0 and positions[-1] == kept.size - 1
    assert record.correlation.shape == (10, 10)


# --- refit_usage / normalise_usage -----------------------------------------------------------


def _planted_data(n=90, m=40, k=3, seed=5):
    rng = np.random.default_rng(seed)
    S = _truth(k, m, seed)
    S /= S.sum(axis=1, keepdims=True)
    U = rng.gamma(1.0, 3.0, (n, k))
    return U, S, U @ S


def _as(kind, X, rows=25):
    if kind == "dense":
        return X
    if kind == "csr":
        return sp.csr_matrix(X)
    da = pytest.importorskip("dask.array")
    block = sp.csr_matrix(X) if kind == "dask_csr" else X
    return da.from_array(block, chunks=(rows, X.shape[1]), asarray=False)


@pytest.mark.parametrize("kind", ["dense", "csr", "dask", "dask_csr"])
@pytest.mark.parametrize("beta", [2.0, 1.0])
def test_refit_usage_recovers_planted_usage(kind, beta):
    U, S, X = _planted_data()
    Xk = _as(kind, X)
    got = refit_usage(Xk, S, beta=beta, solver="auto", max_iter=1000, tol=1e-6, device="cpu")
    assert got.dtype == np.float64 and got.shape == U.shape and (got >= 0).all()
    assert np.linalg.norm(got - U) / np.linalg.norm(U) < 1e-2
    if kind == "dense":
        np.testing.assert_array_equal(X, U @ S)  # the caller's data untouched


def test_refit_usage_mu_at_beta_2_and_torch():
    U, S, X = _planted_data()
    got = refit_usage(X, S, beta=2.0, solver="mu", max_iter=1000, tol=1e-8, device="cpu")
    assert np.linalg.norm(got - U) / np.linalg.norm(U) < 1e-2
    pytest.importorskip("torch")
    from scnmf._core._backends.select import Backend

    for solver in ("hals", "mu"):
        got = refit_usage(
            X, S, beta=2.0, solver=solver, max_iter=1000, tol=1e-6, device=Backend("torch", "cpu")
        )
        assert np.linalg.norm(got - U) / np.linalg.norm(U) < 1e-2


@pytest.mark.parametrize(
    ("solver", "beta", "expected"),
    [("auto", 2.0, "hals"), ("auto", 1.0, "mu"), ("agd", 2.0, "hals"), ("mu", 2.0, "mu")],
)
def test_refit_usage_solver_choice(monkeypatch, solver, beta, expected):
    from scnmf._core.nmf import fixed as refit  # refit_usage runs fit_activities there

    calls = []
    real = refit.run_solver

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(refit, "run_solver", spy)
    U, S, X = _planted_data()
    refit_usage(X, S, beta=beta, solver=solver, max_iter=5, tol=0, device="cpu")
    assert calls[0]["solver"] == expected and calls[0]["update_H"] is False


def test_normalise_usage():
    usage = np.array([[1.0, 3.0], [0.0, 0.0], [2.0, 0.0]])
    got = normalise_usage(usage)
    np.testing.assert_array_equal(got, [[0.25, 0.75], [0, 0], [1, 0]])
    assert usage[0, 0] == 1.0


# --- gene_scores -----------------------------------------------------------------------------


def _reference_scores(X, U):
    mean, std = X.mean(axis=0), X.std(axis=0)
    Z = np.zeros_like(X)
    varying = std >= 1e-6
    Z[:, varying] = (X[:, varying] - mean[varying]) / std[varying]
    return np.linalg.lstsq(U, Z, rcond=None)[0]


def _score_data(seed=6):
    rng = np.random.default_rng(seed)
    n, m = 70, 25
    X = rng.poisson(rng.gamma(0.5, 2.0, (n, m))).astype(np.float64)
    X[:, 3] = 2.5  # constant: σ = 0
    X[:, 7] = 0.0  # empty
    X[:, 11] = 0.0
    X[4, 11] = 1e3  # one huge value: the centred sums must not cancel
    U = normalise_usage(rng.gamma(1.0, 1.0, (n, 4)))
    return X, U


@pytest.mark.parametrize("kind", ["dense", "csr", "dask", "dask_csr"])
def test_gene_scores_equal_dense_reference(kind, monkeypatch):
    X, U = _score_data()
    ref = _reference_scores(X, U)
    Xk = _as(kind, X, rows=16)

    def densified(*args, **kwargs):
        raise AssertionError("densified the score matrix")

    monkeypatch.setattr(sp.csr_matrix, "toarray", densified)
    monkeypatch.setattr(sp.csr_matrix, "todense", densified)
    got = gene_scores(Xk, U)
    assert got.shape == (4, 25) and np.isfinite(got).all()
    np.testing.assert_array_equal(got[:, [3, 7]], 0.0)
    np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-8)


def test_gene_scores_dense_blocks(monkeypatch):
    from scnmf._core.consensus import refit
    from scnmf._core.nmf.beta import row_blocks

    X, U = _score_data()
    ref = _reference_scores(X, U)
    monkeypatch.setattr(refit, "row_blocks", lambda n, m: row_blocks(n, m, 7 * m))
    np.testing.assert_allclose(gene_scores(X, U), ref, rtol=1e-8, atol=1e-8)


# --- reconstruction_error --------------------------------------------------------------------


def _kl(X, Y):
    Y = np.maximum(Y, np.finfo(np.float32).eps)
    pos = X > 0
    return np.sum(X[pos] * np.log(X[pos] / Y[pos])) - X.sum() + Y.sum()


@pytest.mark.parametrize("kind", ["dense", "csr", "dask", "dask_csr"])
def test_reconstruction_error_matches_numpy(kind):
    U, S, X = _planted_data()
    rng = np.random.default_rng(7)
    X = rng.poisson(X).astype(np.float64)
    Xk = _as(kind, X)
    fro = np.sum((X - U @ S) ** 2)
    np.testing.assert_allclose(reconstruction_error(Xk, U, S, 2.0), fro, rtol=1e-10)
    np.testing.assert_allclose(reconstruction_error(Xk, U, S, 1.0), _kl(X, U @ S), rtol=1e-10)
    X15, Y = X, U @ S
    d15 = np.sum(X15**1.5 + 0.5 * Y**1.5 - 1.5 * X15 * Y**0.5) / 0.75
    np.testing.assert_allclose(reconstruction_error(Xk, U, S, 1.5), d15, rtol=1e-10)


def test_dask_paths_on_a_distributed_client(client):
    U, S, X = _planted_data()
    Xk = _as("dask_csr", X)
    got = refit_usage(Xk, S, beta=2.0, solver="auto", max_iter=1000, tol=1e-6, device="cpu")
    assert np.linalg.norm(got - U) / np.linalg.norm(U) < 1e-2
    Un = normalise_usage(got)
    np.testing.assert_allclose(gene_scores(Xk, Un), _reference_scores(X, Un), atol=1e-8)
    np.testing.assert_allclose(reconstruction_error(Xk, U, S, 2.0), 0.0, atol=1e-8)
