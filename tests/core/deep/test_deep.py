import numpy as np
import pytest
import scipy.sparse as sp

from scnmf._core.deep import fit_deep, minvol, multilayer_nmf
from scnmf._core.deep import updates as du
from scnmf._core.deep.multilayer import DenseTerms

RANKS = (6, 4, 2)


@pytest.fixture(scope="module")
def data():
    """Genes × cells counts (deep-NMF orientation), float64, no empty row or column."""
    rng = np.random.default_rng(3)
    X = rng.poisson(rng.gamma(0.4, 2.0, (60, 1)) * rng.gamma(0.6, 1.0, (1, 90))).astype(float)
    X[:, 0] += 1
    X[0, :] += 1
    return X


def _assert_non_increasing(values, rtol=1e-12):
    values = np.asarray(values)
    rises = np.diff(values) / np.abs(values[:-1])
    assert rises.max() <= rtol, f"objective rose by {rises.max():.3g} (relative)"


@pytest.mark.parametrize("beta,sparse", [(1.0, True), (1.0, False), (1.5, False), (2.0, True)])
def test_algorithm1_objective_never_increases(data, beta, sparse):
    X = sp.csr_matrix(data) if sparse else data
    res = fit_deep(X, RANKS, beta=beta, n_init_iter=20, max_iter=25, tol=0, monitor_blocks=True)
    # after every block update (H_l, then W_l, for every layer), not only every sweep
    assert len(res.block_loss) == 1 + 2 * len(RANKS) * 25
    _assert_non_increasing(res.block_loss)
    _assert_non_increasing(res.loss)
    assert res.loss[-1] < res.loss[0]
    np.testing.assert_allclose(res.loss[0], len(RANKS))  # λ_l = 1 / initial error


def test_algorithm2_objective_never_increases(data):
    res = fit_deep(
        sp.csr_matrix(data),
        RANKS,
        min_volume=True,
        n_init_iter=20,
        max_iter=10,
        tol=0,
        admm_max_iter=50,
        monitor_blocks=True,
    )
    _assert_non_increasing(res.block_loss)
    assert res.loss[-1] < res.loss[0]
    assert res.alphas.min() > 0
    np.testing.assert_allclose(res.loss[0], len(RANKS) * (1 + 0.05))  # α̃ = 0.05 per layer


def test_algorithm1_rows_of_H_sum_to_one(data):
    res = fit_deep(data, RANKS, n_init_iter=10, max_iter=10, tol=0)
    for H in res.H:
        np.testing.assert_allclose(H.sum(axis=1), 1.0, rtol=0, atol=1e-8)
        assert H.min() > 0
    # activities of every layer inherit the constraint
    np.testing.assert_allclose(res.activities(3).sum(axis=1), 1.0, rtol=0, atol=1e-8)


def test_algorithm2_columns_of_W_sum_to_one(data):
    res = fit_deep(data, RANKS, min_volume=True, n_init_iter=10, max_iter=5, admm_max_iter=20)
    for W in res.W:
        np.testing.assert_allclose(W.sum(axis=0), 1.0, rtol=0, atol=1e-8)
        assert W.min() > 0


def test_wrightomega_equals_lambertw_closed_form():
    rng = np.random.default_rng(0)
    W = rng.uniform(0.1, 2.0, (30, 5))
    C = rng.uniform(0.1, 3.0, (30, 5))
    W_bar = rng.uniform(0.1, 2.0, (30, 5))
    h = np.ones(5)
    for lam in (0.3, 1.0, 4.0):
        ours = du.kl_w_update(W, C, h, W_bar, lam)
        closed = du.kl_w_update_lambertw(W, C, h, W_bar, lam)
        assert np.isfinite(closed).all()
        np.testing.assert_allclose(ours, closed, rtol=1e-10)
    # where e^{A/λ} overflows, the LambertW form breaks down but Wright omega does not
    tiny_bar, lam = np.full_like(W_bar, 1e-300), 0.01  # A/λ ≈ 790 > log(max float) ≈ 709
    with np.errstate(over="ignore", invalid="ignore"):
        broken = du.kl_w_update_lambertw(W, C, h, tiny_bar, lam)
    fine = du.kl_w_update(W, C, h, tiny_bar, lam)
    assert np.all(broken == du.FLOOR)  # e^{A/λ} = inf collapses every entry to the floor
    grad = h[None, :] - W * C / fine + lam * np.log(fine / tiny_bar)
    np.testing.assert_allclose(grad, 0.0, atol=1e-8)
    assert fine.min() > 10 * du.FLOOR


def test_w_step_solves_stationarity():
    """The Wright-omega step zeroes the majoriser's gradient h − B/W + λ log(W/W̄)."""
    rng = np.random.default_rng(1)
    W, C, W_bar = (rng.uniform(0.1, 2.0, (20, 4)) for _ in range(3))
    h, lam = rng.uniform(0.5, 2.0, 4), 0.7
    new = du.kl_w_update(W, C, h, W_bar, lam)
    grad = h[None, :] - W * C / new + lam * np.log(new / W_bar)
    np.testing.assert_allclose(grad, 0.0, atol=1e-10)


