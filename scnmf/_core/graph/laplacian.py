"""Weighted cell graphs from edge lists: heat-kernel ε-graphs, kNN graphs, degrees, Laplacians."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .distances import knn_edges
from .mst import EdgeList, _sorted_edges


def heat_weights(dists: np.ndarray, eps: float) -> np.ndarray:
    """Edge weights ``exp(−d² / ε^1.5)`` (the reference's kernel)."""
    return np.exp(-(dists**2) / eps**1.5)


def epsilon_graph(edges: EdgeList, eps: float) -> sp.csr_matrix:
    """Symmetric weighted adjacency of the ε-graph: edge iff ``d < ε``, no self-loops."""
    m = int(np.searchsorted(edges.dists, eps, side="left"))
    r, c = edges.rows[:m], edges.cols[:m]
    w = heat_weights(edges.dists[:m], eps)
    A = sp.coo_matrix(
        (np.concatenate([w, w]), (np.concatenate([r, c]), np.concatenate([c, r]))),
        shape=(edges.n, edges.n),
    ).tocsr()
    A.sum_duplicates()
    return A


def degrees(A: sp.spmatrix) -> np.ndarray:
    """Weighted degree vector of a symmetric adjacency."""
    return np.asarray(A.sum(axis=1), dtype=np.float64).ravel()


def laplacian(A: sp.spmatrix) -> sp.csr_matrix:
    """Unnormalised Laplacian ``L = D − A`` (sparse)."""
    return (sp.diags(degrees(A)) - A).tocsr()


def knn_graph(X, n_neighbors: int = 5, *, weight: str = "heat", random_state: int | None = 0):
    """Symmetric kNN adjacency for GNMF (Cai et al. 2011).

    Parameters
    ----------
    X
        n × p data, rows are cells.
    n_neighbors
        Neighbours per cell; an edge is kept when either end lists the other.
    weight
        ``'heat'``: ``exp(−d² / σ²)`` with σ the mean kNN distance; ``'binary'``: 1.
    random_state
        Seed for approximate neighbour search (large n).

    Returns
    -------
    scipy.sparse.csr_matrix
        n × n symmetric adjacency, zero diagonal.
    """
    n = X.shape[0]
    r, c, d = knn_edges(X, n_neighbors, random_state=random_state)
    edges = _sorted_edges(n, r, c, d, exact=False)
    if weight == "binary":
        w = np.ones(edges.n_edges)
    elif weight == "heat":
        sigma2 = float(np.mean(edges.dists**2)) or 1.0
        w = np.exp(-(edges.dists**2) / sigma2)
    else:
        raise ValueError(f"Unknown weight {weight!r}; use 'heat' or 'binary'.")
    A = sp.coo_matrix(
        (
            np.concatenate([w, w]),
            (np.concatenate([edges.rows, edges.cols]), np.concatenate([edges.cols, edges.rows])),
        ),
        shape=(n, n),
    ).tocsr()
    return A
