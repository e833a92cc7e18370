"""Label-free choice of the pNMF scale to report: the most stable one.

The reference reports the finest scale, and its best scale is chosen with the labels. A
scale whose clustering barely changes when the scale moves one step either way sits on a
plateau of the multi-scale structure; we report that one. Clusterings are compared with
the adjusted Rand index, so the rule needs no labels, only a number of clusters.
"""

from __future__ import annotations

import numpy as np


def scale_clusterings(
    embeddings: np.ndarray, n_clusters: int, random_state: int | None = 0
) -> np.ndarray:
    """KMeans labels of each scale's embedding (``embeddings``: n × T × k) → T × n."""
    from sklearn.cluster import KMeans

    n, T, _ = embeddings.shape
    labels = np.empty((T, n), dtype=np.int64)
    for t in range(T):
        km = KMeans(min(n_clusters, n), n_init=10, random_state=random_state)
        labels[t] = km.fit_predict(embeddings[:, t])
    return labels


def neighbour_stability(labels: np.ndarray) -> np.ndarray:
    """Mean ARI of each scale's clustering with those of the adjacent scales (T,)."""
    from sklearn.metrics import adjusted_rand_score

    T = labels.shape[0]
    if T == 1:
        return np.ones(1)
    step = np.array([adjusted_rand_score(labels[t], labels[t + 1]) for t in range(T - 1)])
    stability = np.empty(T)
    stability[0] = step[0]
    stability[-1] = step[-1]
    if T > 2:
        stability[1:-1] = (step[:-1] + step[1:]) / 2
    return stability


def stable_scale(
    embeddings: np.ndarray,
    n_clusters: int,
    *,
    exclude_coarsest: bool = True,
    random_state: int | None = 0,
) -> tuple[int, np.ndarray]:
    """The scale whose clustering agrees best with its neighbouring scales.

    Parameters
    ----------
    embeddings
        n × T × k cell embeddings, t = 0 finest.
    n_clusters
        Clusters per scale (KMeans, ``n_init=10``).
    exclude_coarsest
        Skip the coarsest scale (its graph is complete, the embedding collapses toward a
        point, and a collapsed clustering can be trivially stable).
    random_state
        KMeans seed.

    Returns
    -------
    tuple
        The chosen scale's index (ties go to the finer scale) and the stability of every
        scale (T,).
    """
    T = embeddings.shape[1]
    stability = neighbour_stability(scale_clusterings(embeddings, n_clusters, random_state))
    candidates = stability[:-1] if exclude_coarsest and T > 1 else stability
    return int(np.argmax(candidates)), stability