def test_kl_newton_matches_closed_form():
    rng = np.random.default_rng(2)
    H = rng.dirichlet(np.ones(40), size=5)
    C = rng.uniform(0.1, 2.0, (5, 40))
    D = np.broadcast_to(rng.uniform(1.0, 3.0, (5, 1)), (5, 40))
    newton = du.row_simplex_step(H, C, D, 1.0, closed_form=False)
    closed = du.row_simplex_step(H, C, D, 1.0, closed_form=True)
    np.testing.assert_allclose(newton, closed, rtol=0, atol=1e-12)


@pytest.mark.parametrize("beta", [1.0, 1.5, 2.0])
def test_row_multipliers_meet_the_constraint(beta):
    rng = np.random.default_rng(4)
    H = rng.dirichlet(np.ones(30), size=4)
    C = rng.uniform(0.0, 2.0, (4, 30))
    D = rng.uniform(0.5, 3.0, (4, 30))  # varies along rows: Newton, no closed form
    mu = du.row_multipliers(H, C, D, beta)
    r = du.stationary_ratio(C, D, mu, beta)[0]
    np.testing.assert_allclose((H * r).sum(axis=1), 1.0, atol=1e-10)


def test_minvol_solve_is_feasible_and_optimal():
    rng = np.random.default_rng(5)
    W = rng.dirichlet(np.ones(25), size=3).T  # columns sum to one
    C = rng.uniform(0.5, 2.0, W.shape)
    major = minvol.MinVolMajoriser(W, C, np.ones(3), a=0.5, delta=1.0)
    best = major.solve()
    np.testing.assert_allclose(best.sum(axis=0), 1.0, atol=1e-12)
    for _ in range(20):  # no feasible point nearby does better
        other = best * rng.uniform(0.95, 1.05, best.shape)
        other /= other.sum(axis=0)
        assert major.value(best) <= major.value(other) + 1e-12


def test_sparse_equals_dense(data):
    a = fit_deep(sp.csr_matrix(data), RANKS, n_init_iter=15, max_iter=15, tol=0)
    b = fit_deep(data, RANKS, n_init_iter=15, max_iter=15, tol=0)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-10)
    for x, y in zip(a.W + a.H, b.W + b.H, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-8, atol=1e-12)


def test_float32_sparse_input_runs(data):
    res = fit_deep(sp.csr_matrix(data.astype(np.float32)), RANKS, n_init_iter=10, max_iter=5)
    assert all(W.dtype == np.float64 for W in res.W)
    assert np.isfinite(res.loss).all()


def test_same_seed_identical_other_seed_differs(data):
    a = fit_deep(data, RANKS, n_init_iter=10, max_iter=10, random_state=7)
    b = fit_deep(data, RANKS, n_init_iter=10, max_iter=10, random_state=7)
    c = fit_deep(data, RANKS, n_init_iter=10, max_iter=10, random_state=8)
    for x, y in zip(a.W + a.H, b.W + b.H, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(a.W[0], c.W[0])


def test_tol_zero_runs_all_sweeps_and_histories_align(data):
    res = fit_deep(data, RANKS, n_init_iter=5, max_iter=12, tol=0)
    assert res.n_iter == 12 and not res.converged
    assert res.loss.shape == (13,) and res.layer_loss.shape == (13, 3)
    np.testing.assert_allclose(res.layer_loss @ res.lambdas, res.loss)
    np.testing.assert_allclose(res.layer_loss[-1], res.errors)
    # recorded errors are the true errors of the returned factors
    np.testing.assert_allclose(
        res.errors[1], DenseTerms(res.W[0], 1.0).error(res.W[1], res.H[1]), rtol=1e-10
    )


def test_tol_stops_early(data):
    res = fit_deep(data, RANKS, n_init_iter=5, max_iter=500, tol=1e-2)
    assert res.converged and res.n_iter < 500


def test_baseline_equals_fresh_multilayer_run(data):
    res = fit_deep(data, RANKS, n_init_iter=8, max_iter=7, tol=0, baseline=True)
    fresh = multilayer_nmf(data, RANKS, n_iter=15)
    np.testing.assert_allclose(res.multilayer_errors, fresh.errors, rtol=1e-9)


def test_deep_trades_layer1_for_deeper_layers(data):
    """The paper's pattern: a little worse at layer 1, much better deeper down."""
    res = fit_deep(data, RANKS, n_init_iter=50, max_iter=50, baseline=True)
    ratio = res.errors / res.multilayer_errors
    assert ratio[0] >= 0.99
    assert ratio[1] < 0.9 and ratio[2] < 0.9
