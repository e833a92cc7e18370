import numpy as np

from scnmf._core.pnmf.scale_choice import neighbour_stability, stable_scale


def test_neighbour_stability_is_mean_ari_with_adjacent_scales():
    a = np.repeat([0, 1, 2], 10)
    b = np.roll(a, 5)  # differs from a
    labels = np.stack([b, a, a, a, b])
    stability = neighbour_stability(labels)
    assert stability[2] == 1.0  # both neighbours identical
    assert stability[1] < 1.0 and stability[3] < 1.0
    from sklearn.metrics import adjusted_rand_score

    step = adjusted_rand_score(b, a)
    assert stability[0] == stability[-1] == step  # ends use their single neighbour
    assert np.isclose(stability[1], (step + 1.0) / 2)


def test_stable_scale_picks_the_plateau_and_skips_the_coarsest():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 2)) * 10
    truth = np.repeat(np.arange(3), 20)
    clustered = centres[truth] + rng.normal(scale=0.1, size=(60, 2))
    noise = [rng.normal(size=(60, 2)) for _ in range(2)]
    collapsed = np.zeros((60, 2)) + rng.normal(scale=1e-9, size=(60, 2))
    # scales: noise, plateau ×3, noise, collapsed, collapsed (coarsest)
    emb = np.stack(
        [noise[0], clustered, clustered, clustered, noise[1], collapsed, collapsed], axis=1
    )
    t, stability = stable_scale(emb, 3)
    assert t == 2
    assert stability.shape == (7,)
