"""Agreement between a clustering and known labels: ARI, NMI, purity, ACC (Hungarian)."""

from __future__ import annotations

import numpy as np


def contingency(labels_true: np.ndarray, labels_pred: np.ndarray) -> np.ndarray:
    """Counts of (true class, predicted cluster) pairs."""
    _, true_idx = np.unique(np.asarray(labels_true), return_inverse=True)
    _, pred_idx = np.unique(np.asarray(labels_pred), return_inverse=True)
    table = np.zeros((true_idx.max() + 1, pred_idx.max() + 1), dtype=np.int64)
    np.add.at(table, (true_idx, pred_idx), 1)
    return table


def purity(labels_true: np.ndarray, labels_pred: np.ndarray) -> float:
    """Fraction of cells whose cluster's majority class is their own class."""
    table = contingency(labels_true, labels_pred)
    return float(table.max(axis=0).sum() / table.sum())


def accuracy(labels_true: np.ndarray, labels_pred: np.ndarray) -> float:
    """Accuracy after the best one-to-one matching of clusters to classes (Hungarian)."""
    from scipy.optimize import linear_sum_assignment

    table = contingency(labels_true, labels_pred)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / table.sum())


def agreement(labels_true: np.ndarray, labels_pred: np.ndarray) -> dict[str, float]:
    """ARI, NMI, purity and ACC of a clustering against known labels."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return {
        "ARI": float(adjusted_rand_score(labels_true, labels_pred)),
        "NMI": float(normalized_mutual_info_score(labels_true, labels_pred)),
        "purity": purity(labels_true, labels_pred),
        "ACC": accuracy(labels_true, labels_pred),
    }


def kmeans_agreement(
    embedding: np.ndarray,
    labels_true: np.ndarray,
    *,
    n_clusters: int | None = None,
    seeds: tuple[int, ...] = (0,),
    n_init: int = 10,
) -> dict[str, float]:
    """The project's evaluation protocol: KMeans on an embedding, scored against labels.

    KMeans with the true number of classes (unless ``n_clusters``), ``n_init=10``; scores are
    averaged over the KMeans ``seeds`` (single-seed scores move by a few hundredths).

    Returns
    -------
    dict
        Mean ``ARI``, ``NMI``, ``purity``, ``ACC`` and the standard deviation ``ARI_sd``.
    """
    from sklearn.cluster import KMeans

    labels_true = np.asarray(labels_true)
    k = n_clusters or len(np.unique(labels_true))
    runs = []
    for seed in seeds:
        predicted = KMeans(k, n_init=n_init, random_state=seed).fit_predict(embedding)
        runs.append(agreement(labels_true, predicted))
    out = {name: float(np.mean([r[name] for r in runs])) for name in runs[0]}
    out["ARI_sd"] = float(np.std([r["ARI"] for r in runs]))
    return out
