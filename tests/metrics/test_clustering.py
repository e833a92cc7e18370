import numpy as np
import pytest

from scnmf.metrics import accuracy, agreement, kmeans_agreement, purity


def test_perfect_and_permuted_labels_score_one():
    truth = np.array(["a", "a", "b", "b", "c"])
    pred = np.array([2, 2, 0, 0, 1])
    scores = agreement(truth, pred)
    assert scores == pytest.approx({"ARI": 1.0, "NMI": 1.0, "purity": 1.0, "ACC": 1.0})


def test_accuracy_uses_one_to_one_matching():
    truth = np.array([0, 0, 0, 1, 1, 1])
    pred = np.array([0, 0, 0, 0, 0, 0])
    assert purity(truth, pred) == pytest.approx(0.5)
    assert accuracy(truth, pred) == pytest.approx(0.5)
    pred = np.array([0, 0, 1, 1, 1, 2])
    assert accuracy(truth, pred) == pytest.approx(4 / 6)


def test_kmeans_agreement_on_separated_blobs():
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [10, 0], [0, 10]])
    labels = np.repeat([0, 1, 2], 30)
    emb = centers[labels] + rng.normal(size=(90, 2))
    scores = kmeans_agreement(emb, labels, seeds=(0, 1))
    assert scores["ARI"] > 0.95 and scores["ACC"] > 0.95
